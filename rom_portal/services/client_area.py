"""The client's own area: what is still to be filled in, what is done, and their own scores over time.

Everything is found through the logged-in client's registration (never by an id from the request), and
only the client's own questionnaires count: what an informant filled in about them is the therapist's
to discuss, not shown here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, or_, select

from rom_portal.models import Assignment, Registration, Respondent, Score, Submission, SubmissionStatus
from rom_portal.questionnaires import Band, Catalogue, LocalText, Questionnaire, Scale, scale_range
from rom_portal.services.assignments import opened_by, still_open
from rom_portal.services.audit import Actor, record
from rom_portal.services.filling import NotFound, registration_of_user

__all__ = [
    "ClientHome",
    "Completed",
    "InstrumentResults",
    "Measurement",
    "NotFound",
    "OpenQuestionnaire",
    "home_of",
    "practice_today",
    "results_of",
]


def practice_today(timezone: str) -> date:
    """Today in the practice's time zone: a questionnaire due "today" is not overdue before midnight there."""
    return datetime.now(ZoneInfo(timezone)).date()


def _title(catalogue: Catalogue, key: str, version: int) -> LocalText | None:
    try:
        return catalogue.get_version(key, version).title
    except KeyError:  # a definition taken out of the catalogue: show its key rather than fail the page
        return None


# --- Home ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenQuestionnaire:
    public_id: str
    key: str
    title: LocalText | None
    due_on: date | None
    overdue: bool
    started: bool  # a draft exists: "continue where you left off"

    def title_in(self, lang: str) -> str:
        return self.title.get(lang) if self.title else self.key


@dataclass(frozen=True)
class Completed:
    key: str
    title: LocalText | None
    submitted_at: datetime

    def title_in(self, lang: str) -> str:
        return self.title.get(lang) if self.title else self.key


@dataclass(frozen=True)
class ClientHome:
    open: list[OpenQuestionnaire]
    completed: list[Completed]  # latest first
    results_visible: bool


def home_of(session: Session, catalogue: Catalogue, user_id: int, today: date) -> ClientHome:
    """The client's own questionnaires: open ones (soonest due first) and submitted ones (latest first)."""
    registration = registration_of_user(session, user_id)
    rows = session.exec(
        select(Assignment, Submission)
        .join(Submission, col(Submission.assignment_id) == Assignment.id, isouter=True)
        .where(
            Assignment.registration_id == registration.id,
            Assignment.respondent == Respondent.self,
            opened_by(today),  # a planned occasion is listed from its opening day on
            # ... and until it is sent or closed as non-response
            or_(Submission.status == SubmissionStatus.submitted, still_open(today)),
        )
        .order_by(col(Assignment.created_at), col(Assignment.id))
    ).all()
    open_ones: list[OpenQuestionnaire] = []
    completed: list[Completed] = []
    for assignment, submission in rows:
        title = _title(catalogue, assignment.questionnaire_key, assignment.questionnaire_version)
        if submission is not None and submission.status is SubmissionStatus.submitted:
            assert submission.submitted_at is not None
            completed.append(Completed(assignment.questionnaire_key, title, submission.submitted_at))
            continue
        open_ones.append(
            OpenQuestionnaire(
                public_id=assignment.public_id,
                key=assignment.questionnaire_key,
                title=title,
                due_on=assignment.due_on,
                overdue=assignment.due_on is not None and assignment.due_on < today,
                started=submission is not None,
            )
        )
    # Without a due date last; otherwise in the order given (the sort is stable).
    open_ones.sort(key=lambda one: (one.due_on is None, one.due_on or date.max))
    completed.sort(key=lambda one: one.submitted_at, reverse=True)
    return ClientHome(open_ones, completed, registration.results_visible)


# --- Results ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    submitted_at: datetime
    value: float | None  # None: not scorable (too many questions skipped)
    prorated: bool  # estimated from the answered questions
    band: Band | None
    band_rank: int  # 1 = the most favourable band ... band_count = the least favourable; 0 without a band
    band_count: int  # bands of the scale in the version that was filled in


@dataclass(frozen=True)
class InstrumentResults:
    key: str
    definition: Questionnaire  # the latest version: its scale gives the chart's range and bands
    scale: Scale
    low: float
    high: float
    measurements: list[Measurement]  # oldest first

    @property
    def scored(self) -> list[Measurement]:
        return [one for one in self.measurements if one.value is not None]


def _primary_scale(definition: Questionnaire) -> Scale | None:
    # The first scale is the instrument's headline score ("total"). Sub-scales and alternative forms of the
    # same score (WHO-5 raw next to the percentage) are for the therapist; a client sees one clear line.
    return definition.scales[0] if definition.scales else None


def _band_rank(scale: Scale, band_id: str | None) -> tuple[Band | None, int]:
    """The band and its place counted from the most favourable end (the low end when higher is worse)."""
    ordered = sorted(scale.bands, key=lambda band: band.min)
    if scale.direction == "higher_is_better":
        ordered.reverse()
    for position, band in enumerate(ordered, start=1):
        if band.id == band_id:
            return band, position
    return None, 0


def results_of(session: Session, catalogue: Catalogue, actor: Actor) -> list[InstrumentResults]:
    """The actor's (a client's) own scores per questionnaire, most recently filled in first.

    NotFound when the practice does not show clients their results. Reading them is audited.
    """
    assert actor.user_id is not None
    registration = registration_of_user(session, actor.user_id)
    if not registration.results_visible:
        raise NotFound()
    record(session, actor, "read", "results", registration.id, registration_id=registration.id)
    return _results(session, catalogue, registration)


def _results(session: Session, catalogue: Catalogue, registration: Registration) -> list[InstrumentResults]:
    rows = session.exec(
        select(Assignment, Submission)
        .join(Submission, col(Submission.assignment_id) == Assignment.id)
        .where(
            Assignment.registration_id == registration.id,
            Assignment.respondent == Respondent.self,
            Submission.status == SubmissionStatus.submitted,
        )
        .order_by(col(Submission.submitted_at), col(Submission.id))
    ).all()
    submission_ids = [submission.id for _, submission in rows]
    scores: dict[tuple[int, str], Score] = {}
    if submission_ids:
        for row in session.exec(
            select(Score).where(Score.registration_id == registration.id, col(Score.submission_id).in_(submission_ids))
        ):
            scores[(row.submission_id, row.scale_id)] = row
    by_key: dict[str, list[Measurement]] = {}
    for assignment, submission in rows:
        key = assignment.questionnaire_key
        if key not in catalogue:
            continue
        try:
            used = catalogue.get_version(key, assignment.questionnaire_version)
        except KeyError:
            used = catalogue[key]
        scale = _primary_scale(catalogue[key])
        if scale is None or not used.has_scale(scale.id):
            continue
        row = scores.get((submission.id, scale.id))  # type: ignore[arg-type]
        if row is None:
            continue
        used_scale = used.scale(scale.id)
        band, rank = _band_rank(used_scale, row.band)
        assert submission.submitted_at is not None
        by_key.setdefault(key, []).append(
            Measurement(submission.submitted_at, row.value, row.prorated, band, rank, len(used_scale.bands))
        )
    results: list[InstrumentResults] = []
    for key, measurements in by_key.items():
        definition = catalogue[key]
        scale = _primary_scale(definition)
        assert scale is not None
        low, high = scale_range(definition, scale)
        results.append(InstrumentResults(key, definition, scale, float(low), float(high), measurements))
    results.sort(key=lambda one: one.measurements[-1].submitted_at, reverse=True)
    return results
