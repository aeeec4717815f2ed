"""A research export: the published figures of one request, with every small cell suppressed.

``compute_export`` reads (one streaming pass per questionnaire, see ``series``), ``record_export`` writes the
audit row. Views and the CLI call both: compute in a read, then record in a short write.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlmodel import Session

from rom_portal import __version__
from rom_portal.models.base import utcnow
from rom_portal.questionnaires import Catalogue, Questionnaire, Scale, classify_change
from rom_portal.questionnaires.change import ChangeCategory
from rom_portal.services.audit import Actor, record
from rom_portal.services.research.request import STRATA, ExportRequest, Occasions
from rom_portal.services.research.series import ClientSeries, Measurement, client_series
from rom_portal.services.research.statistics import ChangeSum, Histogram, summarise
from rom_portal.services.research.suppression import ALL, Coordinate, present_levels, suppress, with_margins

DISTRIBUTION = "distribution"
CHANGE = "change"


@dataclass(frozen=True, slots=True)
class Cell:
    """One published number; ``value`` is None when it is suppressed (or, for sd, undefined)."""

    value: float | int | None
    suppressed: bool


@dataclass(frozen=True)
class Row:
    occasion: str  # "first", "last", "measurement_3", "weeks_0_3"; "first_to_last" in a change table
    age_band: str  # a band such as "25-44", "unknown", or ALL
    sex: str  # "female", "male", "other", "unknown", or ALL
    respondent: str  # "self", "informant", or ALL
    cells: tuple[Cell, ...]  # in the order of Table.statistics


@dataclass(frozen=True)
class Table:
    questionnaire: str
    scale: str
    kind: str  # DISTRIBUTION or CHANGE
    statistics: tuple[str, ...]  # "n", "mean", ..., "band_mild", ...; "pairs", "mean_change", "recovered", ...
    rows: tuple[Row, ...]


@dataclass(frozen=True, slots=True)
class Figure:
    """One published number in long form: a line of the CSV file."""

    table: str
    questionnaire: str
    scale: str
    occasion: str
    age_band: str
    sex: str
    respondent: str
    statistic: str
    value: float | int | None
    suppressed: bool


@dataclass(frozen=True)
class ResearchExport:
    request: ExportRequest
    k: int  # the smallest number of clients a published figure may rest on
    generated_at: datetime  # only its month is published
    data_before: date  # measurements submitted before this day (the first of the month) are counted
    portal_version: str
    tables: tuple[Table, ...]
    definitions: tuple[Questionnaire, ...]  # of the questionnaires asked for, for the codebook

    @property
    def month(self) -> str:
        return f"{self.data_before.year:04d}-{self.data_before.month:02d}"  # in the practice's time zone

    @property
    def last_month_counted(self) -> str:
        """The month of the last measurements counted (the month before ``data_before``)."""
        year, month = self.data_before.year, self.data_before.month - 1
        if month == 0:
            year, month = year - 1, 12
        return f"{year:04d}-{month:02d}"

    @property
    def suppressed_count(self) -> int:
        return sum(1 for table in self.tables for row in table.rows for cell in row.cells if cell.suppressed)

    def figures(self) -> Iterator[Figure]:
        for table in self.tables:
            for row in table.rows:
                for statistic, cell in zip(table.statistics, row.cells, strict=True):
                    yield Figure(
                        table.kind,
                        table.questionnaire,
                        table.scale,
                        row.occasion,
                        row.age_band,
                        row.sex,
                        row.respondent,
                        statistic,
                        cell.value,
                        cell.suppressed,
                    )


# --- Computing -----------------------------------------------------------------------------------------------

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
AGE_LEVELS = (*(label for _low, _high, label in AGE_BANDS), UNKNOWN)
SEX_LEVELS = ("female", "male", "other", UNKNOWN)
RESPONDENT_LEVELS = ("self", "informant")
NO_BAND = "none"
DISTRIBUTION_STATISTICS = ("n", "mean", "sd", "median", "q1", "q3")
CATEGORIES = tuple(category.value for category in ChangeCategory)
FIRST_TO_LAST = "first_to_last"

Stratum = tuple[str, str, str]  # age band, sex, respondent


def age_band(birth_year: int | None, measured_in: int) -> str:
    """The client's age band in the year of their first measurement (only the birth year is known)."""
    if birth_year is None:
        return UNKNOWN
    age = measured_in - birth_year
    for low, high, label in AGE_BANDS:
        if low <= age <= high:
            return label
    return UNKNOWN


def sex_level(sex: str | None) -> str:
    if not sex:
        return UNKNOWN
    return sex if sex in ("female", "male") else "other"


