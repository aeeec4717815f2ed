"""How many clients had which score at which occasion: counted by the database, one query per questionnaire.

The database filters (clients whose research consent was given before the cut-off and is still open,
measurements submitted before the cut-off, scored, by the questionnaire's own kind of respondent), numbers each
client's measurements of a scale in time order (at the same moment, in the order of submission; window
functions), and counts clients per occasion, stratum, band and score. Python receives a few thousand counts,
never a row per client or per answer.

Per client and scale: the first measurement, the n-th, the last, and the first in each fixed period of weeks since
that scale's first measurement. A client's informant series is that of the informant who filled it in first: a
mother's later scores are compared with her own first one, never with a teacher's, and every client counts once.
The age band is the client's age in the year of the scale's first measurement (only the birth year is kept).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    Select,
    String,
    Subquery,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from rom_portal.models import Assignment, Registration, Respondent, Score, Submission, SubmissionStatus
from rom_portal.services.consent import research_consented
from rom_portal.services.research.request import Occasions

UNKNOWN = "unknown"
AGE_BANDS = (
    (0, 11, "0-11"),
    (12, 17, "12-17"),
    (18, 24, "18-24"),
    (25, 44, "25-44"),
    (45, 64, "45-64"),
    (65, 74, "65-74"),
    (75, 200, "75+"),
)
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Counted:
    """``clients`` clients of one stratum had ``value`` (stored with ``band``) on one scale at these occasions."""

    scale_id: str
    age_band: str
    sex: str | None  # as registered
    position: int | None  # 1 for the first measurement, or n when n-th measurements are asked for
    period: int | None  # the period of weeks it is the first measurement in (0, 1, ...), when periods are asked for
    last: bool  # the scale's last measurement (also the first, for a client measured once)
    band: str | None
    value: float
    before: float | None  # on the last of at least two measurements: the first score, for the change
    clients: int


def _milliseconds(moment: Any, dialect: str) -> ColumnElement[int]:
    """A moment as whole milliseconds on a fixed scale (UTC; naive text on SQLite), computed once per row.

    Periods of weeks are counted between moments rounded to the millisecond; the order of measurements is that
    of the moments themselves."""
    if dialect == "sqlite":
        # julianday is a double, exact to well under a millisecond at today's dates.
        return cast(func.round(func.julianday(moment) * DAY_MS), BigInteger)
    return cast(extract("epoch", moment) * 1000, BigInteger)


def _year(moment: Any, dialect: str) -> ColumnElement[int]:
    if dialect == "sqlite":
        return cast(func.substr(moment, 1, 4), Integer)  # stored as "2026-11-23 08:03:29.000000"
    return cast(extract("year", func.timezone("UTC", moment)), Integer)


def _age_band(age: Any) -> ColumnElement[str]:
    """The band of an age: one comparison per band, in order (the bands follow each other without gaps)."""
    return case(
        (age < AGE_BANDS[0][0], UNKNOWN),
        *((age <= high, label) for _low, high, label in AGE_BANDS),
        else_=UNKNOWN,  # no birth year (the age is NULL), or older than the last band
    )


def _measurements(questionnaire_key: str, respondent: str, before: datetime, dialect: str) -> Subquery:
    """Every counted score, one row per client, scale and submission; of informants, the first one's only."""
    submitted_at = col(Submission.submitted_at)
    rows = (
        select(
            col(Score.registration_id).label("registration_id"),
            col(Registration.birth_year).label("birth_year"),
            col(Registration.sex).label("sex"),
            col(Assignment.informant_label).label("label"),
            submitted_at.label("submitted_at"),
            _milliseconds(submitted_at, dialect).label("at_ms"),
            col(Submission.id).label("submission_id"),
            col(Score.scale_id).label("scale_id"),
            col(Score.value).label("value"),
            col(Score.band).label("band"),
            _year(submitted_at, dialect).label("year"),
        )
        .select_from(Score)
        .join(Submission, col(Submission.id) == col(Score.submission_id))
        .join(Assignment, col(Assignment.id) == col(Submission.assignment_id))
        .join(Registration, col(Registration.id) == col(Score.registration_id))
        .where(
            col(Assignment.questionnaire_key) == questionnaire_key,
            type_coerce(col(Assignment.respondent), String()) == respondent,  # the stored text
            col(Submission.status) == SubmissionStatus.submitted,
            submitted_at < before,
            col(Score.value).is_not(None),
            col(Score.registration_id).in_(research_consented(given_before=before)),
        )
    ).subquery("counted")
    if respondent != Respondent.informant:
        return rows  # the client's own series: one per client
    # The informant whose series started first is the one who gave the client's earliest score (at the same
    # moment, the one who submitted first).
    first_informant = (
        func.first_value(rows.c.label)
        .over(
            partition_by=rows.c.registration_id,
            order_by=(rows.c.submitted_at, rows.c.submission_id),
            rows=(None, 0),
        )
        .label("first_informant")
    )
    labelled = select(rows, first_informant).subquery("labelled")
    return select(labelled).where(labelled.c.label == labelled.c.first_informant).subquery("chosen")


