"""The erasure ledger: the random ids of erased registrations, one a line, in a file outside the database.

Restoring a database backup brings back registrations that were erased after the backup was made; an
in-database list of erasures would be rolled back with them. The ledger lives beside the database (SQLite) or
where ``ROM_PORTAL_ERASURE_LEDGER`` says, and is never part of a database backup, so
``rom-portal erasures replay`` can erase them again. It holds the registrations' random public ids only: after
erasure such an id points at nothing and says nothing about the client.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from rom_portal.settings import Settings, sqlite_path

# The shape of Registration.public_id (secrets.token_urlsafe): anything else in the file is not ours.
_RECEIPT_ID = re.compile(r"[A-Za-z0-9_-]{8,24}")
NOT_SET = (
    "ROM_PORTAL_ERASURE_LEDGER is not set: on PostgreSQL erasure needs a file outside the database "
    "(and outside its backups) to list erased registrations"
)


class LedgerNotSet(RuntimeError):
    """Erasure is refused: no ledger file is configured (PostgreSQL without ROM_PORTAL_ERASURE_LEDGER)."""

    def __init__(self) -> None:
        super().__init__(NOT_SET)


def ledger_path(settings: Settings) -> Path | None:
    """The configured file; for SQLite by default ``<database file>.erasures`` beside it; else None."""
    if settings.erasure_ledger:
        return Path(settings.erasure_ledger)
    db_file = sqlite_path(settings.database_url)
    if db_file is None or db_file.name in ("", ":memory:"):
        return None
    return db_file.with_name(db_file.name + ".erasures")


@dataclass(frozen=True)
class ErasureLedger:
    path: Path

    @classmethod
    def of(cls, settings: Settings) -> ErasureLedger:
        path = ledger_path(settings)
        if path is None:
            raise LedgerNotSet
        return cls(path)

    def append(self, receipt_id: str) -> None:
        """Add one id and make sure it is on disk (fsync) before the erasure commits."""
        if not _RECEIPT_ID.fullmatch(receipt_id):
            raise ValueError("not a registration's public id")
        created = not self.path.exists()
        # O_APPEND: lines written by several processes at once never overwrite each other.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{receipt_id}\n".encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:  # the new file's name must survive a crash too
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    def ids(self) -> list[str]:
        """Every id listed, once each, oldest first; an empty list when no erasure was recorded yet."""
        try:
            text = self.path.read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            return []
        seen: dict[str, None] = {}
        for line in text.splitlines():
            value = line.strip()
            if _RECEIPT_ID.fullmatch(value):
                seen.setdefault(value, None)
        return list(seen)
