"""A plain model of who counts at which occasion of a research export, to hold the database's counting to.

The export lets the database number each client's measurements (window functions in
``services/research/counts.py``). This model does the same the obvious way, one client at a time in Python, so a
test can compare the two on the same cohort, and the suppression tests can feed random cohorts to ``tabulate``
without a database.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from rom_portal.services.research.counts import Counted
from rom_portal.services.research.request import Occasions

# Written out here rather than imported, so that a wrong band in the product is caught.
AGE_BANDS = (
    (0, 11, "0-11"),
    (12, 17, "12-17"),
    (18, 24, "18-24"),
    (25, 44, "25-44"),
    (45, 64, "45-64"),
    (65, 74, "65-74"),
    (75, 200, "75+"),
)
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Measurement:
    submitted_at: datetime
    value: float
    band: str | None = None


@dataclass
class Series:
    """One client's measurements of one questionnaire by one respondent (the first informant), per scale."""

    birth_year: int | None
    sex: str | None
    scales: dict[str, list[Measurement]] = field(default_factory=dict)  # oldest first


def age_band(birth_year: int | None, year: int) -> str:
    if birth_year is None:
        return UNKNOWN
    for low, high, label in AGE_BANDS:
        if low <= year - birth_year <= high:
            return label
    return UNKNOWN


def _milliseconds(moment: datetime) -> int:
    """The moment rounded to the millisecond (half up): periods of weeks are counted between such moments."""
    microseconds = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return (microseconds + 500) // 1000


def _marks(measurements: list[Measurement], occasions: Occasions) -> Iterator[tuple[int, int | None, int | None]]:
    """(index, position, period) of every measurement that is first, an n-th, or first in a period of weeks."""
    seen: set[int] = set()
    start = _milliseconds(measurements[0].submitted_at)
    for index, one in enumerate(measurements):
        number = index + 1
        position = number if number == 1 or number in occasions.nth else None
        period = None
        if occasions.weeks:
            days = (_milliseconds(one.submitted_at) - start) // 86_400_000
            week = days // 7
            if week < occasions.weeks.until and week // occasions.weeks.width not in seen:
                period = week // occasions.weeks.width
                seen.add(period)
        yield index, position, period


Scored = tuple[datetime, int, str, dict[str, tuple[float, str | None]]]  # when, order submitted, label, scores


def series_of(birth_year: int | None, sex: str | None, submitted: list[Scored], informant: bool) -> Series | None:
    """One client's series from their submissions (already only the counted ones: by the questionnaire's kind of
    respondent, before the cut-off). Of informants, the one who gave the earliest score (then: submitted first)."""
    scored = sorted((when, order, label, scores) for when, order, label, scores in submitted if scores)
    if not scored:
        return None
    if informant:
        first_label = scored[0][2]
        scored = [one for one in scored if one[2] == first_label]
    series = Series(birth_year, sex)
    for when, _order, _label, scores in scored:
        for scale_id, (value, band) in scores.items():
            series.scales.setdefault(scale_id, []).append(Measurement(when, value, band))
    return series


def counts_of(series: Iterable[Series], occasions: Occasions) -> list[Counted]:
    """What ``count_clients`` should return for these series (merged per key)."""
    tally: Counter[tuple] = Counter()
    for one in series:
        for scale_id, measurements in one.scales.items():
            age = age_band(one.birth_year, measurements[0].submitted_at.year)  # in the year of the scale's first
            last_index = len(measurements) - 1
            for index, position, period in _marks(measurements, occasions):
                last = index == last_index
                if position is None and period is None and not last:
                    continue
                before = measurements[0].value if last and index >= 1 else None
                measured = measurements[index]
                key = (scale_id, age, one.sex, position, period, last, measured.band, measured.value, before)
                tally[key] += 1
    return [Counted(*key, clients) for key, clients in tally.items()]
