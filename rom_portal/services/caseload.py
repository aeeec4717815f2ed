"""The therapist's caseload: their own clients at a glance, with open alerts, overdue questionnaires and the last
measurement, searchable and sortable, and the open alerts on top.

Built for hundreds of clients: the counts are aggregated by the database (correlated subqueries on the indexed
``registration_id`` columns) in one query for the whole table, one for the alerts on top and one for the totals,
whatever the number of clients.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, case, func, not_, or_
from sqlmodel import Session, col, select

from rom_portal.models import Alert, Assignment, Registration, Role, Submission, SubmissionStatus, User
from rom_portal.services.assignments import missed_by
from rom_portal.services.audit import Actor, record
from rom_portal.services.onboarding import clean_text

SORTS = ("alerts", "overdue", "last", "name")
DEFAULT_SORT = "alerts"
ALERTS_SHOWN = 20  # on top of the page; the table's counts tell about the rest
QUERY_MAX = 80


@dataclass(frozen=True)
class CaseloadRow:
    public_id: str
    display_name: str
    username: str
    open_alerts: int
    overdue: int  # questionnaires past their due date and not sent (by the client or an informant)
    last_submitted_at: datetime | None
    last_questionnaire_key: str | None


@dataclass(frozen=True)
class OpenAlert:
    public_id: str  # the client's registration
    display_name: str
    questionnaire_key: str
    questionnaire_version: int
    item_id: str
    created_at: datetime


@dataclass(frozen=True)
class Caseload:
    rows: list[CaseloadRow]
    alerts: list[OpenAlert]  # newest first, at most ALERTS_SHOWN
    alerts_total: int
    clients_total: int  # all of the therapist's clients, whatever the search
    query: str
    sort: str


def clean_query(typed: str) -> str:
    return clean_text(typed)[:QUERY_MAX]


def _like(typed: str) -> str:
    """A LIKE pattern matching ``typed`` anywhere, with its own % and _ taken literally."""
    escaped = typed.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _own_clients(therapist_id: int) -> ColumnElement[bool]:
    # Active registrations only: a client whose account was disabled is not on the caseload.
    return (Registration.therapist_id == therapist_id) & col(User.disabled_at).is_(None)


def audit_read(session: Session, actor: Actor) -> None:
    """One audit event per view of the caseload, without a registration: the page lists names (which the
    therapist's own list shows anyway) but also counts of alerts and overdue questionnaires, which are client
    data. One "read caseload" row says who looked at the overview and when, without writing hundreds of rows
    per page view; opening a client's page is audited per client."""
    record(session, actor, "read", "caseload", actor.user_id)


def caseload_of(session: Session, actor: Actor, today: date, query: str = "", sort: str = DEFAULT_SORT) -> Caseload:
    """The actor's (a therapist's) own clients, filtered by ``query`` (roepnaam or username) and sorted.

    ``today`` is the practice's date: a questionnaire due before it and not sent is overdue. Read only: the
    view audits the page with ``audit_read``.
    """
    assert actor.user_id is not None and actor.role == Role.therapist.value
    query = clean_query(query)
    sort = sort if sort in SORTS else DEFAULT_SORT
    alerts_count = (
        select(func.count(col(Alert.id)))
        .where(Alert.registration_id == Registration.id, col(Alert.acknowledged_at).is_(None))
        .correlate(Registration)
        .scalar_subquery()
    )
    open_alerts = alerts_count.label("open_alerts")
    overdue = (
        select(func.count(col(Assignment.id)))
        .outerjoin(Submission, col(Submission.assignment_id) == Assignment.id)
        .where(
            Assignment.registration_id == Registration.id,
            col(Assignment.due_on) < today,
            or_(col(Submission.id).is_(None), Submission.status != SubmissionStatus.submitted),
            not_(missed_by(today)),  # a planned occasion closed as non-response is no longer overdue
        )
        .correlate(Registration)
        .scalar_subquery()
        .label("overdue")
    )
    submitted = (Submission.registration_id == Registration.id) & (Submission.status == SubmissionStatus.submitted)
    last_at = (
        select(func.max(col(Submission.submitted_at))).where(submitted).correlate(Registration).scalar_subquery()
    ).label("last_at")
    last_key = (
        select(Assignment.questionnaire_key)
        .join(Submission, col(Submission.assignment_id) == Assignment.id)
        .where(submitted)
        .order_by(col(Submission.submitted_at).desc(), col(Submission.id).desc())
        .limit(1)
        .correlate(Registration)
        .scalar_subquery()
        .label("last_key")
    )
    name = func.lower(col(User.display_name))
    orders = {
        "alerts": [open_alerts.desc(), overdue.desc(), name, col(User.username)],
        "overdue": [overdue.desc(), open_alerts.desc(), name, col(User.username)],
        # Longest ago first (never measured before all): who is slipping out of view.
        "last": [case((last_at.is_(None), 0), else_=1), last_at, name, col(User.username)],
        "name": [name, col(User.username)],
    }
    statement = (
        select(Registration.public_id, User.display_name, User.username, open_alerts, overdue, last_at, last_key)
        .join(User, col(User.id) == Registration.user_id)
        .where(_own_clients(actor.user_id))
    )
    if query:
        pattern = _like(query)
        statement = statement.where(
            or_(col(User.display_name).ilike(pattern, escape="\\"), col(User.username).ilike(pattern, escape="\\"))
        )
    rows = [
        CaseloadRow(public_id, display_name, username, alerts or 0, late or 0, when, key)
        for public_id, display_name, username, alerts, late, when, key in session.exec(
            statement.order_by(*orders[sort])
        )
    ]
    clients = (
        select(func.count(col(Registration.id)))
        .join(User, col(User.id) == Registration.user_id)
        .where(_own_clients(actor.user_id))
        .scalar_subquery()
    )
    all_alerts = (
        select(func.count(col(Alert.id)))
        .join(Registration, col(Registration.id) == Alert.registration_id)
        .join(User, col(User.id) == Registration.user_id)
        .where(_own_clients(actor.user_id), col(Alert.acknowledged_at).is_(None))
        .scalar_subquery()
    )
    clients_total, alerts_total = session.exec(select(clients, all_alerts)).one()
    return Caseload(rows, _open_alerts(session, actor.user_id), int(alerts_total), int(clients_total), query, sort)


def _open_alerts(session: Session, therapist_id: int) -> list[OpenAlert]:
    found = session.exec(
        select(
            Registration.public_id,
            User.display_name,
            Assignment.questionnaire_key,
            Assignment.questionnaire_version,
            Alert.item_id,
            Alert.created_at,
        )
        .join(Registration, col(Registration.id) == Alert.registration_id)
        .join(User, col(User.id) == Registration.user_id)
        .join(Submission, col(Submission.id) == Alert.submission_id)
        .join(Assignment, col(Assignment.id) == Submission.assignment_id)
        .where(_own_clients(therapist_id), col(Alert.acknowledged_at).is_(None))
        .order_by(col(Alert.created_at).desc(), col(Alert.id).desc())
        .limit(ALERTS_SHOWN)
    )
    return [OpenAlert(*row) for row in found]
