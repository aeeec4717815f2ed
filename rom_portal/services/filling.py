"""Filling in a questionnaire: drafts saved answer by answer, pages, review, and one idempotent submission.

Used for clients (their own assignments) and informants (the one assignment of their link). The
questionnaire core validates every value; this module owns the draft's life: an answer can change until
the submission is locked, and a locked submission never changes again.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Date, bindparam, not_
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, delete, or_, select, update

from rom_portal.models import (
    Alert,
    Answer,
    Assignment,
    Registration,
    Respondent,
    Score,
    Submission,
    SubmissionStatus,
)
from rom_portal.models.base import utcnow
from rom_portal.questionnaires import (
    AnswerError,
    Catalogue,
    Item,
    Questionnaire,
    Scoring,
    missing_required,
    score,
    validate_answer,
    visible_items,
)
from rom_portal.services.assignments import NON_RESPONSE_DAYS, missed_by, opened_by
from rom_portal.services.audit import Actor, record

PAGE_SIZE = 10  # answerable items per page: a phone screen or two, never a wall of questions


class NotFound(LookupError):
    """Out of reach or unknown: the view answers 404, whatever the reason."""


class Locked(Exception):
    """The submission is already submitted; its answers can no longer change."""


def definition_of(catalogue: Catalogue, assignment: Assignment) -> Questionnaire:
    return catalogue.get_version(assignment.questionnaire_key, assignment.questionnaire_version)


def pages_of(definition: Questionnaire) -> list[list[Item]]:
    """Items split into pages of at most PAGE_SIZE answerable items; instructions go with what follows."""
    pages: list[list[Item]] = [[]]
    answerable = 0
    for item in definition.items:
        if item.type != "instruction":
            if answerable == PAGE_SIZE:
                pages.append([])
                answerable = 0
            answerable += 1
        pages[-1].append(item)
    return pages


def dependants(definition: Questionnaire, item_id: str) -> list[Item]:
    """Items whose show-if looks at ``item_id``: their visibility may change when it is answered."""
    return [item for item in definition.items if item.show_if is not None and item_id in _mentions(item.show_if)]


def _mentions(condition: Any) -> set[str]:
    found: set[str] = set()
    item = getattr(condition, "item", None)
    if item is not None:
        found.add(str(item))
    for name in ("any", "all"):
        for part in getattr(condition, name, None) or []:
            found |= _mentions(part)
    return found


# --- Finding what a visitor may fill in ------------------------------------------------------------------


def registration_of_user(session: Session, user_id: int) -> Registration:
    registration = session.exec(select(Registration).where(Registration.user_id == user_id)).first()
    if registration is None:
        raise NotFound()
    return registration


@functools.cache
def _client_assignment_statement() -> Any:
    # Built once (this runs for every fill-in request); scoped to the client through the join, not by id alone.
    today, late_before = bindparam("today", type_=Date), bindparam("late_before", type_=Date)
    return (
        select(Assignment)
        .join(Registration, col(Registration.id) == Assignment.registration_id)
        .outerjoin(Submission, col(Submission.assignment_id) == Assignment.id)
        .where(
            Assignment.public_id == bindparam("public_id"),
            Registration.user_id == bindparam("user_id"),
            Assignment.respondent == Respondent.self,
            opened_by(today),
            # Once sent it stays reachable (the thank-you page); unsent, only until closed as non-response.
            or_(Submission.status == SubmissionStatus.submitted, not_(missed_by(today, late_before))),
        )
    )


def client_assignment(session: Session, user_id: int, public_id: str, today: date) -> Assignment:
    """An open assignment of this client, for the client themself (never an informant's): else NotFound.

    A planned occasion that has not opened yet (``opens_on`` after ``today``), or was closed as non-response
    without being sent, is not there for the client.
    """
    late_before = today - timedelta(days=NON_RESPONSE_DAYS)
    params = {"public_id": public_id, "user_id": user_id, "today": today, "late_before": late_before}
    assignment = session.exec(_client_assignment_statement(), params=params).first()
    if assignment is None:
        raise NotFound()
    return assignment


def client_draft(session: Session, user_id: int, public_id: str, today: date) -> Draft:
    """``client_assignment`` and its draft in one transaction (the fill-in page needs both)."""
    return load_draft(session, client_assignment(session, user_id, public_id, today))


# --- The draft -------------------------------------------------------------------------------------------


@dataclass
class Draft:
    assignment: Assignment
    submission: Submission | None
    answers: dict[str, Any] = field(default_factory=dict)

    @property
    def submitted(self) -> bool:
        return self.submission is not None and self.submission.status is SubmissionStatus.submitted


@functools.cache
def _draft_statement() -> Any:
    return (
        select(Submission, Answer.item_id, Answer.value)
        .outerjoin(Answer, col(Answer.submission_id) == Submission.id)
        .where(Submission.assignment_id == bindparam("assignment_id"))
    )


def load_draft(session: Session, assignment: Assignment) -> Draft:
    """The submission (if any) with its answers, in one query."""
    rows = session.execute(_draft_statement(), {"assignment_id": assignment.id}).all()
    if not rows:
        return Draft(assignment, None)
    answers = {item_id: json.loads(value) for _, item_id, value in rows if item_id is not None}
    return Draft(assignment, rows[0][0], answers)


def _submission_for_writing(session: Session, assignment: Assignment) -> Submission:
    submission = session.exec(
        select(Submission).where(Submission.assignment_id == assignment.id).with_for_update()
    ).first()
    if submission is None:
        assert assignment.id is not None
        submission = Submission(assignment_id=assignment.id, registration_id=assignment.registration_id)
        session.add(submission)
        session.flush()
    if submission.status is SubmissionStatus.submitted:
        raise Locked()
    return submission


@dataclass(frozen=True)
class _AutosaveStatements:
    find: Any  # the submission's id and status, locked for this transaction on PostgreSQL
    upsert: Any  # one answer
    touch: Any  # the submission's updated_at
    touch_page: Any  # ... and the page the respondent is on


@functools.cache
def _autosave_statements(dialect: str) -> _AutosaveStatements:
    """Built once per dialect. Building them for every answer cost more than running them (SQLAlchemy derives
    the ``excluded`` columns and a cache key anew for each new statement object), and an autosave runs inside
    the database's one-writer section, where every microsecond holds up the other writers."""
    submissions, answers = Submission.__table__, Answer.__table__
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    upsert = insert(answers).values(
        submission_id=bindparam("b_submission"),
        item_id=bindparam("b_item"),
        value=bindparam("b_value"),
        updated_at=bindparam("b_now"),
    )
    upsert = upsert.on_conflict_do_update(
        index_elements=["submission_id", "item_id"],
        set_={"value": upsert.excluded.value, "updated_at": upsert.excluded.updated_at},
    )
    touch = update(submissions).where(submissions.c.id == bindparam("b_submission"))
    return _AutosaveStatements(
        find=select(submissions.c.id, submissions.c.status)
        .where(submissions.c.assignment_id == bindparam("b_assignment"))
        .with_for_update(),
        upsert=upsert,
        touch=touch.values(updated_at=bindparam("b_now")),
        touch_page=touch.values(updated_at=bindparam("b_now"), page=bindparam("b_page")),
    )


def save_answers(
    session: Session, catalogue: Catalogue, assignment: Assignment, raw: dict[str, Any], *, page: int | None = None
) -> dict[str, str]:
    """Validate and save each answer in ``raw`` (item id → posted value; blank clears it).

    Valid answers are saved even when others in the same post are not; the problems are returned per item
    (the core's message, in English, for the view to turn into words for the respondent). An unknown item
    is a problem too, and changes nothing.
    """
    definition = definition_of(catalogue, assignment)
    statements = _autosave_statements(session.get_bind().dialect.name)
    session.flush()  # the plain statements below do not flush pending ORM changes themselves
    found = session.execute(statements.find, {"b_assignment": assignment.id}).first()
    if found is None:
        submission_id = _submission_for_writing(session, assignment).id
    elif found.status is SubmissionStatus.submitted:
        raise Locked()
    else:
        submission_id = found.id
    assert submission_id is not None
    problems: dict[str, str] = {}
    now = utcnow()
    for item_id, value in raw.items():
        if not definition.has_item(item_id):
            problems[item_id] = "unknown item"
            continue
        try:
            checked = validate_answer(definition.item(item_id), value)
        except AnswerError as error:
            problems[item_id] = str(error)
            continue
        if checked is None:
            session.exec(
                delete(Answer).where(col(Answer.submission_id) == submission_id, col(Answer.item_id) == item_id)
            )
        else:
            values = {"b_submission": submission_id, "b_item": item_id, "b_value": json.dumps(checked), "b_now": now}
            session.execute(statements.upsert, values)
    loaded = session.identity_map.get(session.identity_key(Submission, submission_id))
    if isinstance(loaded, Submission):  # already in this session: change it there, or the session would go stale
        loaded.updated_at = now
        if page is not None:
            loaded.page = page
    elif page is None:
        session.execute(statements.touch, {"b_submission": submission_id, "b_now": now})
    else:
        session.execute(statements.touch_page, {"b_submission": submission_id, "b_now": now, "b_page": page})
    return problems


def save_and_reload(
    session: Session, catalogue: Catalogue, assignment: Assignment, raw: dict[str, Any]
) -> tuple[dict[str, str], Draft]:
    """``save_answers``, then the draft as it now stands, read in the same transaction (no second round trip):
    for an answer that other questions' show-if rules depend on."""
    problems = save_answers(session, catalogue, assignment, raw)
    return problems, load_draft(session, assignment)


# --- Review and submission -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Review:
    draft: Draft
    visible: list[Item]
    missing: list[str]  # required visible items without an answer


def review(session: Session, catalogue: Catalogue, assignment: Assignment) -> Review:
    draft = load_draft(session, assignment)
    definition = definition_of(catalogue, assignment)
    visible = [item for item in visible_items(definition, draft.answers) if item.type != "instruction"]
    return Review(draft, visible, missing_required(definition, draft.answers))


@dataclass(frozen=True)
class Submitted:
    submission: Submission
    alerts: list[str]  # item ids of critical rules that fired
    first_time: bool  # False for a repeated submit (double click, retry): nothing changed


class Incomplete(Exception):
    def __init__(self, missing: list[str]) -> None:
        super().__init__(", ".join(missing))
        self.missing = missing


def score_rows(submission_id: int, registration_id: int, result: Scoring) -> list[Score]:
    """The stored scores of a submission: one row per scale (None when not scorable, never 0)."""
    return [
        Score(
            submission_id=submission_id,
            registration_id=registration_id,
            scale_id=scale_id,
            value=None if scale_score.score is None else float(scale_score.score),
            band=scale_score.band,
            complete=scale_score.complete,
            prorated=scale_score.prorated,
            answered=scale_score.answered,
        )
        for scale_id, scale_score in result.scales.items()
    ]


def submit(session: Session, catalogue: Catalogue, assignment: Assignment, actor: Actor) -> Submitted:
    """Lock the answers, store scores and alerts. Submitting again returns the first result and changes nothing."""
    submission = session.exec(
        select(Submission).where(Submission.assignment_id == assignment.id).with_for_update()
    ).first()
    if submission is not None and submission.status is SubmissionStatus.submitted:
        alerts = session.exec(select(Alert.item_id).where(Alert.submission_id == submission.id)).all()
        return Submitted(submission, list(alerts), first_time=False)
    draft = load_draft(session, assignment)
    definition = definition_of(catalogue, assignment)
    missing = missing_required(definition, draft.answers)
    if missing or submission is None:
        raise Incomplete(missing or [item.id for item in definition.items if item.type != "instruction"][:1])
    assert submission.id is not None
    result = score(definition, draft.answers)
    session.add_all(score_rows(submission.id, assignment.registration_id, result))
    for alert in result.alerts:
        session.add(
            Alert(submission_id=submission.id, registration_id=assignment.registration_id, item_id=alert.item_id)
        )
    now = utcnow()
    submission.status = SubmissionStatus.submitted
    submission.submitted_at = now
    submission.updated_at = now
    record(session, actor, "submit", "submission", submission.id, registration_id=assignment.registration_id)
    return Submitted(submission, [alert.item_id for alert in result.alerts], first_time=True)


@dataclass(frozen=True)
class Outcome:
    submitted_at: Any
    alerts: list[str]


def outcome(session: Session, assignment: Assignment) -> Outcome | None:
    """For the thank-you page: when it was sent, and whether a critical answer raised an alert."""
    submission = session.exec(select(Submission).where(Submission.assignment_id == assignment.id)).first()
    if submission is None or submission.status is not SubmissionStatus.submitted:
        return None
    alerts = session.exec(select(Alert.item_id).where(Alert.submission_id == submission.id)).all()
    return Outcome(submission.submitted_at, list(alerts))
