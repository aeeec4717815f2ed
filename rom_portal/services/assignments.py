"""Giving a client a questionnaire to fill in: once, or as one occasion of a measurement plan."""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, or_
from sqlmodel import Session, col, select

from rom_portal.models import Assignment, Registration, Respondent
from rom_portal.questionnaires import Catalogue
from rom_portal.services.audit import Actor, record


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


def opened_by(today: date) -> ColumnElement[bool]:
    """SQL condition: the assignment is there for its respondent on ``today`` (the practice's date).

    A planned occasion opens a few days before its due date; anything without ``opens_on`` is open at once.
    """
    return or_(col(Assignment.opens_on).is_(None), col(Assignment.opens_on) <= today)


def assignments_of(session: Session, registration_id: int, respondent: Respondent | None = None) -> list[Assignment]:
    query = select(Assignment).where(Assignment.registration_id == registration_id)
    if respondent is not None:
        query = query.where(Assignment.respondent == respondent)
    return list(session.exec(query.order_by(Assignment.created_at)))
