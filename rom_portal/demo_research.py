"""The demo's research cohort: made-up clients with months of PHQ-9 and GAD-7 scores, so that the demo researcher
sees real figures (a handful of clients would have every cell suppressed).

About 120 clients of a therapist of their own who cannot log in (so the demo therapist's caseload stays the six
clients with a story), of ages from 19 to 80, women and men; about 80% gave research consent. Each has 3 to 8 PHQ-9 and
GAD-7 measurements over the past months, all before the current month (an export counts whole months only),
scored by the real scoring code. Most improve, some do not, a few get worse.

The rows are written in bulk rather than through ``assign``/``save_answers``/``submit`` one at a time: that
would add some 12 seconds to every start of a fresh demo. Seeded once; later starts change nothing.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import insert
from sqlmodel import Session, SQLModel, select

from rom_portal.demo_caseload import NO_LOGIN, phq9, spread
from rom_portal.models import (
    Answer,
    Assignment,
    Consent,
    ConsentKind,
    Registration,
    Respondent,
    Role,
    Score,
    Submission,
    SubmissionStatus,
    User,
)
from rom_portal.models.base import utcnow
from rom_portal.models.clients import new_public_id
from rom_portal.questionnaires import Catalogue, score
from rom_portal.services.consent import PRIVACY_STATEMENT_VERSION, RESEARCH_STATEMENT_VERSION
from rom_portal.services.filling import score_rows

COHORT_THERAPIST = "demo-onderzoekscohort"
COHORT_SIZE = 120
CONSENT_SHARE = 0.8
_SEED = 20261108  # the same made-up people in every demo


@dataclass(frozen=True)
class _Course:
    """How a client's scores move: the fraction of the first score that is left at the end."""

    share: float
    weight: int


_COURSES = (_Course(0.35, 50), _Course(0.7, 22), _Course(1.0, 16), _Course(1.35, 12))


def _gad7(total: int) -> dict[str, int]:
    return {**spread(total, [str(n) for n in range(1, 8)]), "difficulty": 2 if total >= 15 else 1}


def _scores(rng: random.Random, first: int, highest: int, count: int) -> list[int]:
    """``count`` scores from ``first`` along a course chosen at random, with some noise."""
    (course,) = rng.choices(_COURSES, weights=[c.weight for c in _COURSES])
    last = first * course.share
    noisy = [first + (last - first) * step / (count - 1) + rng.uniform(-2.0, 2.0) for step in range(count)]
    return [min(highest, max(0, round(value))) for value in noisy]


def _days_ago(rng: random.Random, count: int, recent: int) -> list[int]:
    """Measurement days, oldest first, every 2 to 6 weeks, the latest ``recent`` days ago or earlier."""
    gaps = [rng.randint(14, 42) for _ in range(count - 1)]
    latest = recent + rng.randint(0, 30)
    days = [latest]
    for gap in gaps:
        days.append(days[-1] + gap)
    return days[::-1]


@dataclass
class _Planned:
    registration: Registration
    key: str
    when: datetime
    answers: dict[str, int]


