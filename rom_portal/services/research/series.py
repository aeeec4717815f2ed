"""One streaming pass over the scores of one questionnaire: a series of measurements per client and respondent.

The database filters (clients whose consent was given before the cut-off and is still open, measurements
submitted before the cut-off, scored) and orders the rows by
client, so the pass holds one client's rows at a time, never the whole questionnaire. A client's informant series
is the one of the informant who filled it in first: a mother's later scores are compared with her own first one,
never with a teacher's, and every client counts once per respondent type.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, select
from sqlmodel import Session, col

from rom_portal.models import Assignment, Registration, Score, Submission, SubmissionStatus
from rom_portal.services.consent import research_consented

BATCH = 5000


@dataclass(frozen=True, slots=True)
class Measurement:
    submitted_at: datetime
    value: float
    band: str | None


@dataclass
class ClientSeries:
    """One client's scored measurements of one questionnaire by one respondent type, oldest first, per scale."""

    birth_year: int | None
    sex: str | None
    respondent: str  # "self" or "informant"
    first_at: datetime  # the first submission of this series (the age band is taken then)
    scales: dict[str, list[Measurement]] = field(default_factory=dict)


def _statement(questionnaire_key: str, before: datetime):  # type: ignore[no-untyped-def]
    return (
        select(
            col(Score.registration_id),
            col(Registration.birth_year),
            col(Registration.sex),
            col(Assignment.respondent),
            col(Assignment.informant_label),
            col(Submission.submitted_at),
            col(Score.scale_id),
            col(Score.value),
            col(Score.band),
        )
        .select_from(Score)
        .join(Submission, col(Submission.id) == col(Score.submission_id))
        .join(Assignment, col(Assignment.id) == col(Submission.assignment_id))
        .join(Registration, col(Registration.id) == col(Score.registration_id))
        .where(
            and_(
                col(Assignment.questionnaire_key) == questionnaire_key,
                col(Submission.status) == SubmissionStatus.submitted,
                col(Submission.submitted_at) < before,
                col(Score.value).is_not(None),
                col(Score.registration_id).in_(research_consented(given_before=before)),
            )
        )
        .order_by(
            col(Score.registration_id),
            col(Assignment.respondent),
            col(Assignment.informant_label),
            col(Submission.submitted_at),
            col(Submission.id),
        )
    )


def client_series(session: Session, questionnaire_key: str, before: datetime) -> Iterator[ClientSeries]:
    """The series of every consenting client, one client at a time (at most one per respondent type)."""
    rows = session.execute(_statement(questionnaire_key, before), execution_options={"yield_per": BATCH})
    current: int | None = None
    chosen: dict[str, ClientSeries] = {}  # respondent type -> its series for the current client
    label_of: dict[str, str] = {}
    for registration_id, birth_year, sex, respondent, label, submitted_at, scale_id, value, band in rows:
        if registration_id != current:
            yield from chosen.values()
            current, chosen, label_of = registration_id, {}, {}
        kind = str(respondent)
        series = chosen.get(kind)
        if series is None:
            series = chosen[kind] = ClientSeries(birth_year, sex, kind, submitted_at)
            label_of[kind] = label
        elif label != label_of[kind]:
            if submitted_at >= series.first_at:
                continue  # a later informant of the same client: their series is not this client's
            # An informant who started earlier than the one seen first (labels come in alphabetical order).
            series = chosen[kind] = ClientSeries(birth_year, sex, kind, submitted_at)
            label_of[kind] = label
        series.scales.setdefault(scale_id, []).append(Measurement(submitted_at, float(value), band))
    yield from chosen.values()
