"""A research export: the published figures of one request, with every small cell suppressed.

``compute_export`` reads (one counting query per questionnaire, see ``counts``), ``record_export`` writes the
audit row. Views and the CLI call both: compute in a read, then record in a short write.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import TypeVar, cast
from zoneinfo import ZoneInfo

from sqlmodel import Session

from rom_portal import __version__
from rom_portal.models.base import utcnow
from rom_portal.questionnaires import Catalogue, Questionnaire, Scale, classify_change
from rom_portal.questionnaires.change import ChangeCategory
from rom_portal.services.audit import Actor, record
from rom_portal.services.research.counts import AGE_BANDS, UNKNOWN, Counted, count_clients
from rom_portal.services.research.request import STRATA, ExportRequest, Occasions, WeekBins
from rom_portal.services.research.statistics import ChangeSum, Histogram, summarise
from rom_portal.services.research.suppression import ALL, Coordinate, suppress, with_margins

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

AGE_LEVELS = (*(label for _low, _high, label in AGE_BANDS), UNKNOWN)
SEX_LEVELS = ("female", "male", "other", UNKNOWN)
RESPONDENT_LEVELS = ("self", "informant")
NO_BAND = "none"
DISTRIBUTION_STATISTICS = ("n", "mean", "sd", "median", "q1", "q3")
CATEGORIES = tuple(category.value for category in ChangeCategory)
FIRST_TO_LAST = "first_to_last"

Stratum = tuple[str, str, str]  # age band, sex, respondent
T = TypeVar("T")


def sex_level(sex: str | None) -> str:
    if not sex:
        return UNKNOWN
    return sex if sex in ("female", "male") else "other"


def _period_name(period: int, weeks: WeekBins) -> str:
    start = period * weeks.width
    return f"weeks_{start}_{min(start + weeks.width, weeks.until) - 1}"


def occasion_names(occasions: Occasions) -> list[str]:
    names = ["first"] if occasions.first else []
    names += [f"measurement_{n}" for n in occasions.nth]
    if occasions.weeks:
        periods = math.ceil(occasions.weeks.until / occasions.weeks.width)
        names += [_period_name(period, occasions.weeks) for period in range(periods)]
    if occasions.last:
        names.append("last")
    return names


def _counted_at(counted: Counted, occasions: Occasions) -> Iterator[str]:
    """The occasions a count of measurements belongs to (one measurement may count at several)."""
    if counted.position == 1 and occasions.first:
        yield "first"
    if counted.position in occasions.nth:
        yield f"measurement_{counted.position}"
    if counted.period is not None and occasions.weeks:
        yield _period_name(counted.period, occasions.weeks)
    if counted.last and occasions.last:
        yield "last"


class _ScaleTally:
    """What one scale of one questionnaire has gathered: histograms per occasion, stratum and band."""

    def __init__(self, scale: Scale) -> None:
        self.scale = scale
        self.band_ids = tuple(band.id for band in scale.bands)
        self.known_bands = frozenset(self.band_ids)
        self.scores: dict[tuple[str, Stratum, str], Histogram] = {}
        self.changes: dict[tuple[Stratum, str], ChangeSum] = {}
        self.has_no_band = False
        self._classified: dict[tuple[float, float], tuple[str, float] | None] = {}

    def band_of(self, counted: Counted) -> str:
        """The band stored with the score, or (stored by an older version of the scale) the band it falls in."""
        if counted.band in self.known_bands:
            return counted.band
        if not self.band_ids:
            return NO_BAND
        band = self.scale.band_for(counted.value)
        if band is None:
            self.has_no_band = True
            return NO_BAND
        return band.id

    def add(self, stratum: Stratum, counted: Counted, occasions: Occasions) -> None:
        counted_at = list(_counted_at(counted, occasions))
        band = self.band_of(counted) if counted_at else NO_BAND  # rows counted nowhere need no band
        for occasion in counted_at:
            key = (occasion, stratum, band)
            histogram = self.scores.get(key)
            if histogram is None:
                histogram = self.scores[key] = Histogram()
            histogram[counted.value] += counted.clients
        if counted.before is not None:
            classified = self.change_between(counted.before, counted.value)
            if classified is not None:
                self.changes.setdefault((stratum, classified[0]), ChangeSum()).add(classified[1], counted.clients)

    def change_between(self, before: float, after: float) -> tuple[str, float] | None:
        """The change category and difference of a pair of scores (scores take few values: each pair once)."""
        pair = (before, after)
        if pair not in self._classified:
            change = classify_change(self.scale, before, after)
            self._classified[pair] = (
                (change.category.value, change.difference)
                if change.category is not None and change.difference is not None  # the scale has reliable change
                else None
            )
        return self._classified[pair]


def compute_export(
    session: Session,
    catalogue: Catalogue,
    request: ExportRequest,
    *,
    k: int,
    timezone: str,
    now: datetime | None = None,
) -> ResearchExport:
    """The published figures of ``request``: only clients whose research consent was given before the current
    month and is not withdrawn now, only measurements submitted before the first day of the current month (so two
    exports in one month differ only by clients who withdrew or were erased)."""
    now = now or utcnow()
    zone = ZoneInfo(timezone)
    data_before = now.astimezone(zone).date().replace(day=1)
    cut_off = datetime.combine(data_before, time.min, tzinfo=zone)
    tables: list[Table] = []
    for key in request.questionnaires:
        definition = catalogue[key]
        counts = count_clients(session, key, definition.respondent.kind, request.occasions, cut_off)
        tables += tabulate(definition, counts, request, k)
    definitions = tuple(catalogue[key] for key in request.questionnaires)
    return ResearchExport(request, k, now, data_before, __version__, tuple(tables), definitions)


def tabulate(definition: Questionnaire, counts: Iterable[Counted], request: ExportRequest, k: int) -> list[Table]:
    """The published tables of one questionnaire from the counts of its clients (its own kind of respondent)."""
    tallies = {scale.id: _ScaleTally(scale) for scale in definition.scales}
    respondent = str(definition.respondent.kind)
    for counted in counts:
        tally = tallies.get(counted.scale_id)
        if tally is not None:
            tally.add((counted.age_band, sex_level(counted.sex), respondent), counted, request.occasions)
    tables: list[Table] = []
    for tally in tallies.values():
        tables += _ScaleTables(definition.key, tally, request, k).tables()
    return tables


STRATA_LEVELS = (AGE_LEVELS, SEX_LEVELS, RESPONDENT_LEVELS)
QUANTILES = ("median", "q1", "q3")
QUANTILE_FACTOR = 2  # median and quartiles only for groups of at least 2k: in a smaller group each is nearly a person


def _face(request: ExportRequest, present: Sequence[tuple[str, ...]]) -> list[Stratum]:
    """The strata rows the researcher asked for: the total, then each level of each chosen stratum (crossed)."""
    axes = [(ALL, *present[d]) if name in request.strata else (ALL,) for d, name in enumerate(STRATA)]
    return [(age, sex, respondent) for age in axes[0] for sex in axes[1] for respondent in axes[2]]


def _margins(body: Mapping[Stratum, T], empty: Callable[[], T], merge: Callable[[T, T], None]) -> dict[Stratum, T]:
    merged: dict[Stratum, T] = {}
    for stratum, value in body.items():
        for mask in range(8):
            key = cast(Stratum, tuple(ALL if mask >> d & 1 else stratum[d] for d in range(3)))
            target = merged.get(key)
            if target is None:
                target = merged[key] = empty()
            merge(target, value)
    return merged


@dataclass
class _Piece:
    """One table before publication: its inner counts and the suppression found for it."""

    occasion: str
    body: dict[Coordinate, int]
    counts: dict[Coordinate, int] = field(default_factory=dict)
    hidden: set[Coordinate] = field(default_factory=set)


class _ScaleTables:
    """The tables of one scale (a distribution per occasion, and the change), suppressed together.

    Levels are those anybody in any of the scale's tables belongs to, so which rows appear says nothing about one
    occasion. Tables whose groups hold exactly the same numbers of clients (first, last, measurement 1 and the
    first weeks; measurement 2 and the change table's pairs) hide the same groups: otherwise one would show what
    another hid.
    """

    def __init__(self, key: str, tally: _ScaleTally, request: ExportRequest, k: int) -> None:
        self.key, self.tally, self.request, self.k = key, tally, request, k
        self.bands = (*tally.band_ids, *((NO_BAND,) if tally.has_no_band else ()))
        self.distribution = {occasion: _Piece(occasion, {}) for occasion in occasion_names(request.occasions)}
        self.histograms: dict[str, dict[Stratum, Histogram]] = {occasion: {} for occasion in self.distribution}
        for (occasion, stratum, band), histogram in tally.scores.items():
            self.distribution[occasion].body[(*stratum, band) if self.bands else stratum] = histogram.n
            self.histograms[occasion].setdefault(stratum, Histogram()).update(histogram)
        self.change = _Piece(FIRST_TO_LAST, {})
        self.change_sums: dict[Stratum, ChangeSum] = {}
        if tally.scale.reliable_change is not None:
            for (stratum, category), change in tally.changes.items():
                self.change.body[(*stratum, category)] = change.pairs
                self.change_sums.setdefault(stratum, ChangeSum()).merge(change)
        pieces = [*self.distribution.values(), *([self.change] if self.has_change else [])]
        self.strata = [
            tuple(level for level in levels if any(cell[d] == level for piece in pieces for cell in piece.body))
            for d, levels in enumerate(STRATA_LEVELS)
        ]
        self.present_bands = tuple(
            band
            for band in self.bands
            if any(cell[3] == band for piece in self.distribution.values() for cell in piece.body)
        )
        self.categories = tuple(
            category for category in CATEGORIES if any(cell[3] == category for cell in self.change.body)
        )
        self._suppress(pieces)

    @property
    def has_change(self) -> bool:
        return self.tally.scale.reliable_change is not None

    def _dimensions(self, piece: _Piece) -> list[tuple[str, ...]]:
        if piece is self.change:
            return [*self.strata, self.categories]
        return [*self.strata, self.present_bands] if self.bands else list(self.strata)

    def _group(self, piece: _Piece, stratum: Stratum) -> Coordinate:
        return (*stratum, ALL) if piece is self.change or self.bands else stratum

    def _suppress(self, pieces: list[_Piece]) -> None:
        for piece in pieces:
            piece.counts = with_margins(self._dimensions(piece), piece.body)
        # Tables with the same group sizes everywhere share the groups they hide.
        families: dict[frozenset[tuple[Stratum, int]], list[_Piece]] = {}
        for piece in pieces:
            sizes = frozenset(
                (cast(Stratum, cell[:3]), count)
                for cell, count in piece.counts.items()
                if self._group(piece, cast(Stratum, cell[:3])) == cell
            )
            families.setdefault(sizes, []).append(piece)
        for family in families.values():
            forced: set[Stratum] = set()
            while True:
                for piece in family:
                    groups = [self._group(piece, stratum) for stratum in forced]
                    within = 3 if piece is self.change or self.bands else None
                    piece.hidden = suppress(self._dimensions(piece), piece.counts, self.k, forced=groups, within=within)
                hidden_groups = {
                    cast(Stratum, cell[:3])
                    for piece in family
                    for cell in piece.hidden
                    if self._group(piece, cast(Stratum, cell[:3])) == cell
                }
                if hidden_groups <= forced:
                    break
                forced |= hidden_groups

    def tables(self) -> list[Table]:
        tables = [self._distribution_table()]
        if self.has_change:
            tables.append(self._change_table())
        return tables

    def _counts_of(
        self, piece: _Piece, stratum: Stratum, levels: tuple[str, ...], present: tuple[str, ...]
    ) -> list[Cell]:
        cells = []
        for level in levels:
            coordinate = (*stratum, level)
            if level not in present:
                cells.append(Cell(0, False))  # nobody in any of this scale's tables has it
            elif coordinate in piece.hidden:
                cells.append(Cell(None, True))
            else:
                cells.append(Cell(piece.counts[coordinate], False))
        return cells

    def _distribution_table(self) -> Table:
        statistics = (*DISTRIBUTION_STATISTICS, *(f"band_{band}" for band in self.bands))
        rows: list[Row] = []
        for occasion, piece in self.distribution.items():
            histograms = _margins(self.histograms[occasion], Histogram, Histogram.update)
            for stratum in _face(self.request, self.strata):
                group = self._group(piece, stratum)
                if group in piece.hidden:  # n and every statistic of the group
                    cells = [Cell(None, True)] * len(DISTRIBUTION_STATISTICS)
                else:
                    n = piece.counts.get(group, 0)
                    summary = summarise(histograms.get(stratum, Histogram()))
                    cells = [Cell(n, False)]
                    for name in DISTRIBUTION_STATISTICS[1:]:
                        if name in QUANTILES and 0 < n < QUANTILE_FACTOR * self.k:
                            cells.append(Cell(None, True))
                        else:
                            cells.append(Cell(getattr(summary, name) if summary else None, False))
                cells += self._counts_of(piece, stratum, self.bands, self.present_bands)
                rows.append(Row(occasion, *stratum, tuple(cells)))
        return Table(self.key, self.tally.scale.id, DISTRIBUTION, statistics, tuple(rows))

    def _change_table(self) -> Table:
        piece = self.change
        sums = _margins(self.change_sums, ChangeSum, ChangeSum.merge)
        rows: list[Row] = []
        for stratum in _face(self.request, self.strata):
            group = self._group(piece, stratum)
            if group in piece.hidden:
                cells = [Cell(None, True), Cell(None, True)]
            else:
                cells = [Cell(piece.counts.get(group, 0), False), Cell(sums.get(stratum, ChangeSum()).mean, False)]
            cells += self._counts_of(piece, stratum, CATEGORIES, self.categories)
            rows.append(Row(FIRST_TO_LAST, *stratum, tuple(cells)))
        return Table(self.key, self.tally.scale.id, CHANGE, ("pairs", "mean_change", *CATEGORIES), tuple(rows))


# --- Audit -------------------------------------------------------------------------------------------------

EXPORT_KINDS = ("preview", "csv", "json")


def record_export(session: Session, actor: Actor, request: ExportRequest, what: str) -> None:
    """Log a preview or download: who (the actor), when (the row's time), and every parameter."""
    assert what in EXPORT_KINDS
    record(session, actor, what, "research_export", request.describe()[:64], detail=request.describe())
