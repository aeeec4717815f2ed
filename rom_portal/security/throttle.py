"""Throttling of guesses: passwords, second-factor codes, invitation and reset codes.

Per key (an account, a client address, ...): after 10 consecutive failures the key is locked for a growing
time (30 s, 1 min, 2 min, ... at most 15 min), and never more than 100 failures per hour are accepted. A
success clears the consecutive count. Unknown usernames are throttled exactly like real ones, so the
responses say nothing about which accounts exist.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from rom_portal.models import Throttle
from rom_portal.models.base import utcnow

FREE_FAILURES = 10
FIRST_LOCK = timedelta(seconds=30)
LONGEST_LOCK = timedelta(minutes=15)
HOURLY_LIMIT = 100
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Locked:
    until: datetime

    @property
    def minutes(self) -> int:
        seconds = max(0.0, (self.until - utcnow()).total_seconds())
        return max(1, int(seconds + 59) // 60)


def address_key(prefix: str, address: str | None) -> str:
    """IPv6 clients are keyed by their /64 (one household or device), IPv4 by the full address."""
    if not address:
        return f"{prefix}:unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return f"{prefix}:unknown"
    if parsed.version == 6:
        return f"{prefix}:{ipaddress.ip_network(f'{parsed}/64', strict=False)}"
    return f"{prefix}:{parsed}"


def _locked_row(session: Session, key: str, now: datetime) -> Throttle:
    """The row for ``key``, created if needed and locked for this transaction (safe when requests race)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(Throttle.__table__).values(key=key, consecutive=0, hour_started_at=now, hour_count=0)
    session.execute(statement.on_conflict_do_nothing(index_elements=["key"]))
    row = session.get(Throttle, key, with_for_update=True, populate_existing=True)
    assert row is not None
    return row


def locked(session: Session, *keys: str, for_update: bool = False) -> Locked | None:
    """The longest running lock among ``keys``, or None.

    In a transaction that will record the outcome, pass ``for_update=True``: existing rows are locked, so
    attempts sent at once are counted one after another and cannot all slip past a lock. (A key without a
    row has no failures yet; its first failures are serialised by the insert in ``record_failure``.)
    """
    now = utcnow()
    longest: datetime | None = None
    for key in keys:
        row = session.get(Throttle, key[:160], with_for_update=for_update, populate_existing=for_update)
        if row is None:
            continue
        until = row.locked_until
        if row.hour_count >= HOURLY_LIMIT and now - row.hour_started_at < HOUR:
            hour_end = row.hour_started_at + HOUR
            until = hour_end if until is None or hour_end > until else until
        if until is not None and until > now and (longest is None or until > longest):
            longest = until
    return Locked(longest) if longest else None


def record_failure(session: Session, *keys: str) -> None:
    now = utcnow()
    for key in keys:
        row = _locked_row(session, key[:160], now)
        if now - row.hour_started_at >= HOUR:
            row.hour_started_at, row.hour_count = now, 0
        row.consecutive += 1
        row.hour_count += 1
        if row.consecutive >= FREE_FAILURES:
            doublings = min(row.consecutive - FREE_FAILURES, 10)
            row.locked_until = now + min(FIRST_LOCK * (2**doublings), LONGEST_LOCK)
    session.flush()


def record_success(session: Session, *keys: str) -> None:
    for key in keys:
        row = session.get(Throttle, key[:160], with_for_update=True)
        if row is not None and (row.consecutive or row.locked_until):
            row.consecutive = 0
            row.locked_until = None
    session.flush()
