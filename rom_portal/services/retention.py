"""Retention: registrations inactive for longer than the practice keeps them (``ROM_PORTAL_RETENTION_DAYS``).

A registration is active on the latest of: its creation; the client's last successful login and the last time
any of their login sessions was used; the last change to any of its submissions (by the client or an informant);
the last questionnaire given to it and the latest day one of its questionnaires opens or is due (a planned
occasion still ahead keeps it active until then); and the last time staff did anything with it (the audit log).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, Subquery, func
from sqlmodel import Session, col, select

from rom_portal.models import Assignment, AuditEvent, AuthSession, Registration, Role, Submission
from rom_portal.models.base import utcnow
from rom_portal.services.audit import Actor
from rom_portal.services.erasure import Receipt, erase_registration
from rom_portal.services.erasure_ledger import ErasureLedger

STAFF_ROLES = [role.value for role in Role if role.is_staff]


@dataclass(frozen=True)
class Inactive:
    public_id: str
    last_active: datetime


def _per_registration(registration_id: int | None) -> list[Select[Any]]:
    """One query per kind of activity, each giving (registration id, latest moment...) grouped by registration."""
    reg = col(Registration.id)
    logins = (
        select(reg, func.max(AuditEvent.at))
        .join(AuditEvent, col(AuditEvent.actor_user_id) == Registration.user_id)
        .where(AuditEvent.action == "login", AuditEvent.outcome == "success")
    )
    sessions = select(reg, func.max(AuthSession.last_seen_at)).join(
        AuthSession, col(AuthSession.user_id) == Registration.user_id
    )
    submissions = select(col(Submission.registration_id), func.max(Submission.updated_at))
    assignments = select(
        col(Assignment.registration_id),
        func.max(Assignment.created_at),
        func.max(Assignment.due_on),
        func.max(Assignment.opens_on),
    )
    staff = select(col(AuditEvent.registration_id), func.max(AuditEvent.at)).where(
        col(AuditEvent.actor_role).in_(STAFF_ROLES)
    )
    queries = [logins, sessions, submissions, assignments, staff]
    if registration_id is not None:
        queries = [query.where(query.selected_columns[0] == registration_id) for query in queries]
    return [query.group_by(query.selected_columns[0]) for query in queries]


def _moment(value: datetime | date | None) -> datetime | None:
    """Dates count from the start of that day (UTC), so a day still ahead is later than any cut-off."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value, time.min, tzinfo=UTC)


def _latest(moments: Any) -> datetime:
    return max(moment for moment in map(_moment, moments) if moment is not None)


def _last_activity(session: Session) -> list[tuple[str, datetime]]:
    kinds: list[Subquery] = [query.subquery() for query in _per_registration(None)]
    columns = [column for kind in kinds for column in list(kind.c)[1:]]
    query = select(Registration.public_id, Registration.created_at, *columns)
    for kind in kinds:
        query = query.outerjoin(kind, kind.c[0] == Registration.id)
    return [(public_id, _latest(moments)) for public_id, *moments in session.exec(query)]


def inactive_since(session: Session, cutoff: datetime) -> list[Inactive]:
    """Registrations with no activity after ``cutoff``, longest inactive first."""
    found = [Inactive(public_id, last) for public_id, last in _last_activity(session) if last < cutoff]
    return sorted(found, key=lambda one: one.last_active)


def cutoff_for(days: int) -> datetime:
    return utcnow() - timedelta(days=days)


def last_active(session: Session, registration: Registration) -> datetime:
    """The same rule as ``inactive_since``, for one registration (by its indexes, not the whole practice)."""
    moments: list[Any] = [registration.created_at]
    for query in _per_registration(registration.id):
        row = session.exec(query).first()
        if row is not None:
            moments.extend(row[1:])
    return _latest(moments)


def erase_if_still_inactive(
    session: Session, public_id: str, cutoff: datetime, ledger: ErasureLedger
) -> Receipt | None:
    """Erase one registration found inactive, unless it became active since it was listed (or is gone)."""
    registration = session.exec(
        select(Registration).where(Registration.public_id == public_id).with_for_update()
    ).first()
    if registration is None or last_active(session, registration) >= cutoff:
        return None
    return erase_registration(session, Actor.system("retention run"), registration, ledger)
