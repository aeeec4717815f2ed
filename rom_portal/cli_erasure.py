"""``rom-portal erasures replay`` and ``rom-portal retention run [--dry-run]``.

``rom_portal/cli.py`` adds both groups to its own. Output names registrations by random ids only (a dry run:
the registrations' public ids; an erasure: the fresh receipt ids), never by username or name.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import click

from rom_portal.services.audit import Actor, record
from rom_portal.services.erasure import RECEIPT_KINDS, Receipt, empty_write_ahead_log, erase_listed
from rom_portal.services.erasure_ledger import NOT_SET, ErasureLedger, LedgerNotSet, ledger_path
from rom_portal.services.retention import cutoff_for, erase_if_still_inactive, inactive_since


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _what(receipt: Receipt) -> str:
    parts = [f"{kind.replace('_', ' ')} {receipt.counts[kind]}" for kind in RECEIPT_KINDS if receipt.counts[kind]]
    return f"{_plural(receipt.total, 'row', 'rows')} ({', '.join(parts)})"


@click.group()
def erasures() -> None:
    """The erasure ledger: ids of erased registrations, kept outside the database (see README.md)."""


@erasures.command("replay")
@click.option(
    "--ledger",
    "ledgers",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read this ledger file instead of ROM_PORTAL_ERASURE_LEDGER (repeat it for the files of several hosts).",
)
def replay(ledgers: tuple[Path, ...]) -> None:
    """Erase again every listed registration that a restored backup brought back.

    Run it right after restoring a database backup, before the portal serves again. It prints how many
    registrations it erased; each erasure is in the audit log as done by the system.
    """
    from rom_portal.cli import CliError, _open_database, _require_current_schema
    from rom_portal.settings import load_settings

    settings = load_settings()
    configured = ledger_path(settings)
    paths = list(ledgers) or ([configured] if configured else [])
    if not paths:
        raise CliError(NOT_SET)
    listed: dict[str, None] = {}
    for path in paths:
        if not path.exists():
            click.echo(f"rom-portal: no erasure ledger at {path} (no erasure recorded there)", err=True)
        listed.update(dict.fromkeys(ErasureLedger(path).ids()))
    actor = Actor.system("erasures replay")
    database = _open_database(settings)
    try:
        _require_current_schema(database)
        erased = 0
        for public_id in listed:
            with database.session(write=True) as session:
                erased += erase_listed(session, actor, public_id) is not None
        with database.session(write=True) as session:
            record(session, actor, "replay", "erasure_ledger", erased)
        if erased:
            anyio.run(empty_write_ahead_log, database)
    finally:
        database.dispose()
    click.echo(
        f"{_plural(len(listed), 'erasure', 'erasures')} in the ledger; "
        f"erased again: {_plural(erased, 'registration', 'registrations')}"
    )


@click.group()
def retention() -> None:
    """Erasing registrations inactive for longer than ROM_PORTAL_RETENTION_DAYS."""


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="Only list the registrations that would be erased; change nothing.")
def retention_run(dry_run: bool) -> None:
    """Erase every registration inactive for longer than ROM_PORTAL_RETENTION_DAYS, with all its data.

    Inactive since the latest of: its creation, the client's last login or session use, the last answer or
    submission, the last questionnaire given or due (a future due date keeps it active), the last staff action on
    it. Prints the receipt id of each and what was removed (no names); every erasure is
    in the audit log. With ROM_PORTAL_RETENTION_DAYS=0 (the default) it says so on stderr and does nothing.
    """
    from rom_portal.cli import CliError, _open_database, _require_current_schema
    from rom_portal.settings import load_settings

    settings = load_settings()
    days = settings.retention_days
    if days == 0:
        click.echo("retention is off: ROM_PORTAL_RETENTION_DAYS is 0; nothing erased", err=True)
        return
    try:
        ledger = None if dry_run else ErasureLedger.of(settings)
    except LedgerNotSet as exc:
        raise CliError(str(exc)) from None
    cutoff = cutoff_for(days)
    database = _open_database(settings)
    try:
        _require_current_schema(database)
        with database.session() as session:
            found = inactive_since(session, cutoff)
        inactive = f"inactive for more than {_plural(days, 'day', 'days')}"
        if dry_run:
            click.echo(f"dry run: {_plural(len(found), 'registration', 'registrations')} {inactive}; nothing erased")
            for one in found:
                click.echo(f"  {one.public_id}  last active {one.last_active:%Y-%m-%d}")
            return
        assert ledger is not None
        erased = 0
        for one in found:
            with database.session(write=True) as session:
                receipt = erase_if_still_inactive(session, one.public_id, cutoff, ledger)
            if receipt is not None:
                erased += 1
                click.echo(f"  erased {receipt.id}: {_what(receipt)}")
        with database.session(write=True) as session:
            record(session, Actor.system("retention run"), "run", "retention", erased)
        if erased:
            anyio.run(empty_write_ahead_log, database)
    finally:
        database.dispose()
    click.echo(f"erased {_plural(erased, 'registration', 'registrations')} {inactive}")
