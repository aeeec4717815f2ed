"""Clients with scored questionnaires and research consent, written straight into the database for export tests.

The scores come from the real scoring code (answers spread over the items by ``demo_caseload``), so bands and
reliable change are the portal's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from rom_portal.demo_caseload import phq9
from rom_portal.models import (
    Answer,
    Assignment,
    Consent,
    ConsentKind,
    Registration,
    Respondent,
    Role,
    Submission,
    SubmissionStatus,
    User,
)
from rom_portal.models.base import utcnow
from rom_portal.questionnaires import Catalogue, score
from rom_portal.services.filling import score_rows

# A fixed point well before the start of the current month: exports count measurements before that month.
EPOCH = datetime(2025, 1, 6, 10, 0, tzinfo=utcnow().tzinfo)


@dataclass(frozen=True)
class Person:
    birth_year: int | None = 1980
    sex: str | None = "female"
    consent: bool = True
    totals: tuple[int, ...] = (15, 8)  # PHQ-9 totals, one measurement every 4 weeks
    informant: str = ""  # a label: the measurements are by this informant (for informant forms)
    key: str = "phq9"


def add_client(
    session: Session, catalogue: Catalogue, therapist_id: int, person: Person, name: str, answers_of=None
) -> Registration:
    user = User(username=name, password_hash="-", role=Role.client, display_name=name)
    session.add(user)
    session.flush()
    registration = Registration(
        user_id=user.id, therapist_id=therapist_id, birth_year=person.birth_year, sex=person.sex
    )
    session.add(registration)
    session.flush()
    if person.consent:
        session.add(
            Consent(registration_id=registration.id, kind=ConsentKind.research, statement_version="t", given_at=EPOCH)
        )
    definition = catalogue[person.key]
    for index, total in enumerate(person.totals):
        when = EPOCH + timedelta(weeks=4 * index)
        add_measurement(session, definition, registration, when, (answers_of or phq9)(total), person.informant)
    session.flush()
    return registration


def add_measurement(
    session, definition, registration, when: datetime, answers: dict, informant: str = "", submitted: bool = True
) -> None:
    """A scored submission (``submitted=False``: a draft, with a time of submission as a broken row might have)."""
    assignment = Assignment(
        registration_id=registration.id,
        questionnaire_key=definition.key,
        questionnaire_version=definition.version,
        respondent=Respondent.informant if informant else Respondent.self,
        informant_label=informant,
    )
    session.add(assignment)
    session.flush()
    submission = Submission(
        assignment_id=assignment.id,
        registration_id=registration.id,
        status=SubmissionStatus.submitted if submitted else SubmissionStatus.draft,
        started_at=when,
        updated_at=when,
        submitted_at=when,
    )
    session.add(submission)
    session.flush()
    for item_id, value in answers.items():
        session.add(Answer(submission_id=submission.id, item_id=item_id, value=str(value)))
    session.add_all(score_rows(submission.id, registration.id, score(definition, answers)))
