"""A client's progress per questionnaire: measurements by respondent, their bands, and reliable change.

Pure: plain rows in (what the client record loaded in a few queries), results out. The client and every
informant are separate respondents with their own series: a mother's score is compared with the mother's
earlier scores, never with the client's. Change follows Jacobson & Truax (``questionnaires/change.py``),
against the respondent's first scored measurement and against their previous scored one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from rom_portal.questionnaires import (
    Band,
    Catalogue,
    Change,
    Questionnaire,
    Scale,
    classify_change,
    s_diff,
    scale_range,
)
from rom_portal.questionnaires.change import Z_95

SELF = ""  # the respondent key of the client; informants are keyed by their label ("moeder")


@dataclass(frozen=True)
class SubmittedRow:
    """One submitted questionnaire, as loaded (assignment joined to its submission)."""

    submission_id: int
    assignment_public_id: str
    questionnaire_key: str
    questionnaire_version: int
    respondent: str  # "self" or "informant"
    informant_label: str
    submitted_at: datetime


@dataclass(frozen=True)
class ScoreRow:
    value: float | None  # None: not scorable
    band_id: str | None
    prorated: bool


@dataclass(frozen=True)
class ScaleValue:
    value: float | None
    band: Band | None
    prorated: bool


@dataclass(frozen=True)
class Measurement:
    assignment_public_id: str
    submitted_at: datetime
    respondent: str  # SELF, or the informant's label
    primary: ScaleValue | None  # None: no score stored for the headline scale
    subscales: tuple[ScaleValue | None, ...]  # in the order of InstrumentProgress.subscales
    since_first: Change | None  # None for the first scored measurement of this respondent, or when unscored
    since_previous: Change | None

    @property
    def value(self) -> float | None:
        return self.primary.value if self.primary else None


@dataclass(frozen=True)
class Series:
    respondent: str  # SELF or the informant's label
    measurements: list[Measurement]  # oldest first

    @property
    def scored(self) -> list[Measurement]:
        return [one for one in self.measurements if one.value is not None]

    @property
    def overall(self) -> Change | None:
        """The latest scored measurement against the first one; None with fewer than two."""
        scored = self.scored
        return scored[-1].since_first if len(scored) > 1 else None


@dataclass(frozen=True)
class Threshold:
    """The reliable-change threshold of a scale, in score points."""

    points: float
    kind: Literal["published", "computed"]  # published: a change of at least this; computed: more than this
    source: str


@dataclass(frozen=True)
class InstrumentProgress:
    key: str
    definition: Questionnaire  # the latest version: its headline scale gives the range, bands and change rules
    scale: Scale
    low: float
    high: float
    subscales: tuple[Scale, ...]
    threshold: Threshold | None  # None: change cannot be classified for this scale
    series: list[Series]  # the client first, then informants by label
    measurements: list[Measurement]  # every respondent, oldest first

    @property
    def last_submitted_at(self) -> datetime:
        return self.measurements[-1].submitted_at


def threshold_of(scale: Scale) -> Threshold | None:
    rc = scale.reliable_change
    if rc is None:
        return None
    if rc.threshold is not None:
        return Threshold(rc.threshold, "published", rc.source)
    assert rc.sd is not None and rc.reliability is not None  # the schema demands them without a threshold
    return Threshold(Z_95 * s_diff(rc.sd, rc.reliability), "computed", rc.source)


def primary_scale(definition: Questionnaire) -> Scale | None:
    # The first scale is the headline score; the others (subscales, WHO-5's raw score) go in the table.
    return definition.scales[0] if definition.scales else None


def progress_of(
    catalogue: Catalogue,
    submitted: Iterable[SubmittedRow],
    scores: Mapping[tuple[int, str], ScoreRow],
) -> list[InstrumentProgress]:
    """Per questionnaire in the catalogue, the measurements of every respondent; most recently filled in first.

    ``submitted`` must be in the order they were submitted; ``scores`` maps (submission id, scale id) to
    its stored score. Questionnaires taken out of the catalogue, or without scales, are left out.
    """
    by_key: dict[str, list[SubmittedRow]] = {}
    for row in submitted:
        if row.questionnaire_key in catalogue:
            by_key.setdefault(row.questionnaire_key, []).append(row)
    results = [_instrument(catalogue, key, rows, scores) for key, rows in by_key.items()]
    found = [one for one in results if one is not None]
    found.sort(key=lambda one: one.last_submitted_at, reverse=True)
    return found


def _instrument(
    catalogue: Catalogue, key: str, rows: list[SubmittedRow], scores: Mapping[tuple[int, str], ScoreRow]
) -> InstrumentProgress | None:
    definition = catalogue[key]
    scale = primary_scale(definition)
    if scale is None:
        return None
    subscales = tuple(definition.scales[1:])
    low, high = scale_range(definition, scale)
    # The change rules of the latest version apply to every measurement, so one threshold holds for the series.
    versions: dict[int, Questionnaire] = {}
    # Scores repeat (whole numbers in a small range), so each comparison and band is worked out once.
    changes: dict[tuple[float, float], Change] = {}
    bands: dict[tuple[int, str, str], Band | None] = {}

    def change(before: float, after: float) -> Change:
        found = changes.get((before, after))
        if found is None:
            found = changes[(before, after)] = classify_change(scale, before, after)
        return found

    def value_of(used: Questionnaire, scale_id: str, row: ScoreRow | None) -> ScaleValue | None:
        if row is None:
            return None
        band = None
        if row.band_id is not None:
            where = (used.version, scale_id, row.band_id)
            if where not in bands:
                bands[where] = _band(used, scale_id, row.band_id)
            band = bands[where]
        return ScaleValue(row.value, band, row.prorated)

    firsts: dict[str, float] = {}
    previous: dict[str, float] = {}
    by_respondent: dict[str, list[Measurement]] = {}
    measurements: list[Measurement] = []
    for row in rows:
        used = versions.get(row.questionnaire_version)
        if used is None:
            try:
                used = catalogue.get_version(key, row.questionnaire_version)
            except KeyError:  # an old version taken out of the catalogue: its scale ids still match the latest
                used = definition
            versions[row.questionnaire_version] = used
        respondent = row.informant_label if row.respondent == "informant" else SELF
        primary = value_of(used, scale.id, scores.get((row.submission_id, scale.id)))
        since_first = since_previous = None
        value = primary.value if primary else None
        if value is not None:
            if respondent in firsts:
                since_first = change(firsts[respondent], value)
                since_previous = change(previous[respondent], value)
            else:
                firsts[respondent] = value
            previous[respondent] = value
        measurement = Measurement(
            assignment_public_id=row.assignment_public_id,
            submitted_at=row.submitted_at,
            respondent=respondent,
            primary=primary,
            subscales=tuple(value_of(used, sub.id, scores.get((row.submission_id, sub.id))) for sub in subscales),
            since_first=since_first,
            since_previous=since_previous,
        )
        measurements.append(measurement)
        by_respondent.setdefault(respondent, []).append(measurement)
    order = sorted(by_respondent, key=lambda name: (name != SELF, name.casefold()))
    return InstrumentProgress(
        key=key,
        definition=definition,
        scale=scale,
        low=float(low),
        high=float(high),
        subscales=subscales,
        threshold=threshold_of(scale),
        series=[Series(name, by_respondent[name]) for name in order],
        measurements=measurements,
    )


def _band(used: Questionnaire, scale_id: str, band_id: str) -> Band | None:
    if not used.has_scale(scale_id):
        return None
    return next((one for one in used.scale(scale_id).bands if one.id == band_id), None)
