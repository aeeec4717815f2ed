"""Settings, read once from ``ROM_PORTAL_*`` environment variables.

Every setting is declared once in ``SETTINGS`` with its default and help text; the README's configuration
table lists them all (a test checks that). Secrets can come from a file through the ``*_FILE`` variant.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PREFIX = "ROM_PORTAL_"
LANGUAGES = ("nl", "en")
_SECRET_BYTES = 32


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the variable."""


def _parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def _parse_int(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = int(value.strip())
        if not low <= number <= high:
            raise ValueError(f"expected a whole number from {low} to {high}")
        return number

    return parse


def _parse_language(value: str) -> str:
    value = value.strip().lower()
    if value not in LANGUAGES:
        raise ValueError(f"expected one of {', '.join(LANGUAGES)}")
    return value


def _parse_database_url(value: str) -> str:
    value = value.strip()
    if not value.startswith(("sqlite:///", "postgresql://", "postgresql+psycopg://")):
        raise ValueError("expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
    if value.startswith("postgresql://"):
        # psycopg 3 is the only PostgreSQL driver we ship; SQLAlchemy would otherwise look for psycopg2.
        value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
    return value


def _parse_timezone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("expected a time zone name such as Europe/Amsterdam") from None
    return value.strip()


def _parse_public_url(value: str) -> str:
    value = value.strip().rstrip("/")
    if value and not value.startswith(("https://", "http://")):
        raise ValueError("expected the portal's address, e.g. https://rom.praktijk.nl")
    return value


def _parse_text(value: str) -> str:
    return value.strip()


SMTP_SECURITY = ("starttls", "tls", "none")
# Plain SMTP (no TLS) only to a relay on this machine: an address must never cross a network unencrypted.
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def _parse_smtp_security(value: str) -> str:
    value = value.strip().lower()
    if value not in SMTP_SECURITY:
        raise ValueError(f"expected one of {', '.join(SMTP_SECURITY)}")
    return value


def _parse_smtp_port(value: str) -> int:
    """0 (or empty): the usual port of the security mode (587 STARTTLS, 465 TLS, 25 plain)."""
    return _parse_int(0, 65535)(value) if value.strip() else 0


def _parse_mail_address(value: str) -> str:
    from rom_portal.mail import plausible_address

    value = value.strip()
    if value and not plausible_address(value):
        raise ValueError("expected one e-mail address, e.g. portal@praktijk.nl")
    return value


@dataclass(frozen=True)
class SettingSpec:
    field: str
    default: str | None
    help: str
    parse: Callable[[str], Any]
    secret: bool = False  # may also be given as ROM_PORTAL_<NAME>_FILE

    @property
    def env(self) -> str:
        return PREFIX + self.field.upper()


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "database_url",
        "sqlite:///./rom_portal.db",
        "Database: sqlite:///PATH (embedded) or postgresql+psycopg://USER:PASSWORD@HOST/DB (production).",
        _parse_database_url,
        secret=True,
    ),
    SettingSpec(
        "secret_key",
        None,
        "Key for signed tokens (at least 32 characters). When neither it nor ROM_PORTAL_SECRET_KEY_FILE is set, "
        "one is generated once into a 0600 file beside the SQLite database. Give every host the same key.",
        _parse_text,
        secret=True,
    ),
    SettingSpec(
        "insecure_http",
        "false",
        "Development only: serve over plain HTTP (no Secure cookie, no HSTS). Never in production.",
        _parse_bool,
    ),
    SettingSpec("default_language", "nl", "Language of the interface: nl (Dutch) or en (English).", _parse_language),
    SettingSpec(
        "public_url",
        "",
        "The portal's address as clients type it (printed on invitation letters), e.g. https://rom.praktijk.nl. "
        "When empty, the address of the request is used.",
        _parse_public_url,
    ),
    SettingSpec(
        "crisis_text",
        "",
        "What a client sees at once when a critical answer raises an alert (paragraphs separated by an empty line). "
        "When empty, a default that names 113 Zelfmoordpreventie and 112 is shown in the reader's language.",
        _parse_text,
    ),
    SettingSpec("timezone", "Europe/Amsterdam", "Time zone for dates and times shown in the portal.", _parse_timezone),
    SettingSpec(
        "db_threads",
        "8",
        "Threads for database work per worker process (bounded: more threads gave long write tails).",
        _parse_int(1, 64),
    ),
    SettingSpec(
        "hash_threads",
        "2",
        "Threads for password hashing per worker process, so logins never block other pages.",
        _parse_int(1, 16),
    ),
    SettingSpec(
        "max_body_bytes",
        "262144",
        "Largest request body accepted, in bytes; larger requests get 413.",
        _parse_int(1024, 64 * 1024 * 1024),
    ),
    SettingSpec(
        "forwarded_allow_ips",
        "127.0.0.1",
        "Addresses of reverse proxies whose X-Forwarded-For/-Proto headers are trusted (comma-separated).",
        _parse_text,
    ),
    SettingSpec("log_level", "info", "Log level: debug, info, warning or error.", _parse_text),
    SettingSpec(
        "staff_idle_minutes",
        "15",
        "Minutes without activity after which a staff login ends.",
        _parse_int(1, 24 * 60),
    ),
    SettingSpec(
        "client_idle_minutes",
        "30",
        "Minutes without activity after which a client login ends (answers are saved as they are given).",
        _parse_int(1, 24 * 60),
    ),
    SettingSpec("session_max_hours", "12", "Hours after which any login ends, active or not.", _parse_int(1, 72)),
    SettingSpec(
        "invitation_days",
        "14",
        "Days an invitation code for a new client stays valid.",
        _parse_int(1, 90),
    ),
    SettingSpec("reset_code_hours", "72", "Hours a password reset code stays valid.", _parse_int(1, 24 * 14)),
    SettingSpec(
        "smtp_host",
        "",
        "Mail server for reminder e-mails. When empty, no e-mail is ever sent.",
        _parse_text,
    ),
    SettingSpec(
        "smtp_port",
        "0",
        "Port of the mail server; 0: the usual one for the security mode (587, 465 or 25).",
        _parse_smtp_port,
    ),
    SettingSpec(
        "smtp_security",
        "starttls",
        "starttls (upgrade to TLS, the default), tls (TLS from the start) or none (only to a relay on localhost).",
        _parse_smtp_security,
    ),
    SettingSpec("smtp_username", "", "User name at the mail server; empty: no login.", _parse_text),
    SettingSpec("smtp_password", "", "Password at the mail server.", _parse_text, secret=True),
    SettingSpec(
        "smtp_from",
        "",
        "Sender address of reminder e-mails, e.g. no-reply@praktijk.nl (required with ROM_PORTAL_SMTP_HOST).",
        _parse_mail_address,
    ),
    SettingSpec("smtp_timeout", "30", "Seconds to wait for the mail server before giving up.", _parse_int(1, 300)),
    SettingSpec(
        "reminder_limit",
        "4",
        "At most this many reminder e-mails go to one client in any 30 days.",
        _parse_int(1, 30),
    ),
    SettingSpec(
        "erasure_ledger",
        "",
        "File listing the random ids of erased registrations (nothing else), outside the database, so "
        "`rom-portal erasures replay` erases them again after a backup is restored. Default for SQLite: beside "
        "the database (rom_portal.db.erasures); required for PostgreSQL.",
        _parse_text,
    ),
    SettingSpec(
        "research_min_clients",
        "10",
        "Research exports: a figure that rests on fewer clients than this is suppressed (k, at least 5).",
        _parse_int(5, 1000),
    ),
    SettingSpec(
        "retention_days",
        "0",
        "Days a registration may stay inactive before `rom-portal retention run` erases it; 0: never.",
        _parse_int(0, 36500),
    ),
)


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str
    insecure_http: bool
    default_language: str
    public_url: str
    crisis_text: str
    timezone: str
    db_threads: int
    hash_threads: int
    max_body_bytes: int
    forwarded_allow_ips: str
    log_level: str
    staff_idle_minutes: int
    client_idle_minutes: int
    session_max_hours: int
    invitation_days: int
    reset_code_hours: int
    smtp_host: str = ""
    smtp_port: int = 0
    smtp_security: str = "starttls"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = ""
    smtp_timeout: int = 30
    reminder_limit: int = 4
    erasure_ledger: str = ""
    retention_days: int = 0
    research_min_clients: int = 10
    # Where the secret came from (for `rom-portal check`); never the secret itself.
    secret_key_source: str = "environment"  # noqa: S105 (a description, not a secret)
    # Set by `rom-portal demo` only, never from the environment: demo accounts exist only in demo mode.
    demo: bool = False

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def __repr__(self) -> str:  # keep secrets out of logs and tracebacks
        return f"Settings(database={self.database_kind}, insecure_http={self.insecure_http}, demo={self.demo})"

    @property
    def database_kind(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    @property
    def mail_configured(self) -> bool:
        """A mail server is set (the sender is then required)."""
        return bool(self.smtp_host)

    @property
    def reminders_enabled(self) -> bool:
        """Reminder e-mails can go out: a mail server, and the portal's address to put in them."""
        return self.mail_configured and bool(self.public_url)


def sqlite_path(database_url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL, or None for other databases."""
    if not database_url.startswith("sqlite:///"):
        return None
    return Path(database_url.removeprefix("sqlite:///").split("?", 1)[0])


def default_secret_file(database_url: str) -> Path:
    db_file = sqlite_path(database_url)
    if db_file is not None:
        return db_file.with_name(db_file.name + ".secret")
    return Path("rom_portal.secret")


def _read_raw(spec: SettingSpec, environ: Mapping[str, str]) -> tuple[str | None, str]:
    if spec.env in environ:
        return environ[spec.env], "environment"
    file_var = spec.env + "_FILE"
    if spec.secret and file_var in environ:
        path = Path(environ[file_var])
        try:
            return path.read_text(encoding="utf-8").strip(), f"file {path}"
        except OSError as exc:
            raise SettingsError(f"{file_var}: cannot read {path}: {exc.strerror}") from None
    return spec.default, "default"


def load_or_create_secret(path: Path) -> str:
    """Read the secret from ``path``, creating it (mode 0600) on first use."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise SettingsError(f"secret key file {path} is readable by others (mode {mode:o}); chmod 600 it") from None
        value = path.read_text(encoding="utf-8").strip()
        if not value:
            raise SettingsError(f"secret key file {path} is empty") from None
        return value
    except OSError as exc:
        raise SettingsError(f"cannot create secret key file {path}: {exc.strerror}") from None
    value = secrets.token_urlsafe(_SECRET_BYTES)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


def _check_mail(values: Mapping[str, Any]) -> None:
    host = values.get("smtp_host") or ""
    if not host:
        return
    if not values.get("smtp_from"):
        raise SettingsError("ROM_PORTAL_SMTP_FROM: set the sender address when ROM_PORTAL_SMTP_HOST is set")
    if values.get("smtp_security") == "none" and host.lower() not in LOCAL_HOSTS:
        raise SettingsError(
            "ROM_PORTAL_SMTP_SECURITY: none (no TLS) is only allowed for a relay on localhost; use starttls or tls"
        )
    if values.get("smtp_password") and not values.get("smtp_username"):
        raise SettingsError("ROM_PORTAL_SMTP_USERNAME: set it together with the SMTP password")


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Parse every setting strictly; unknown ``ROM_PORTAL_*`` names are an error (typos must not pass)."""
    environ = os.environ if environ is None else environ
    known = {spec.env for spec in SETTINGS} | {spec.env + "_FILE" for spec in SETTINGS if spec.secret}
    # Test-harness variables share the prefix but are not settings of the portal itself.
    unknown = sorted(
        name
        for name in environ
        if name.startswith(PREFIX) and name not in known and not name.startswith(PREFIX + "TEST_")
    )
    if unknown:
        raise SettingsError(f"unknown setting {unknown[0]} (see the configuration table in README.md)")
    values: dict[str, Any] = {}
    secret_source = "environment"  # noqa: S105 (a description, not a secret)
    for spec in SETTINGS:
        if spec.field in overrides:
            values[spec.field] = overrides.pop(spec.field)
            continue
        raw, source = _read_raw(spec, environ)
        if raw is None:
            values[spec.field] = None
            continue
        try:
            values[spec.field] = spec.parse(raw)
        except ValueError as exc:
            raise SettingsError(f"{spec.env}: {exc}") from None
        if spec.field == "secret_key":
            secret_source = source
    if not values["secret_key"]:
        path = default_secret_file(values["database_url"])
        values["secret_key"] = load_or_create_secret(path)
        secret_source = f"file {path}"
    if len(values["secret_key"]) < 32:
        raise SettingsError("ROM_PORTAL_SECRET_KEY: must be at least 32 characters")
    _check_mail(values)
    return Settings(**values, secret_key_source=secret_source, **overrides)