def seed_research_cohort(session: Session, catalogue: Catalogue, today: date | None = None) -> int:
    """The cohort, once; returns how many clients were made (0 when it exists)."""
    if session.exec(select(User.id).where(User.username == COHORT_THERAPIST)).first() is not None:
        return 0
    rng = random.Random(_SEED)
    now = utcnow()
    today = today or now.date()
    recent = today.day + 1  # before the first of this month, which is as far as an export counts
    therapist = User(
        username=COHORT_THERAPIST, password_hash=NO_LOGIN, role=Role.therapist, display_name="Onderzoekscohort (demo)"
    )
    users = [
        User(
            username=f"demo-cohort-{number:03d}",
            password_hash=NO_LOGIN,
            role=Role.client,
            display_name=f"Cohort {number}",
        )
        for number in range(1, COHORT_SIZE + 1)
    ]
    session.add_all([therapist, *users])
    session.flush()
    assert therapist.id is not None
    planned: list[_Planned] = []
    registrations: list[Registration] = []
    for user in users:
        assert user.id is not None
        registration = Registration(
            user_id=user.id,
            therapist_id=therapist.id,
            birth_year=rng.randint(1946, 2007),
            # No "unknown": a level of a handful of clients makes secondary suppression hide even the totals.
            sex=rng.choice(("female", "male")),
        )
        days = _days_ago(rng, 8, recent)
        phq9_totals = _scores(rng, rng.randint(6, 24), 27, rng.randint(3, 8))
        gad7_totals = _scores(rng, rng.randint(4, 19), 21, rng.randint(3, 8))
        for key, totals, answers in (("phq9", phq9_totals, phq9), ("gad7", gad7_totals, _gad7)):
            for day, total in zip(days, totals, strict=False):
                when = now - timedelta(days=day, minutes=rng.randint(0, 600))
                planned.append(_Planned(registration, key, when, answers(total)))
        registration.created_at = now - timedelta(days=days[0] + 7)
        registrations.append(registration)
    session.add_all(registrations)
    session.flush()
    _consents(session, rng, registrations)
    _submissions(session, catalogue, planned, therapist.id)
    return len(users)


def _consents(session: Session, rng: random.Random, registrations: list[Registration]) -> None:
    consents = []
    for registration in registrations:
        assert registration.id is not None
        given = registration.created_at
        consents.append(
            Consent(
                registration_id=registration.id,
                kind=ConsentKind.privacy_statement,
                statement_version=PRIVACY_STATEMENT_VERSION,
                given_at=given,
            )
        )
        if rng.random() < CONSENT_SHARE:
            consents.append(
                Consent(
                    registration_id=registration.id,
                    kind=ConsentKind.research,
                    statement_version=RESEARCH_STATEMENT_VERSION,
                    given_at=given + timedelta(minutes=5),
                )
            )
    session.add_all(consents)


def _submissions(session: Session, catalogue: Catalogue, planned: list[_Planned], therapist_id: int) -> None:
    """One assignment, submitted, with its answers and the scores the real scoring code gives them.

    Plain rows rather than model objects: making 2,600 of those took most of a second.
    """
    assignment_rows = []
    for one in planned:
        definition = catalogue[one.key]
        assignment_rows.append(
            {
                "public_id": new_public_id(),
                "registration_id": one.registration.id,
                "questionnaire_key": definition.key,
                "questionnaire_version": definition.version,
                "respondent": Respondent.self,
                "informant_label": "",
                "due_on": (one.when + timedelta(days=2)).date(),
                "created_at": one.when - timedelta(days=5),
                "created_by": therapist_id,
            }
        )
    assignment_ids = _insert(session, Assignment, assignment_rows)
    submission_rows = [
        {
            "assignment_id": assignment_id,
            "registration_id": one.registration.id,
            "status": SubmissionStatus.submitted,
            "started_at": one.when - timedelta(minutes=9),
            "updated_at": one.when,
            "submitted_at": one.when,
            "page": 0,
        }
        for one, assignment_id in zip(planned, assignment_ids, strict=True)
    ]
    submission_ids = _insert(session, Submission, submission_rows)
    answers: list[dict[str, object]] = []
    scores: list[dict[str, object]] = []
    for one, submission_id in zip(planned, submission_ids, strict=True):
        assert one.registration.id is not None
        answers += [
            {"submission_id": submission_id, "item_id": item, "value": json.dumps(value), "updated_at": one.when}
            for item, value in one.answers.items()
        ]
        result = score(catalogue[one.key], dict(one.answers))
        scores += [row.model_dump(exclude={"id"}) for row in score_rows(submission_id, one.registration.id, result)]
    session.execute(insert(Answer), answers)
    session.execute(insert(Score), scores)


def _insert(session: Session, table: type[SQLModel], rows: list[dict[str, object]]) -> list[int]:
    """Insert ``rows`` at once; their new ids, in the order of ``rows``."""
    statement = insert(table).returning(table.id, sort_by_parameter_order=True)  # type: ignore[attr-defined]
    return list(session.execute(statement, rows).scalars())