def _numbered(questionnaire_key: str, respondent: str, before: datetime, dialect: str) -> Subquery:
    """The counted scores with their place in the client's series of the scale (one window, one sort)."""
    rows = _measurements(questionnaire_key, respondent, before, dialect)
    in_order = {
        "partition_by": (rows.c.registration_id, rows.c.scale_id),
        "order_by": (rows.c.submitted_at, rows.c.submission_id),
        "rows": (None, 0),  # from the first row to this one: first_value without comparing peers (faster)
    }
    return select(
        rows.c.scale_id,
        (func.first_value(rows.c.year, type_=Integer).over(**in_order) - rows.c.birth_year).label("age"),
        rows.c.sex,
        rows.c.band,
        rows.c.value,
        rows.c.at_ms,
        func.row_number().over(**in_order).label("position"),
        # Typed, so that // stays integer division (untyped, SQLAlchemy would write FLOOR(a / b)).
        func.first_value(rows.c.at_ms, type_=BigInteger).over(**in_order).label("start_ms"),
        func.first_value(rows.c.value, type_=Float).over(**in_order).label("first_value"),
        func.lag(rows.c.at_ms, type_=BigInteger).over(**in_order).label("previous_ms"),
        func.lead(rows.c.submission_id).over(**in_order).label("next_submission"),
    ).subquery("numbered")


def _counting_statement(
    questionnaire_key: str, respondent: str, occasions: Occasions, before: datetime, dialect: str
) -> Select[Any]:
    rows = _numbered(questionnaire_key, respondent, before, dialect)
    position = case((rows.c.position.in_(sorted({1, *occasions.nth})), rows.c.position), else_=None)
    last = rows.c.next_submission.is_(None)
    if occasions.weeks:
        width_ms = occasions.weeks.width * 7 * DAY_MS
        elapsed = rows.c.at_ms - rows.c.start_ms
        new_period = or_(rows.c.position == 1, (rows.c.previous_ms - rows.c.start_ms) // width_ms < elapsed // width_ms)
        period = case((and_(elapsed < occasions.weeks.until * 7 * DAY_MS, new_period), elapsed // width_ms), else_=None)
    else:
        period = literal(None, Integer)
    # The score before, on the last measurement of a client measured at least twice: the pair for the change.
    before_value = case((and_(last, rows.c.position >= 2), rows.c.first_value), else_=None)
    keys = (
        rows.c.scale_id,
        _age_band(rows.c.age).label("age_band"),
        rows.c.sex,
        position.label("position"),
        period.label("period"),
        last.label("last"),
        rows.c.band,
        rows.c.value,
        before_value.label("before_value"),
    )
    # Rows that count nowhere (no position, period or last) make a few groups that are passed over: filtering them
    # out here would compute every key twice.
    return select(*keys, func.count().label("clients")).group_by(*keys)


def count_clients(
    session: Session, questionnaire_key: str, respondent: str, occasions: Occasions, before: datetime
) -> Iterator[Counted]:
    """The counts of one questionnaire (by its own kind of respondent): a few thousand rows, whatever the size."""
    connection = session.connection()
    statement = _counting_statement(questionnaire_key, respondent, occasions, before, connection.dialect.name)
    for row in connection.execute(statement):
        yield Counted(*row)