def occasion_names(occasions: Occasions) -> list[str]:
    names = ["first"] if occasions.first else []
    names += [f"measurement_{n}" for n in occasions.nth]
    if occasions.weeks:
        width, until = occasions.weeks.width, occasions.weeks.until
        names += [f"weeks_{start}_{min(start + width, until) - 1}" for start in range(0, until, width)]
    if occasions.last:
        names.append("last")
    return names


def _at_occasions(measurements: list[Measurement], occasions: Occasions) -> list[tuple[str, Measurement]]:
    """Which of one scale's measurements count at which occasion (a measurement may count at several)."""
    picked: list[tuple[str, Measurement]] = []
    if occasions.first:
        picked.append(("first", measurements[0]))
    for n in occasions.nth:
        if n <= len(measurements):
            picked.append((f"measurement_{n}", measurements[n - 1]))
    if occasions.weeks:
        width, until = occasions.weeks.width, occasions.weeks.until
        start = measurements[0].submitted_at
        seen: set[int] = set()
        for one in measurements:  # the first measurement in each period
            week = (one.submitted_at - start).days // 7
            if week >= until:
                break
            period = week // width
            if period not in seen:
                seen.add(period)
                picked.append((f"weeks_{period * width}_{min(period * width + width, until) - 1}", one))
    if occasions.last:
        picked.append(("last", measurements[-1]))
    return picked


class _ScaleTally:
    """What one scale of one questionnaire has gathered: histograms per occasion, stratum and band."""

    def __init__(self, scale: Scale) -> None:
        self.scale = scale
        self.band_ids = tuple(band.id for band in scale.bands)
        self.scores: dict[tuple[str, Stratum, str], Histogram] = {}
        self.changes: dict[tuple[Stratum, str], ChangeSum] = {}
        self.has_no_band = False

    def band_of(self, one: Measurement) -> str:
        if one.band in self.band_ids:
            return one.band
        band = self.scale.band_for(one.value)
        if band is None:
            self.has_no_band = True
            return NO_BAND
        return band.id

    def add(self, stratum: Stratum, measurements: list[Measurement], occasions: Occasions) -> None:
        for occasion, one in _at_occasions(measurements, occasions):
            key = (occasion, stratum, self.band_of(one) if self.band_ids else NO_BAND)
            histogram = self.scores.get(key)
            if histogram is None:
                histogram = self.scores[key] = Histogram()
            histogram[one.value] += 1
        if len(measurements) >= 2:
            change = classify_change(self.scale, measurements[0].value, measurements[-1].value)
            if change.category is not None and change.difference is not None:  # the scale has reliable-change data
                self.changes.setdefault((stratum, change.category.value), ChangeSum()).add(change.difference)


def compute_export(
    session: Session,
    catalogue: Catalogue,
    request: ExportRequest,
    *,
    k: int,
    timezone: str,
    now: datetime | None = None,
) -> ResearchExport:
    """The published figures of ``request``: only clients with research consent now, only measurements submitted
    before the first day of the current month (so two exports in one month show no single new measurement)."""
    now = now or utcnow()
    zone = ZoneInfo(timezone)
    data_before = now.astimezone(zone).date().replace(day=1)
    cut_off = datetime.combine(data_before, time.min, tzinfo=zone)
    tables: list[Table] = []
    for key in request.questionnaires:
        tables += tabulate(catalogue[key], client_series(session, key, cut_off), request, k)
    definitions = tuple(catalogue[key] for key in request.questionnaires)
    return ResearchExport(request, k, now, data_before, __version__, tuple(tables), definitions)


def tabulate(definition: Questionnaire, series: Iterable[ClientSeries], request: ExportRequest, k: int) -> list[Table]:
    """The published tables of one questionnaire from its clients' series, in one pass over them."""
    tallies = {scale.id: _ScaleTally(scale) for scale in definition.scales}
    for one in series:
        stratum = (age_band(one.birth_year, one.first_at.year), sex_level(one.sex), one.respondent)
        for scale_id, measurements in one.scales.items():
            tally = tallies.get(scale_id)
            if tally is not None:
                tally.add(stratum, measurements, request.occasions)
    tables = []
    for tally in tallies.values():
        tables.append(_distribution_table(definition.key, tally, request, k))
        if tally.scale.reliable_change is not None:
            tables.append(_change_table(definition.key, tally, request, k))
    return tables


STRATA_LEVELS = (AGE_LEVELS, SEX_LEVELS, RESPONDENT_LEVELS)


def _face(request: ExportRequest, present: list[tuple[str, ...]]) -> list[Stratum]:
    """The strata rows the researcher asked for: the total, then each level of each chosen stratum (crossed)."""
    axes = [(ALL, *present[d]) if name in request.strata else (ALL,) for d, name in enumerate(STRATA)]
    return [(age, sex, respondent) for age in axes[0] for sex in axes[1] for respondent in axes[2]]


