"""What the portal keeps about a client, shown to the client on their privacy page; and changing their roepnaam.

Everything is found through the logged-in client's own registration, never by an id from the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from rom_portal.i18n import N_
from rom_portal.models import Assignment, Registration, Respondent, Submission, SubmissionStatus, User
from rom_portal.services.audit import Actor, record
from rom_portal.services.consent import ResearchConsent, consents_of
from rom_portal.services.filling import NotFound, registration_of_user
from rom_portal.services.onboarding import DISPLAY_NAME_MAX, clean_text

__all__ = ["NameRefused", "NotFound", "StoredData", "display_name_problem", "rename", "stored_data_of"]


class NameRefused(ValueError):
    """The roepnaam breaks the rules; ``args[0]`` is the message id to show."""


@dataclass(frozen=True)
class StoredData:
    username: str
    display_name: str
    locale: str | None
    has_second_factor: bool
    therapist_name: str  # "" when the therapist has no display name: clients never see a staff login name
    registered_at: datetime
    birth_year: int | None
    sex: str | None
    results_visible: bool
    show_name_to_informants: bool
    has_reminder_address: bool
    questionnaires_sent: int  # by the client, submitted
    informant_questionnaires: int  # about the client, submitted by informants
    consents: ResearchConsent


def _submitted_counts(session: Session, registration_id: int) -> dict[Respondent, int]:
    rows = session.exec(
        select(Assignment.respondent, func.count())
        .join(Submission, col(Submission.assignment_id) == Assignment.id)
        .where(Submission.registration_id == registration_id, Submission.status == SubmissionStatus.submitted)
        .group_by(Assignment.respondent)
    )
    return {Respondent(respondent): count for respondent, count in rows}


def stored_data_of(session: Session, user_id: int) -> StoredData:
    registration = registration_of_user(session, user_id)
    assert registration.id is not None
    user = session.get(User, user_id)
    therapist = session.get(User, registration.therapist_id)
    assert user is not None and therapist is not None
    counts = _submitted_counts(session, registration.id)
    return StoredData(
        username=user.username,
        display_name=user.display_name,
        locale=user.locale,
        has_second_factor=user.totp_secret is not None,
        therapist_name=therapist.display_name,
        registered_at=registration.created_at,
        birth_year=registration.birth_year,
        sex=registration.sex,
        results_visible=registration.results_visible,
        show_name_to_informants=registration.show_name_to_informants,
        has_reminder_address=registration.reminder_email is not None,
        questionnaires_sent=counts.get(Respondent.self, 0),
        informant_questionnaires=counts.get(Respondent.informant, 0),
        consents=consents_of(session, registration.id),
    )


def display_name_problem(name: str) -> str | None:
    """The roepnaam rules of registration (onboarding): required, at most 80 characters. A message id or None."""
    if not name:
        return N_("Fill in the name we may call you by.")
    if len(name) > DISPLAY_NAME_MAX:
        return N_("Use at most 80 characters.")
    return None


def rename(session: Session, actor: Actor, typed: str) -> bool:
    """Change the client's roepnaam (typed text, cleaned first); False when it stays the same.

    Raises NameRefused when the name breaks the rules. The audit row does not hold the name.
    """
    assert actor.user_id is not None
    name = clean_text(typed)
    problem = display_name_problem(name)
    if problem:
        raise NameRefused(problem)
    registration: Registration = registration_of_user(session, actor.user_id)
    user = session.get(User, actor.user_id)
    assert user is not None
    if user.display_name == name:
        return False
    user.display_name = name
    session.add(user)
    record(session, actor, "update", "display_name", user.id, registration_id=registration.id)
    return True
