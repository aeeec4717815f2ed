"""The demo therapist's caseload: made-up clients with months of measurements, so the charts tell a story.

- Sanne (the demo client who can log in): depression and anxiety going down into the healthy range (recovered).
- Ahmed: depression going up and well-being going down over four months (reliably deteriorated).
- Mark: a PHQ-9 last week with thoughts of self-harm: an open alert waiting for the therapist.
- Daan (10): child questionnaires from his mother and his teacher, two informant lines in one chart.
- Els (79): memory questionnaires from her daughter and her son.
- Lotte: new, the first questionnaire of her plan is overdue.

Each has a measurement plan for the months ahead.

The others cannot log in (their password hash matches no password). Everything is seeded once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, col, select, update

from rom_portal.models import Alert, Answer, Registration, Respondent, Role, User
from rom_portal.models.base import utcnow
from rom_portal.questionnaires import Catalogue
from rom_portal.services import plans
from rom_portal.services.assignments import assign
from rom_portal.services.audit import Actor
from rom_portal.services.consent import record_privacy_statement
from rom_portal.services.filling import save_answers, submit

NO_LOGIN = "!"  # not an argon2 hash: no password matches it


def spread(total: int, item_ids: list[str], low: int = 0, high: int = 3) -> dict[str, int]:
    """Answers from ``low`` to ``high`` over ``item_ids`` adding up to ``total`` (as evenly as possible)."""
    count = len(item_ids)
    total = min(max(total, low * count), high * count)
    base, extra = divmod(total - low * count, count)
    return {item_id: low + base + (1 if index < extra else 0) for index, item_id in enumerate(item_ids)}


def phq9(total: int, item9: int = 0) -> dict[str, int]:
    answers = spread(total - item9, [str(n) for n in range(1, 9)])
    return {**answers, "9": item9, "10": 2 if total >= 15 else 1}


def who5(percentage: int) -> dict[str, int]:
    return spread(round(percentage / 4), [str(n) for n in range(1, 6)], 0, 5)


def psc17(total: int) -> dict[str, int]:
    return spread(total, [str(n) for n in range(1, 18)], 0, 2)


def iqcode(mean: float) -> dict[str, int]:
    return spread(round(mean * 16), [str(n) for n in range(1, 17)], 1, 5)


@dataclass(frozen=True)
class Measured:
    key: str
    days_ago: int
    answers: dict[str, int]
    informant: str = ""  # the relation, for an informant's questionnaire


@dataclass(frozen=True)
class Planned:
    """A measurement plan: ``key`` every ``weeks`` weeks, ``times`` times, the first due in ``first_in`` days."""

    key: str
    first_in: int
    weeks: int
    times: int
    informant: str = ""


@dataclass(frozen=True)
class DemoClient:
    username: str
    name: str
    birth_year: int
    sex: str
    history: tuple[Measured, ...]
    plans: tuple[Planned, ...] = ()


CLIENTS = (
    DemoClient(
        "demo-ahmed",
        "Ahmed",
        1987,
        "male",
        (
            Measured("phq9", 120, phq9(9)),
            Measured("who5", 119, who5(56)),
            Measured("phq9", 78, phq9(12)),
            Measured("who5", 77, who5(44)),
            Measured("phq9", 36, phq9(16)),
            Measured("who5", 35, who5(32)),
        ),
        (Planned("phq9", 6, 6, 4), Planned("who5", 7, 6, 4)),
    ),
    DemoClient(
        "demo-mark",
        "Mark",
        1979,
        "male",
        (Measured("phq9", 70, phq9(11)), Measured("phq9", 6, phq9(15, item9=1))),
        (Planned("phq9", 22, 4, 6),),
    ),
    DemoClient(
        "demo-daan",
        "Daan",
        2016,
        "male",
        (
            Measured("psc17", 150, psc17(22), "moeder"),
            Measured("psc17", 147, psc17(19), "leerkracht"),
            Measured("psc17", 90, psc17(17), "moeder"),
            Measured("psc17", 86, psc17(16), "leerkracht"),
            Measured("psc17", 30, psc17(11), "moeder"),
            Measured("psc17", 26, psc17(13), "leerkracht"),
        ),
        (Planned("psc17", 30, 8, 3, "moeder"), Planned("psc17", 33, 8, 3, "leerkracht")),
    ),
    DemoClient(
        "demo-els",
        "Els",
        1947,
        "female",
        (
            Measured("iqcode16", 200, iqcode(3.4), "dochter"),
            Measured("iqcode16", 195, iqcode(3.3), "zoon"),
            Measured("iqcode16", 100, iqcode(3.6), "dochter"),
            Measured("iqcode16", 12, iqcode(3.9), "dochter"),
            Measured("iqcode16", 10, iqcode(3.7), "zoon"),
        ),
        (Planned("iqcode16", 80, 12, 2, "dochter"),),
    ),
    # New: her first questionnaire of the plan was due four days ago.
    DemoClient("demo-lotte", "Lotte", 1998, "female", (), (Planned("who5", -4, 6, 5),)),
)


def seed_caseload(session: Session, catalogue: Catalogue, therapist: User) -> list[Registration]:
    """The demo therapist's other clients with their histories; nothing when they exist already."""
    assert therapist.id is not None
    existing = set(session.exec(select(User.username).where(col(User.username).startswith("demo-"))).all())
    made: list[Registration] = []
    for client in CLIENTS:
        if client.username in existing:
            continue
        user = User(username=client.username, password_hash=NO_LOGIN, role=Role.client, display_name=client.name)
        session.add(user)
        session.flush()
        assert user.id is not None
        registration = Registration(
            user_id=user.id, therapist_id=therapist.id, birth_year=client.birth_year, sex=client.sex
        )
        registration.created_at = utcnow() - timedelta(days=max([m.days_ago for m in client.history], default=14) + 9)
        session.add(registration)
        session.flush()
        assert registration.id is not None
        record_privacy_statement(session, registration.id)
        for measured in client.history:
            submit_history(session, catalogue, therapist, registration, measured)
        for planned in client.plans:
            plan(session, catalogue, therapist, registration, planned)
        made.append(registration)
    return made


