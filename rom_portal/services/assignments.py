"""Giving a client a questionnaire to fill in: once, or as one occasion of a measurement plan."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, not_, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from rom_portal.models import Assignment, Registration, Respondent
from rom_portal.questionnaires import Catalogue
from rom_portal.services.audit import Actor, record

NON_RESPONSE_DAYS = 14  # a planned occasion not sent this long after its due date is a non-response


class UnknownQuestionnaire(LookupError):
    pass


def assign(
    session: Session,
    catalogue: Catalogue,
    actor: Actor,
    registration: Registration,
    questionnaire_key: str,
    *,
    due_on: date | None = None,
    respondent: Respondent = Respondent.self,
    informant_label: str = "",
    opens_on: date | None = None,
    plan_id: int | None = None,
    occasion: int | None = None,
) -> Assignment:
    """A new assignment of the latest version of ``questionnaire_key``; the caller has checked the caseload."""
    if questionnaire_key not in catalogue:
        raise UnknownQuestionnaire(questionnaire_key)
    definition = catalogue[questionnaire_key]
    assert registration.id is not None
    assignment = Assignment(
        registration_id=registration.id,
        questionnaire_key=definition.key,
        questionnaire_version=definition.version,
        respondent=respondent,
        informant_label=informant_label,
        due_on=due_on,
        opens_on=opens_on,
        plan_id=plan_id,
        occasion=occasion,
        created_by=actor.user_id,
    )
    session.add(assignment)
    session.flush()
    record(session, actor, "create", "assignment", assignment.id, registration_id=registration.id)
    return assignment


def opened_by(today: Any) -> ColumnElement[bool]:
    """SQL condition: the assignment is there for its respondent on ``today`` (the practice's date).

    A planned occasion opens a few days before its due date; anything without ``opens_on`` is open at once.
    """
    return or_(col(Assignment.opens_on).is_(None), col(Assignment.opens_on) <= today)


def missed_by(today: Any, late_before: Any = None) -> ColumnElement[bool]:
    """SQL condition: a planned occasion closed as non-response on ``today``.

    More than NON_RESPONSE_DAYS past its due date, or the next occasion of its plan is due already: the
    respondent fills in that one instead, so a late answer is never charted as a later measurement. It is no
    longer offered, reminded or counted as overdue (the plans page shows it as non-response). A questionnaire
    given once, outside a plan, stays open until it is sent.

    ``today`` is a date or a bind parameter; with a bind parameter also give ``late_before`` (today minus
    NON_RESPONSE_DAYS) as one, since SQLite cannot subtract days from a date.
    """
    later = aliased(Assignment)
    superseded = exists().where(
        later.plan_id == Assignment.plan_id,
        col(later.occasion) > col(Assignment.occasion),
        col(later.due_on) <= today,
    )
    if late_before is None:
        late_before = today - timedelta(days=NON_RESPONSE_DAYS)
    too_late = col(Assignment.due_on) < late_before
    return and_(col(Assignment.plan_id).is_not(None), or_(too_late, superseded))


def still_open(today: date) -> ColumnElement[bool]:
    """SQL condition: an assignment not sent yet is there for its respondent on ``today``."""
    return and_(opened_by(today), not_(missed_by(today)))


def assignments_of(session: Session, registration_id: int, respondent: Respondent | None = None) -> list[Assignment]:
    query = select(Assignment).where(Assignment.registration_id == registration_id)
    if respondent is not None:
        query = query.where(Assignment.respondent == respondent)
    return list(session.exec(query.order_by(Assignment.created_at)))
