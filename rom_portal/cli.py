"""The ``rom-portal`` command."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any, NoReturn

import click
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlmodel import select

from rom_portal import __version__
from rom_portal.cli_erasure import erasures, retention
from rom_portal.cli_questionnaires import questionnaires, score
from rom_portal.cli_research import research
from rom_portal.db import Database, DatabaseError
from rom_portal.schema import SchemaState, migrate, schema_status
from rom_portal.settings import Settings, SettingsError, load_settings, sqlite_path


class CliError(click.ClickException):
    """One clear line on stderr and exit 1."""

    def format_message(self) -> str:
        return self.message

    def show(self, file: Any = None) -> None:
        click.echo(f"rom-portal: {self.format_message()}", err=True)


def describe_db_error(exc: BaseException) -> str:
    """The first line of what the driver said, without SQL or parameters."""
    original = getattr(exc, "orig", None) or exc
    first = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    return first


class PortalGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, KeyboardInterrupt):
            raise
        except SettingsError as exc:
            raise CliError(f"configuration: {exc}") from None
        except (DBAPIError, SQLAlchemyError, DatabaseError) as exc:
            raise CliError(f"database: {describe_db_error(exc)}") from None
        except OSError as exc:
            raise CliError(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None


@click.group(cls=PortalGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rom-portal")
def main() -> None:
    """rom-portal: a self-hosted questionnaire and ROM portal.

    Settings come from ROM_PORTAL_* environment variables (see README.md).
    """


def _open_database(settings: Settings) -> Database:
    db_file = sqlite_path(settings.database_url)
    if db_file is not None and not db_file.parent.exists():
        raise CliError(f"database: folder {db_file.parent} does not exist")
    return Database(settings.database_url, threads=2)


def _require_current_schema(database: Database) -> None:
    status = schema_status(database.engine)
    if status.state is not SchemaState.current:
        raise CliError(status.message)


def _refuse_demo_database(database: Database) -> None:
    from rom_portal.demo import is_demo_database

    with database.session() as session:
        if is_demo_database(session):
            raise CliError(
                "this is a demo database (demo accounts have known passwords): use `rom-portal demo` with it"
            )


def _run_uvicorn(app: Any, host: str, port: int, workers: int, settings: Settings) -> None:
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        server_header=False,
        # Access logs would hold full client addresses; we keep errors only.
        access_log=False,
        log_level=settings.log_level,
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
def serve(host: str, port: int, workers: int) -> None:
    """Serve the portal with uvicorn (put a TLS reverse proxy in front)."""
    settings = load_settings()  # also creates the secret file once, before any worker starts
    database = _open_database(settings)
    try:
        _require_current_schema(database)
        _refuse_demo_database(database)
    finally:
        database.dispose()
    if workers == 1:
        from rom_portal.app import create_app

        _run_uvicorn(create_app(settings), host, port, 1, settings)
    else:
        _run_uvicorn("rom_portal.asgi:app", host, port, workers, settings)


@main.command("migrate")
def migrate_command() -> None:
    """Create or upgrade the database tables to this version."""
    settings = load_settings()
    database = _open_database(settings)
    try:
        before = schema_status(database.engine)
        if before.state is SchemaState.unknown:
            raise CliError(before.message)
        migrate(database.engine)
        click.echo(schema_status(database.engine).message)
    finally:
        database.dispose()


def _read_password(username: str) -> str:
    from rom_portal.security.passwords import password_problem

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt="Repeat password")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    problem = password_problem(password, username=username)
    if problem:
        raise CliError(f"password refused: {problem}")
    return password


@main.command("create-user")
@click.option(
    "--role", required=True, type=click.Choice(["admin", "therapist", "researcher"]), help="The account's role."
)
@click.argument("username")
def create_user(role: str, username: str) -> None:
    """Create a staff account. The password is asked for, or read from standard input (never an argument)."""
    from rom_portal.models import Role, User
    from rom_portal.security.passwords import hash_password
    from rom_portal.services.accounts import valid_username
    from rom_portal.services.audit import Actor, record

    username = username.strip().lower()
    if not valid_username(username):
        raise CliError("username: use 3 to 64 characters: letters a-z, digits, dot, dash or underscore")
    settings = load_settings()
    database = _open_database(settings)
    try:
        _require_current_schema(database)
        with database.session() as session:
            if session.exec(select(User).where(User.username == username)).first() is not None:
                raise CliError(f"username {username!r} is already taken")
        password_hash = hash_password(_read_password(username))
        with database.session(write=True) as session:
            user = User(username=username, password_hash=password_hash, role=Role(role))
            session.add(user)
            session.flush()
            record(session, Actor.system("create-user"), "create", "account", user.id)
    finally:
        database.dispose()
    click.echo(f"created {role} {username}; they set up two-factor authentication at their first login")


def _check_secret(settings: Settings) -> tuple[bool, str]:
    source = settings.secret_key_source
    if source.startswith("file "):
        path = Path(source.removeprefix("file "))
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            return False, f"secret key file {path} is readable by others (mode {mode:o})"
        if not settings.is_sqlite and "ROM_PORTAL_SECRET_KEY_FILE" not in os.environ:
            return True, f"secret key generated in {path}: with several hosts, give them all ROM_PORTAL_SECRET_KEY_FILE"
    return True, f"secret key present ({source})"


def _check_reminders(settings: Settings) -> tuple[bool, str]:
    from rom_portal.mail import SmtpConfig

    config = SmtpConfig.from_settings(settings)
    if config is None:
        return True, "reminder e-mails off (ROM_PORTAL_SMTP_HOST not set)"
    if not settings.public_url:
        return False, "reminder e-mails need ROM_PORTAL_PUBLIC_URL: the e-mail says where to log in"
    return True, f"reminder e-mails through {config.describe()}"


def _check_erasure(settings: Settings) -> list[tuple[bool, str]]:
    from rom_portal.services.erasure_ledger import NOT_SET, ledger_path

    path = ledger_path(settings)
    if path is None:
        ledger = (False, NOT_SET)
    elif not path.parent.is_dir():
        ledger = (False, f"erasure ledger: folder {path.parent} does not exist")
    elif not os.access(path if path.exists() else path.parent, os.W_OK):
        ledger = (False, f"erasure ledger {path} is not writable")
    else:
        ledger = (True, f"erasure ledger {path}: keep it out of database backups, never restore it")
    days = settings.retention_days
    if days == 0:
        kept = (True, "retention off (ROM_PORTAL_RETENTION_DAYS is 0): registrations are kept until erased")
    else:
        kept = (True, f"retention: `rom-portal retention run` erases registrations inactive for over {days} days")
    return [ledger, kept]


@main.command()
def check() -> None:
    """Check the configuration: secret, database, schema, HTTPS, reminder e-mail and erasure settings."""
    settings = load_settings()
    results: list[tuple[bool, str]] = [_check_secret(settings)]
    database = _open_database(settings)
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        results.append((True, f"database reachable ({settings.database_kind})"))
        status = schema_status(database.engine)
        results.append((status.state is SchemaState.current, status.message))
        if status.state is SchemaState.current:
            from rom_portal.demo import is_demo_database

            with database.session() as session:
                demo = is_demo_database(session)
            results.append((not demo, "demo database: never serve it to real users" if demo else "not a demo database"))
            if database.is_sqlite and not database.settle_owed_checkpoint():
                results.append((False, "an erasure's checkpoint is owed: reads keep the write-ahead log open"))
    except (DBAPIError, SQLAlchemyError, DatabaseError) as exc:
        results.append((False, f"database unreachable: {describe_db_error(exc)}"))
    finally:
        database.dispose()
    if settings.insecure_http:
        results.append(
            (False, "ROM_PORTAL_INSECURE_HTTP is on: cookies are not Secure and HSTS is off (development only)")
        )
    else:
        results.append((True, "HTTPS: Secure cookies and HSTS on; serve behind a TLS reverse proxy"))
    results.append(_check_reminders(settings))
    results += _check_erasure(settings)
    if settings.forwarded_allow_ips.strip() == "*":
        results.append(
            (False, "ROM_PORTAL_FORWARDED_ALLOW_IPS is *: anyone can forge client addresses; name your proxy")
        )
    for ok, line in results:
        click.echo(f"{'ok  ' if ok else 'FAIL'}  {line}")
    if not all(ok for ok, _ in results):
        _exit(1)


def _exit(code: int) -> NoReturn:
    raise click.exceptions.Exit(code)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
def demo(host: str, port: int) -> None:
    """Serve a demo practice (made-up accounts and data) from ./rom_portal_demo.db over plain HTTP."""
    from rom_portal.app import create_app
    from rom_portal.demo import DEMO_DATABASE_FILE, has_non_demo_data, seed_demo

    environ = {k: v for k, v in os.environ.items() if k != "ROM_PORTAL_DATABASE_URL"}
    settings = load_settings(environ, database_url=f"sqlite:///./{DEMO_DATABASE_FILE}", insecure_http=True, demo=True)
    database = _open_database(settings)
    try:
        status = schema_status(database.engine)
        if status.state is SchemaState.unknown:
            raise CliError(f"{DEMO_DATABASE_FILE}: {status.message}; remove the file to start a fresh demo")
        migrate(database.engine)
        with database.session(write=True) as session:
            if has_non_demo_data(session):
                raise CliError(f"{DEMO_DATABASE_FILE} holds a real practice's accounts; the demo will not touch it")
            seed_demo(session)
    finally:
        database.dispose()
    click.echo(f"Demo practice on http://{host}:{port}/ (accounts are listed on the login page). Ctrl+C stops it.")
    _run_uvicorn(create_app(settings), host, port, 1, settings)


main.add_command(questionnaires)
main.add_command(score)
main.add_command(erasures)
main.add_command(retention)
main.add_command(research)


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


@main.group()
def reminders() -> None:
    """Reminder e-mails for clients who gave an address for them (see "Reminders" in README.md)."""


@reminders.command("send")
@click.option("--dry-run", is_flag=True, help="Only count who would get a reminder now; send and change nothing.")
def reminders_send(dry_run: bool) -> None:
    """E-mail clients that a questionnaire is waiting. Run it from cron or a systemd timer.

    A questionnaire is named in at most one reminder, a client gets at most one e-mail per run and at most
    ROM_PORTAL_REMINDER_LIMIT in any 30 days; runs at the same time never send the same reminder.
    The e-mail says only that something is waiting, and the portal's address.

    Exit status: 0 when done, also when reminders are off (ROM_PORTAL_SMTP_HOST not set; said on stderr,
    so cron mails it to the administrator); 1 when the mail server or the configuration failed
    (questionnaires already claimed are not sent again).
    """
    from rom_portal.mail import MailServerError, SmtpConfig
    from rom_portal.models.base import utcnow
    from rom_portal.services.client_area import practice_today
    from rom_portal.services.reminders import due, send_reminders

    settings = load_settings()
    config = SmtpConfig.from_settings(settings)
    if config is None:
        # On stderr: a timer or cron job whose environment lacks the mail settings must not look like success.
        click.echo("reminders are off: ROM_PORTAL_SMTP_HOST is not set; nothing sent", err=True)
        return
    if not settings.public_url:
        raise CliError("reminders need ROM_PORTAL_PUBLIC_URL: the e-mail tells clients where to log in")
    database = _open_database(settings)
    try:
        _require_current_schema(database)
        _refuse_demo_database(database)
        today = practice_today(settings.timezone)
        if dry_run:
            with database.session() as session:
                plan = due(session, today, utcnow(), settings.reminder_limit)
            click.echo(
                f"dry run: {_plural(len(plan.clients), 'client', 'clients')} would get a reminder "
                f"({_plural(plan.questionnaires, 'questionnaire', 'questionnaires')}); "
                f"{_plural(plan.at_limit, 'client', 'clients')} at the limit; nothing sent"
            )
            return
        try:
            report = send_reminders(
                database,
                config,
                public_url=settings.public_url,
                limit=settings.reminder_limit,
                default_language=settings.default_language,
                today=today,
            )
        except MailServerError as exc:
            raise CliError(f"mail: {exc}; nothing sent") from None
    finally:
        database.dispose()
    for line in report.failed:
        click.echo(f"rom-portal: {line}", err=True)
    if report.stopped:
        click.echo(f"rom-portal: {report.stopped}", err=True)
    summary = (
        f"sent {_plural(report.sent, 'reminder', 'reminders')} "
        f"({_plural(report.questionnaires, 'questionnaire', 'questionnaires')}); "
        f"{_plural(report.at_limit, 'client', 'clients')} at the limit"
    )
    if report.failed:
        summary += f"; {len(report.failed)} not sent"
    click.echo(summary)
    if report.failed or report.stopped:
        _exit(1)