def plan(session: Session, catalogue: Catalogue, therapist: User, registration: Registration, planned: Planned) -> None:
    today = utcnow().date()
    repeat = plans.Repeat(planned.weeks, occurrences=planned.times)
    respondent = Respondent.informant if planned.informant else Respondent.self
    schedule = plans.Schedule(today + timedelta(days=planned.first_in), repeat)
    spec = plans.PlanSpec(planned.key, respondent, planned.informant, schedule)
    actor = Actor(therapist.id, Role.therapist.value, "demo")
    plans.create_plan(session, catalogue, actor, registration.public_id, spec, today)


def submit_history(
    session: Session, catalogue: Catalogue, therapist: User, registration: Registration, measured: Measured
) -> None:
    """One questionnaire filled in and sent ``days_ago``, as if it happened then."""
    when = utcnow() - timedelta(days=measured.days_ago)
    respondent = Respondent.informant if measured.informant else Respondent.self
    assignment = assign(
        session,
        catalogue,
        Actor(therapist.id, Role.therapist.value, "demo"),
        registration,
        measured.key,
        due_on=(when + timedelta(days=2)).date(),
        respondent=respondent,
        informant_label=measured.informant,
    )
    assignment.created_at = when - timedelta(days=5)
    save_answers(session, catalogue, assignment, dict(measured.answers))
    actor = Actor(None, "informant", "demo") if measured.informant else Actor(registration.user_id, "client", "demo")
    submission = submit(session, catalogue, assignment, actor).submission
    submission.started_at = when - timedelta(minutes=11)
    submission.updated_at = submission.submitted_at = when
    session.exec(update(Answer).where(col(Answer.submission_id) == submission.id).values(updated_at=when))
    session.exec(update(Alert).where(col(Alert.submission_id) == submission.id).values(created_at=when))
