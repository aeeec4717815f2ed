"""Measurement plans: a questionnaire once, or every N weeks, for one of the therapist's own clients.

A plan's occasions are made up front as assignments (``plan_id``, ``occasion`` 1, 2, ...). Due dates are calendar
dates computed with date arithmetic (start + k x 7 x N days), never clock times, so month ends and daylight-saving
changes cannot move them. An occasion opens for its respondent ``open_days_before`` days before it is due, but never
before the day the plan was made. "Today" is always the practice's date, given by the caller.

Changing a plan keeps every occasion that holds something: one that was started or sent, one whose due date has
passed (its overdue or non-response status is part of the record), one an informant got a link for, and one a
reminder e-mail named (the client was told it is waiting; a replacement would be reminded a second time). The
other occasions are replaced by the new series, which continues from the last occasion kept. Cancelling removes the
occasions nobody started (they hold no client data) and keeps the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, delete, select

from rom_portal.models import (
    Assignment,
    InformantLink,
    MeasurementPlan,
    Registration,
    Respondent,
    Role,
    Submission,
    SubmissionStatus,
    User,
)
from rom_portal.models.base import utcnow
from rom_portal.questionnaires import Catalogue
from rom_portal.services.assignments import NON_RESPONSE_DAYS, assign
from rom_portal.services.audit import Actor, record
from rom_portal.services.onboarding import NotFound, registration_of

MAX_OCCASIONS = 104  # two years of weekly measurement: more is a typing mistake, not a plan
MAX_INTERVAL_WEEKS = 52
OPEN_DAYS_BEFORE = 7


class Refused(ValueError):
    """A schedule the plan cannot take; ``reason`` says why, for a message next to ``field`` of the form.

    Reasons: ``too_many`` (``number``: how many occasions it would make), ``too_few`` (``number``: the
    occasions that stay), ``end_before_start`` (``day``: the plan's first date).
    """

    def __init__(self, field: str, reason: str, number: int = 0, day: date | None = None) -> None:
        super().__init__(field, reason, number, day)
        self.field = field
        self.reason = reason
        self.number = number
        self.day = day


class Cancelled(Exception):
    """The plan was cancelled: it cannot be changed any more."""


@dataclass(frozen=True)
class Repeat:
    """Every ``interval_weeks`` weeks, until ``end_on`` (inclusive) or ``occurrences`` times: one of the two."""

    interval_weeks: int
    end_on: date | None = None
    occurrences: int | None = None


@dataclass(frozen=True)
class Schedule:
    """Once, due on ``start_on``; or repeating from ``start_on``."""

    start_on: date
    repeat: Repeat | None = None


@dataclass(frozen=True)
class PlanSpec:
    questionnaire_key: str
    respondent: Respondent
    relation: str  # informants only: who they are to the client ("moeder")
    schedule: Schedule


def series(first: date, interval_weeks: int, *, end_on: date | None, count: int | None) -> list[date]:
    """``first``, ``first`` + N weeks, ... up to ``end_on`` (inclusive) or ``count`` dates.

    Pure date arithmetic on calendar days: a date has no clock time, so no daylight-saving change can shift it,
    and adding whole weeks never meets a month end. Refused (too_many) beyond MAX_OCCASIONS.
    """
    assert (end_on is None) != (count is None)
    step = 7 * interval_weeks
    if count is None:
        assert end_on is not None
        count = (end_on - first).days // step + 1 if end_on >= first else 0
    if count > MAX_OCCASIONS:
        raise Refused("end" if end_on is not None else "count", "too_many", count)
    return [first + timedelta(days=k * step) for k in range(count)]


def due_dates(schedule: Schedule) -> list[date]:
    """Every due date of a new plan, first to last."""
    if schedule.repeat is None:
        return [schedule.start_on]
    repeat = schedule.repeat
    return series(schedule.start_on, repeat.interval_weeks, end_on=repeat.end_on, count=repeat.occurrences)


def opens_on(due_on: date, open_days_before: int, made_on: date) -> date:
    """The day an occasion opens: some days before it is due, never before the day the plan was made."""
    return max(due_on - timedelta(days=open_days_before), made_on)


# --- Writing ------------------------------------------------------------------------------------------------


def _own_plan(session: Session, actor: Actor, public_id: str, plan_id: str) -> tuple[Registration, MeasurementPlan]:
    assert actor.user_id is not None and actor.role == Role.therapist.value
    registration = registration_of(session, actor.user_id, public_id)
    plan = session.exec(
        select(MeasurementPlan)
        .where(MeasurementPlan.public_id == plan_id, MeasurementPlan.registration_id == registration.id)
        .with_for_update()
    ).first()
    if plan is None:
        raise NotFound
    return registration, plan


def _make_occasions(
    session: Session,
    catalogue: Catalogue,
    actor: Actor,
    registration: Registration,
    plan: MeasurementPlan,
    dates: list[date],
    first_number: int,
    today: date,
) -> None:
    for number, due in enumerate(dates, start=first_number):
        assign(
            session,
            catalogue,
            actor,
            registration,
            plan.questionnaire_key,
            due_on=due,
            opens_on=opens_on(due, plan.open_days_before, today),
            respondent=plan.respondent,
            informant_label=plan.informant_label,
            plan_id=plan.id,
            occasion=number,
        )


def create_plan(
    session: Session, catalogue: Catalogue, actor: Actor, public_id: str, spec: PlanSpec, today: date
) -> MeasurementPlan:
    """A plan for one of the actor's own clients (NotFound otherwise), with all its occasions."""
    assert actor.user_id is not None and actor.role == Role.therapist.value
    registration = registration_of(session, actor.user_id, public_id)
    dates = due_dates(spec.schedule)
    plan = MeasurementPlan(
        registration_id=registration.id,
        questionnaire_key=spec.questionnaire_key,
        respondent=spec.respondent,
        informant_label=spec.relation if spec.respondent is Respondent.informant else "",
        start_on=spec.schedule.start_on,
        interval_weeks=spec.schedule.repeat.interval_weeks if spec.schedule.repeat else None,
        end_on=spec.schedule.repeat.end_on if spec.schedule.repeat else None,
        occurrences=spec.schedule.repeat.occurrences if spec.schedule.repeat else None,
        open_days_before=OPEN_DAYS_BEFORE,
        created_by=actor.user_id,
    )
    session.add(plan)
    session.flush()
    _make_occasions(session, catalogue, actor, registration, plan, dates, 1, today)
    record(session, actor, "create", "measurement_plan", plan.id, registration_id=registration.id)
    return plan


def _occasions_for_update(session: Session, plan: MeasurementPlan) -> list[Assignment]:
    # Locked, so a respondent starting an occasion waits for this change (and then finds it gone or kept);
    # whether it was started is read after the lock, in a statement of its own.
    return list(
        session.exec(
            select(Assignment)
            .where(Assignment.plan_id == plan.id)
            .order_by(col(Assignment.occasion), col(Assignment.id))
            .with_for_update()
        )
    )


def _started(session: Session, assignment_ids: list[int]) -> set[int]:
    if not assignment_ids:
        return set()
    return set(session.exec(select(Submission.assignment_id).where(col(Submission.assignment_id).in_(assignment_ids))))


def _with_link(session: Session, assignment_ids: list[int]) -> set[int]:
    if not assignment_ids:
        return set()
    query = select(InformantLink.assignment_id).where(col(InformantLink.assignment_id).in_(assignment_ids))
    return set(session.exec(query))


def _remove(session: Session, actor: Actor, registration: Registration, occasions: list[Assignment]) -> None:
    ids = [occasion.id for occasion in occasions]
    if not ids:
        return
    # Their links (never opened: opening makes a draft) go with them, by ON DELETE CASCADE.
    session.exec(delete(Assignment).where(col(Assignment.id).in_(ids)))
    for assignment_id in ids:
        record(session, actor, "delete", "assignment", assignment_id, registration_id=registration.id)


def change_plan(
    session: Session,
    catalogue: Catalogue,
    actor: Actor,
    public_id: str,
    plan_id: str,
    repeat: Repeat,
    today: date,
) -> MeasurementPlan:
    """New interval and end (date or number of times) for a repeating plan; the start stays.

    Refused when the number of times is below the occasions that stay, the end is before the start or the plan
    would grow past MAX_OCCASIONS; Cancelled for a cancelled plan.
    """
    registration, plan = _own_plan(session, actor, public_id, plan_id)
    if plan.cancelled_at is not None:
        raise Cancelled
    if plan.interval_weeks is None:  # a one-off has nothing to change: cancel it and plan anew
        raise NotFound
    interval = repeat.interval_weeks
    if repeat.end_on is not None and repeat.end_on < plan.start_on:
        raise Refused("end", "end_before_start", day=plan.start_on)
    occasions = _occasions_for_update(session, plan)
    ids = [occasion.id for occasion in occasions if occasion.id is not None]
    holding = _started(session, ids) | _with_link(session, ids)
    kept = [
        one
        for one in occasions
        if one.id in holding or one.reminded_at is not None or (one.due_on is not None and one.due_on < today)
    ]
    kept_ids = {one.id for one in kept}
    replaced = [one for one in occasions if one.id not in kept_ids]
    if repeat.occurrences is not None and repeat.occurrences < len(kept):
        raise Refused("count", "too_few", len(kept))
    last = max((one.due_on for one in kept if one.due_on is not None), default=None)
    first = plan.start_on if last is None else last + timedelta(weeks=interval)
    while first < today:  # no new occasions in the past: they would be non-response at once
        first += timedelta(weeks=interval)
    left = None if repeat.occurrences is None else repeat.occurrences - len(kept)
    try:
        dates = series(first, interval, end_on=repeat.end_on, count=left)
    except Refused as refused:
        raise Refused(refused.field, refused.reason, refused.number + len(kept)) from None
    if len(kept) + len(dates) > MAX_OCCASIONS:
        raise Refused("end" if repeat.end_on is not None else "count", "too_many", len(kept) + len(dates))
    _remove(session, actor, registration, replaced)
    plan.interval_weeks = interval
    plan.end_on = repeat.end_on
    plan.occurrences = repeat.occurrences
    session.add(plan)
    number = max((one.occasion or 0 for one in kept), default=0) + 1
    _make_occasions(session, catalogue, actor, registration, plan, dates, number, today)
    record(session, actor, "update", "measurement_plan", plan.id, registration_id=registration.id)
    return plan


def cancel_plan(session: Session, actor: Actor, public_id: str, plan_id: str) -> bool:
    """Stop a plan: occasions nobody started go, started and sent ones stay. False if it was cancelled already."""
    registration, plan = _own_plan(session, actor, public_id, plan_id)
    if plan.cancelled_at is not None:
        return False
    occasions = _occasions_for_update(session, plan)
    started = _started(session, [one.id for one in occasions if one.id is not None])
    _remove(session, actor, registration, [one for one in occasions if one.id not in started])
    plan.cancelled_at = utcnow()
    session.add(plan)
    record(session, actor, "cancel", "measurement_plan", plan.id, registration_id=registration.id)
    return True


# --- Reading ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Occasion:
    public_id: str
    number: int
    due_on: date
    opens_on: date | None
    status: str  # waiting (not open yet), open, started, overdue, non_response, submitted
    started: bool  # a draft exists (also for overdue and non-response)
    submitted_at: datetime | None
    link_expires_at: datetime | None  # informants: the current link, if one was given out
    link_closed: bool  # ... and whether it was closed (answers removed by the informant)

    @property
    def can_have_link(self) -> bool:
        return self.status not in ("waiting", "submitted")


@dataclass(frozen=True)
class PlanView:
    public_id: str
    questionnaire_key: str
    respondent: Respondent
    relation: str
    start_on: date
    interval_weeks: int | None
    end_on: date | None
    occurrences: int | None
    cancelled_at: datetime | None
    occasions: list[Occasion]

    @property
    def for_informant(self) -> bool:
        return self.respondent is Respondent.informant


@dataclass(frozen=True)
class ClientPlans:
    public_id: str
    display_name: str
    plans: list[PlanView]  # running plans first, each newest first
    registration_id: int  # for the audit row of the page view


def occasion_status(
    due_on: date, opened: date | None, state: SubmissionStatus | None, next_due: date | None, today: date
) -> str:
    """What a therapist should know about one occasion today.

    "non_response" is the rule ``assignments.missed_by`` applies in SQL (what clients, reminders and the
    caseload go by); tests/test_plans.py checks that the two agree.
    """
    if state is SubmissionStatus.submitted:
        return "submitted"
    superseded = next_due is not None and next_due <= today
    if superseded or (today - due_on).days > NON_RESPONSE_DAYS:
        return "non_response"
    if opened is not None and opened > today:
        return "waiting"
    if due_on < today:
        return "overdue"
    return "started" if state is SubmissionStatus.draft else "open"


def plans_of(session: Session, actor: Actor, public_id: str, today: date) -> ClientPlans:
    """The plans of one of the actor's own clients with every occasion (NotFound otherwise).

    A read only, for a read transaction: the view audits it afterwards in a short write
    (``client_record.audit_read``, object type "measurement_plans").
    """
    assert actor.user_id is not None
    registration = registration_of(session, actor.user_id, public_id)
    assert registration.id is not None
    client = session.get(User, registration.user_id)
    plans = list(
        session.exec(
            select(MeasurementPlan)
            .where(MeasurementPlan.registration_id == registration.id)
            .order_by(col(MeasurementPlan.created_at).desc(), col(MeasurementPlan.id).desc())
        )
    )
    rows = session.exec(
        select(
            Assignment, Submission.status, Submission.submitted_at, InformantLink.expires_at, InformantLink.closed_at
        )
        .outerjoin(Submission, col(Submission.assignment_id) == Assignment.id)
        .outerjoin(InformantLink, col(InformantLink.assignment_id) == Assignment.id)
        .where(Assignment.registration_id == registration.id, col(Assignment.plan_id).is_not(None))
        .order_by(col(Assignment.occasion), col(Assignment.id))
    ).all()
    by_plan: dict[int, list[tuple[Assignment, SubmissionStatus | None, datetime | None, datetime | None, bool]]] = {}
    for assignment, state, submitted_at, expires_at, closed_at in rows:
        assert assignment.plan_id is not None
        by_plan.setdefault(assignment.plan_id, []).append(
            (assignment, state, submitted_at, expires_at, closed_at is not None)
        )
    views = []
    for plan in plans:
        found = by_plan.get(plan.id or 0, [])
        occasions = []
        for index, (assignment, state, submitted_at, expires_at, closed) in enumerate(found):
            next_due = found[index + 1][0].due_on if index + 1 < len(found) else None
            due = assignment.due_on or plan.start_on
            occasions.append(
                Occasion(
                    assignment.public_id,
                    assignment.occasion or index + 1,
                    due,
                    assignment.opens_on,
                    occasion_status(due, assignment.opens_on, state, next_due, today),
                    state is not None,
                    submitted_at,
                    expires_at,
                    closed,
                )
            )
        views.append(
            PlanView(
                plan.public_id,
                plan.questionnaire_key,
                plan.respondent,
                plan.informant_label,
                plan.start_on,
                plan.interval_weeks,
                plan.end_on,
                plan.occurrences,
                plan.cancelled_at,
                occasions,
            )
        )
    views.sort(key=lambda view: view.cancelled_at is not None)  # stable: newest first within each group
    name = client.display_name if client else ""
    return ClientPlans(registration.public_id, name, views, registration.id)
