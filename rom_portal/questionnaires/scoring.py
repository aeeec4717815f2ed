"""Scoring: pure functions from a definition and answers to scale scores, bands and alerts.

Rules that matter clinically, all explicit:

* A scale with too few answers is not scorable: its score is ``None``, never 0.
* Items hidden by a show-if are not applicable: they are neither missing nor counted.
* Prorating scales the sum up to all applicable items: ``sum * applicable / answered``.
* Arithmetic is exact (fractions); the result is rounded once, half away from zero, to the scale's
  ``decimals``. Rounding before banding keeps a prorated score comparable with published integer bands:
  PHQ-9 with 8 answers summing to 4 is 4.5, which rounds to 5 (mild), as a clinician rounding by hand would.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from rom_portal.questionnaires.answers import condition_holds, validate_answers, visible_items
from rom_portal.questionnaires.schema import (
    AnswerValue,
    LocalText,
    NumberItem,
    Questionnaire,
    Scale,
    SingleChoiceItem,
)


@dataclass(frozen=True, slots=True)
class ScaleScore:
    """One scale's result. ``score`` is an int when the scale has 0 decimals, else a float; None = not scorable."""

    scale_id: str
    score: int | float | None
    band: str | None  # the band's id, e.g. "mild"
    band_label: LocalText | None
    clinical: bool | None  # on the clinical side of the cut-off; None without cut-off or score
    complete: bool  # every applicable item answered
    prorated: bool  # scored with missing items scaled up (mean of the answered items for a mean scale)
    answered: int
    applicable: int  # items of the scale not hidden by a show-if

    @property
    def scorable(self) -> bool:
        return self.score is not None

    @property
    def missing(self) -> int:
        return self.applicable - self.answered

    def as_dict(self, lang: str = "nl") -> dict[str, Any]:
        return {
            "score": self.score,
            "band": self.band,
            "band_label": self.band_label.get(lang) if self.band_label else None,
            "clinical": self.clinical,
            "complete": self.complete,
            "prorated": self.prorated,
            "answered": self.answered,
            "applicable": self.applicable,
        }


@dataclass(frozen=True, slots=True)
class Alert:
    """A critical answer (a rule in ``critical_items`` matched)."""

    item_id: str
    value: AnswerValue
    message: LocalText


@dataclass(frozen=True, slots=True)
class Scoring:
    questionnaire: str
    version: int
    scales: dict[str, ScaleScore]
    alerts: tuple[Alert, ...]

    def as_dict(self, lang: str = "nl") -> dict[str, Any]:
        """The shape ``rom-portal score`` prints."""
        return {
            "questionnaire": self.questionnaire,
            "version": self.version,
            "scales": {scale_id: result.as_dict(lang) for scale_id, result in self.scales.items()},
            "alerts": [alert.item_id for alert in self.alerts],
        }


def round_half_away(value: Fraction, decimals: int) -> int | float:
    """Round exactly, halves away from zero ("commercial" rounding, as done by hand on a score sheet)."""
    factor = 10**decimals
    scaled = abs(value) * factor
    whole = math.floor(scaled + Fraction(1, 2))
    signed = whole if value >= 0 else -whole
    return signed if decimals == 0 else signed / factor


def exact(value: float) -> Fraction:
    """A number as the exact decimal it was written as: 0.1 is 1/10, not the nearest binary fraction."""
    return Fraction(value) if isinstance(value, int) else Fraction(repr(value))


def item_value_range(definition: Questionnaire, item_id: str) -> tuple[float, float] | None:
    """(lowest, highest) numeric value the item can take, or None if it cannot be scored."""
    item = definition.item(item_id)
    if isinstance(item, SingleChoiceItem):
        values = [option.value for option in item.options]
        if all(isinstance(value, int) for value in values):
            return min(values), max(values)  # type: ignore[type-var]
        return None
    if isinstance(item, NumberItem) and item.min is not None and item.max is not None:
        return item.min, item.max
    return None


def _transformed(scale: Scale, value: Fraction) -> Fraction:
    if scale.transform is None:
        return value
    return value * Fraction(scale.transform.multiply) + Fraction(scale.transform.add)


def scale_range(definition: Questionnaire, scale: Scale) -> tuple[Fraction, Fraction]:
    """Lowest and highest score with every item answered (after transform). Items must be scorable."""
    ranges = [item_value_range(definition, item_id) for item_id in scale.items]
    low = sum((Fraction(r[0]) for r in ranges if r), Fraction(0))
    high = sum((Fraction(r[1]) for r in ranges if r), Fraction(0))
    if scale.method == "mean":
        low, high = low / len(scale.items), high / len(scale.items)
    ends = sorted((_transformed(scale, low), _transformed(scale, high)))
    return ends[0], ends[1]


def _score_scale(
    definition: Questionnaire,
    scale: Scale,
    shown: Mapping[str, Any],
    visible: set[str],
    done: Mapping[str, ScaleScore],
) -> ScaleScore:
    reverse = set(scale.reverse)
    values: list[Fraction] = []
    applicable = 0
    for item_id in scale.items:
        if item_id not in visible:
            continue
        applicable += 1
        value = shown.get(item_id)
        if value is None:
            continue
        if item_id in reverse:
            low, high = item_value_range(definition, item_id) or (0, 0)
            value = low + high - value
        values.append(exact(value))
    answered = len(values)
    allowed_missing = len(scale.items) - scale.needed
    scorable = (
        answered > 0
        and applicable - answered <= allowed_missing
        and all(done[other].scorable for other in scale.requires if other in done)
    )
    complete = answered == applicable
    if not scorable:
        return ScaleScore(
            scale_id=scale.id,
            score=None,
            band=None,
            band_label=None,
            clinical=None,
            complete=complete,
            prorated=False,
            answered=answered,
            applicable=applicable,
        )
    total = sum(values, Fraction(0))
    if scale.method == "sum":
        raw = total * applicable / answered if scale.prorate else total
    else:
        raw = total / answered if scale.prorate else total / applicable
    score = round_half_away(_transformed(scale, raw), scale.decimals)
    band = scale.band_for(score)
    return ScaleScore(
        scale_id=scale.id,
        score=score,
        band=band.id if band else None,
        band_label=band.label if band else None,
        clinical=scale.is_clinical(score),
        complete=complete,
        prorated=scale.prorate and not complete,
        answered=answered,
        applicable=applicable,
    )


def score(definition: Questionnaire, answers: Mapping[str, object]) -> Scoring:
    """Score every scale and evaluate the critical items.

    ``answers`` maps item id to value; omitted items (or None) are missing. Raises ``AnswerError`` for an
    unknown item or a value the item does not allow.
    """
    checked = validate_answers(definition, answers)
    visible = {item.id for item in visible_items(definition, checked)}
    shown = {item_id: value for item_id, value in checked.items() if item_id in visible}
    results: dict[str, ScaleScore] = {}
    for scale in definition.scales:
        results[scale.id] = _score_scale(definition, scale, shown, visible, results)
    alerts = tuple(
        Alert(rule.item, shown[rule.item], rule.message)
        for rule in definition.critical_items
        if rule.item in shown and condition_holds(rule, shown)
    )
    return Scoring(definition.key, definition.version, results, alerts)