def _strata_margins(body: dict[Stratum, Histogram]) -> dict[Stratum, Histogram]:
    merged: dict[Stratum, Histogram] = {}
    for stratum, histogram in body.items():
        for mask in range(8):
            key = tuple(ALL if mask >> d & 1 else stratum[d] for d in range(3))
            target = merged.get(key)  # type: ignore[arg-type]
            if target is None:
                target = merged[key] = Histogram()  # type: ignore[index]
            target.update(histogram)
    return merged


def _distribution_table(key: str, tally: _ScaleTally, request: ExportRequest, k: int) -> Table:
    band_levels = (*tally.band_ids, *((NO_BAND,) if tally.has_no_band else ()))
    statistics = (*DISTRIBUTION_STATISTICS, *(f"band_{band}" for band in band_levels))
    dimensions = [*STRATA_LEVELS, band_levels] if band_levels else list(STRATA_LEVELS)
    rows: list[Row] = []
    for occasion in occasion_names(request.occasions):
        body: dict[Coordinate, int] = {}
        by_stratum: dict[Stratum, Histogram] = {}
        for (at, stratum, band), histogram in tally.scores.items():
            if at != occasion:
                continue
            body[(*stratum, band) if band_levels else stratum] = histogram.n
            by_stratum.setdefault(stratum, Histogram()).update(histogram)
        counts, present, suppressed = _suppressed_table(dimensions, body, k)
        histograms = _strata_margins(by_stratum)
        for stratum in _face(request, present):
            total = (*stratum, ALL) if band_levels else stratum
            if total in suppressed:  # n and every statistic of the cell
                cells = [Cell(None, True)] * len(DISTRIBUTION_STATISTICS)
            else:
                summary = summarise(histograms.get(stratum, Histogram()))
                cells = [Cell(counts.get(total, 0), False)]
                cells += [
                    Cell(getattr(summary, name) if summary else None, False) for name in DISTRIBUTION_STATISTICS[1:]
                ]
            for band in band_levels:
                coordinate = (*stratum, band)
                if band not in present[3]:
                    cells.append(Cell(0, False))  # nobody in the whole table has this band
                elif coordinate in suppressed:
                    cells.append(Cell(None, True))
                else:
                    cells.append(Cell(counts[coordinate], False))
            rows.append(Row(occasion, *stratum, tuple(cells)))
    return Table(key, tally.scale.id, DISTRIBUTION, statistics, tuple(rows))


def _change_table(key: str, tally: _ScaleTally, request: ExportRequest, k: int) -> Table:
    categories = CATEGORIES
    statistics = ("pairs", "mean_change", *categories)
    body: dict[Coordinate, int] = {}
    sums: dict[Stratum, ChangeSum] = {}
    for (stratum, category), change in tally.changes.items():
        body[(*stratum, category)] = body.get((*stratum, category), 0) + change.pairs
        for mask in range(8):
            margin = tuple(ALL if mask >> d & 1 else stratum[d] for d in range(3))
            sums.setdefault(margin, ChangeSum()).merge(change)  # type: ignore[arg-type]
    counts, present, suppressed = _suppressed_table([*STRATA_LEVELS, categories], body, k)
    rows: list[Row] = []
    for stratum in _face(request, present):
        total = (*stratum, ALL)
        if total in suppressed:
            cells = [Cell(None, True), Cell(None, True)]
        else:
            cells = [Cell(counts.get(total, 0), False), Cell(sums.get(stratum, ChangeSum()).mean, False)]
        for category in categories:
            coordinate = (*stratum, category)
            if category not in present[3]:
                cells.append(Cell(0, False))
            elif coordinate in suppressed:
                cells.append(Cell(None, True))
            else:
                cells.append(Cell(counts[coordinate], False))
        rows.append(Row(FIRST_TO_LAST, *stratum, tuple(cells)))
    return Table(key, tally.scale.id, CHANGE, statistics, tuple(rows))


def _suppressed_table(
    dimensions: list[tuple[str, ...]], body: dict[Coordinate, int], k: int
) -> tuple[dict[Coordinate, int], list[tuple[str, ...]], set[Coordinate]]:
    present = present_levels(dimensions, with_margins(dimensions, body))
    counts = with_margins(present, body)
    return counts, present, suppress(present, counts, k)


# --- Audit -------------------------------------------------------------------------------------------------

EXPORT_KINDS = ("preview", "csv", "json")


def record_export(session: Session, actor: Actor, request: ExportRequest, what: str) -> None:
    """Log a preview or download: who (the actor), when (the row's time), and every parameter."""
    assert what in EXPORT_KINDS
    record(session, actor, what, "research_export", request.describe()[:64], detail=request.describe())
