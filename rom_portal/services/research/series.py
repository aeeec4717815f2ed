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
from typing import Any

from sqlalchemy import DateTime, String, and_, select, type_coerce
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
            type_coerce(col(Assignment.respondent), String()),  # the stored text, no enum per row
            col(Assignment.informant_label),
            # The plain column type: the portal's UTC decorator would touch each of a million rows in Python. The
            # datetimes are UTC (naive on SQLite); only their differences and their year are used.
            type_coerce(col(Submission.submitted_at), DateTime(timezone=True)),
            col(Submission.id),
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
        # By client only: the few rows of one client are put in order here. Ordering on more would make the
        # database sort every row before handing out the first, instead of streaming them in the index's order.
        .order_by(col(Score.registration_id))
    )


def client_series(session: Session, questionnaire_key: str, before: datetime) -> Iterator[ClientSeries]:
    """The series of every consenting client, one client at a time (at most one per respondent type)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # A cursor is planned for its first tenth by default (nested loops); this one is read to the end.
        connection.exec_driver_sql("SET LOCAL cursor_tuple_fraction = 1.0")
    # Core rows (no ORM result processing), streamed in batches (a server-side cursor on PostgreSQL).
    result = connection.execute(_statement(questionnaire_key, before), execution_options={"yield_per": BATCH})
    current: int | None = None
    rows: list[Any] = []
    for batch in result.partitions():
        for row in batch:
            if row[0] != current:
                yield from _series_of(rows)
                current, rows = row[0], []
            rows.append(row)
    yield from _series_of(rows)


def _series_of(rows: list[Any]) -> Iterator[ClientSeries]:
    """One client's series from their rows: per respondent type, the first informant's (or the client's own)."""
    rows.sort(key=lambda row: (row[3], row[4], row[5], row[6]))  # respondent, label, submitted, submission
    chosen: dict[str, ClientSeries] = {}
    label_of: dict[str, str] = {}
    for _registration, birth_year, sex, respondent, label, submitted_at, _submission, scale_id, value, band in rows:
        series = chosen.get(respondent)
        if series is None:
            series = chosen[respondent] = ClientSeries(birth_year, sex, respondent, submitted_at)
            label_of[respondent] = label
        elif label != label_of[respondent]:
            if submitted_at >= series.first_at:
                continue  # a later informant of the same client: their series is not this client's
            # An informant who started earlier than the one seen first (labels come in alphabetical order).
            series = chosen[respondent] = ClientSeries(birth_year, sex, respondent, submitted_at)
            label_of[respondent] = label
        measurements = series.scales.get(scale_id)
        if measurements is None:
            measurements = series.scales[scale_id] = []
        measurements.append(Measurement(submitted_at, value, band))
    yield from chosen.values()
