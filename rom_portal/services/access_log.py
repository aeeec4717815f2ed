"""Who looked at my data: the audit entries about one client, for that client's own eyes.

A client's entries are the audit rows about their registration, plus the rows of what they did themselves
without a registration in the row (logging in, changing their password). Never anything of another client:
both conditions come from the logged-in client's own ids, never from the request.
"""

from __future__ import annotations

import calendar
import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement
from sqlmodel import Session, and_, col, func, not_, or_, select

from rom_portal.i18n import N_
from rom_portal.models import AuditEvent, Consent, Role, User
from rom_portal.services.audit import Actor, record
from rom_portal.services.filling import NotFound, registration_of_user

__all__ = [
    "DEFAULT_MONTHS",
    "PAGE_SIZE",
    "Entry",
    "LogPage",
    "NotFound",
    "Period",
    "Who",
    "audit_view",
    "default_period",
    "entries_of",
    "parse_period",
]

DEFAULT_MONTHS = 3
PAGE_SIZE = 50
MAX_PAGE = 1000  # 50,000 entries back within one period: further is a narrower period away
_STAFF_ROLES = frozenset(role.value for role in Role if role.is_staff)


# --- The period ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """From ``start`` up to and including ``end``: days in the practice's time zone."""

    start: date
    end: date

    def bounds(self, timezone: str) -> tuple[datetime, datetime]:
        """The period as UTC instants: from the start of ``start`` to the start of the day after ``end``."""
        zone = ZoneInfo(timezone)
        first = datetime.combine(self.start, time(), zone).astimezone(UTC)
        after = datetime.combine(self.end + timedelta(days=1), time(), zone).astimezone(UTC)
        return first, after


def months_before(day: date, months: int) -> date:
    """The same day ``months`` earlier (the month's last day when that month is shorter)."""
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def default_period(today: date) -> Period:
    return Period(months_before(today, DEFAULT_MONTHS), today)


# Days a person can mean: the portal's log starts after 2000, and the day after ``end`` must still exist.
FIRST_YEAR = 2000
LAST_YEAR = 2099

BAD_DATE = N_(
    "We could not read that date. Choose a date, or type one like 2026-03-31. Below you see the last 3 months."
)
BAD_ORDER = N_("The first date is after the second date. Below you see the last 3 months.")


def _day(typed: str) -> date | None:
    typed = typed.strip()
    if len(typed) != 10:  # fromisoformat also takes forms like 20260331, which a person did not mean
        return None
    try:
        day = date.fromisoformat(typed)
    except ValueError:
        return None
    return day if FIRST_YEAR <= day.year <= LAST_YEAR else None


def parse_period(typed_from: str, typed_to: str, today: date) -> tuple[Period, str | None]:
    """The period asked for, or the default one with the message id of what was wrong.

    An empty end means today; an empty start means three months before the end.
    """
    default = default_period(today)
    if not typed_from.strip() and not typed_to.strip():
        return default, None
    end = _day(typed_to) if typed_to.strip() else today
    if end is None:
        return default, BAD_DATE
    start = _day(typed_from) if typed_from.strip() else months_before(end, DEFAULT_MONTHS)
    if start is None:
        return default, BAD_DATE
    if start > end:
        return default, BAD_ORDER
    return Period(start, end), None


# --- The entries ----------------------------------------------------------------------------------------------


class Who(enum.StrEnum):
    self = "self"  # the client
    staff = "staff"  # a therapist, admin or researcher: by name and role
    informant = "informant"
    system = "system"  # the portal itself (reminders, retention)
    anonymous = "anonymous"  # someone not logged in (a wrong reset code)
    someone = "someone"  # unknown: a failed login with the client's username


@dataclass(frozen=True)
class Entry:
    at: datetime
    who: Who
    name: str  # a staff member's display name; "" otherwise
    role: str  # the actor's role as recorded at the time
    action: str
    object_type: str
    outcome: str
    detail: str = ""  # for consents: their kind (research, privacy_statement)


@dataclass(frozen=True)
class LogPage:
    period: Period
    entries: list[Entry]  # newest first
    total: int  # entries in the whole period (with the filter)
    page: int
    others_only: bool

    @property
    def pages(self) -> int:
        return _pages(self.total)

    @property
    def has_more(self) -> bool:
        return self.page < self.pages


def _pages(total: int) -> int:
    return max(1, min(-(-total // PAGE_SIZE), MAX_PAGE))


def _by_the_client(user_id: int) -> ColumnElement[bool]:
    """Rows the client did themselves; a failed login with their username may have been anyone."""
    return and_(
        col(AuditEvent.actor_role) == Role.client.value,
        or_(col(AuditEvent.actor_user_id).is_(None), col(AuditEvent.actor_user_id) == user_id),
        not_(and_(col(AuditEvent.action) == "login", col(AuditEvent.outcome) != "success")),
    )


def _who(row: AuditEvent, user_id: int) -> Who:
    if row.action == "login" and row.outcome != "success":
        return Who.someone
    if row.actor_role == Role.client.value and row.actor_user_id in (None, user_id):
        return Who.self
    if row.actor_role in _STAFF_ROLES:
        return Who.staff
    if row.actor_role in ("informant", "system", "anonymous"):
        return Who(row.actor_role)
    return Who.someone


def entries_of(
    session: Session, user_id: int, period: Period, timezone: str, page: int = 1, others_only: bool = False
) -> LogPage:
    """One page of the client's entries within ``period``, newest first. A read only: the view audits it."""
    registration = registration_of_user(session, user_id)
    first, after = period.bounds(timezone)
    about_them = or_(col(AuditEvent.registration_id) == registration.id, col(AuditEvent.actor_user_id) == user_id)
    conditions = [about_them, col(AuditEvent.at) >= first, col(AuditEvent.at) < after]
    if others_only:
        conditions.append(not_(_by_the_client(user_id)))
    total = session.exec(select(func.count()).select_from(AuditEvent).where(*conditions)).one()
    page = min(max(page, 1), _pages(total))  # past the last page: the last page
    rows = session.exec(
        select(AuditEvent)
        .where(*conditions)
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    staff_ids = {row.actor_user_id for row in rows if row.actor_role in _STAFF_ROLES and row.actor_user_id}
    names = (
        dict(session.exec(select(User.id, User.display_name).where(col(User.id).in_(staff_ids))).all())
        if staff_ids
        else {}
    )
    consent_kinds = {
        str(consent_id): kind.value
        for consent_id, kind in session.exec(
            select(Consent.id, Consent.kind).where(Consent.registration_id == registration.id)
        )
    }
    entries = [
        Entry(
            at=row.at,
            who=_who(row, user_id),
            name=names.get(row.actor_user_id or 0, "") if row.actor_role in _STAFF_ROLES else "",
            role=row.actor_role,
            action=row.action,
            object_type=row.object_type,
            outcome=row.outcome,
            detail=consent_kinds.get(row.object_id, "") if row.object_type == "consent" else "",
        )
        for row in rows
    ]
    return LogPage(period, entries, total, page, others_only)


def audit_view(session: Session, actor: Actor) -> None:
    """One audit row per view of the log (the view, not each entry shown), so reading it never floods it."""
    assert actor.user_id is not None
    registration = registration_of_user(session, actor.user_id)
    record(session, actor, "read", "access_log", registration.id, registration_id=registration.id)
