"""Reliable and clinically significant change (Jacobson & Truax, 1991).

Two sources of the reliable-change threshold, both per scale in the definition:

* a published fixed threshold (PHQ-9: 6, GAD-7: 4; NHS Talking Therapies). Published as "a change of 6
  or more", so a change equal to the threshold counts (inclusive);
* ``sd`` and ``reliability``: S_diff = sd * sqrt(2 * (1 - r)), and a change is reliable when
  |x2 - x1| > 1.96 * S_diff (strict, as in Jacobson & Truax's RCI > 1.96).

When both are given the published threshold decides; the RCI is still reported.
"Recovered" = reliably improved AND moved from the clinical to the non-clinical side of the cut-off.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from rom_portal.questionnaires.schema import Scale
from rom_portal.questionnaires.scoring import ScaleScore

Z_95 = 1.96
# Scores are rounded to at most 4 decimals; differences below this are float noise, not change.
_EPSILON = 1e-9


class ChangeCategory(StrEnum):
    RECOVERED = "recovered"
    RELIABLY_IMPROVED = "reliably_improved"
    NO_RELIABLE_CHANGE = "no_reliable_change"
    RELIABLY_DETERIORATED = "reliably_deteriorated"


@dataclass(frozen=True, slots=True)
class Change:
    """The comparison of two scores of one scale. ``category`` is None when it cannot be classified
    (a score is missing, or the scale has no reliable-change parameters); ``reason`` then says why."""

    category: ChangeCategory | None
    before: float | None
    after: float | None
    difference: float | None  # after - before, in score points
    improvement: float | None  # positive = better, whichever way the scale runs
    threshold: float | None  # the reliable-change threshold used, in score points
    threshold_kind: Literal["published", "computed"] | None
    source: str | None  # citation of the threshold or of sd/reliability
    s_diff: float | None  # standard error of the difference, when sd and reliability are known
    rci: float | None  # difference / S_diff (sign as the raw difference)
    clinical_before: bool | None
    clinical_after: bool | None
    reason: str | None = None

    @property
    def reliable(self) -> bool:
        return self.category in (
            ChangeCategory.RECOVERED,
            ChangeCategory.RELIABLY_IMPROVED,
            ChangeCategory.RELIABLY_DETERIORATED,
        )


def s_diff(sd: float, reliability: float) -> float:
    """Standard error of the difference between two measurements."""
    return sd * math.sqrt(2 * (1 - reliability))


def _value(score: float | ScaleScore | None) -> float | None:
    if isinstance(score, ScaleScore):
        return score.score
    return score


def classify_change(scale: Scale, before: float | ScaleScore | None, after: float | ScaleScore | None) -> Change:
    """Classify the change from ``before`` (usually the first measurement) to ``after``."""
    x1, x2 = _value(before), _value(after)
    rc = scale.reliable_change
    sdiff = s_diff(rc.sd, rc.reliability) if rc and rc.sd is not None and rc.reliability is not None else None
    change = Change(
        category=None,
        before=x1,
        after=x2,
        difference=None,
        improvement=None,
        threshold=None,
        threshold_kind=None,
        source=rc.source if rc else None,
        s_diff=sdiff,
        rci=None,
        clinical_before=scale.is_clinical(x1) if x1 is not None else None,
        clinical_after=scale.is_clinical(x2) if x2 is not None else None,
    )
    if x1 is None or x2 is None:
        return dataclasses.replace(change, reason="a score is missing (not scorable)")
    # Scores carry at most 4 decimals; rounding the difference there removes float noise (3.31 - 3.0).
    difference = round(x2 - x1, 4)
    improvement = -difference if scale.direction == "higher_is_worse" else difference
    change = dataclasses.replace(
        change, difference=difference, improvement=improvement, rci=difference / sdiff if sdiff else None
    )
    if rc is None:
        return dataclasses.replace(change, reason=f"scale {scale.id!r} has no reliable-change parameters")
    kind: Literal["published", "computed"]
    if rc.threshold is not None:
        threshold, kind = rc.threshold, "published"
        reliable = abs(difference) >= threshold - _EPSILON
    else:
        assert sdiff is not None  # the schema demands sd and reliability when there is no threshold
        threshold, kind = Z_95 * sdiff, "computed"
        reliable = abs(difference) > threshold + _EPSILON
    if not reliable:
        category = ChangeCategory.NO_RELIABLE_CHANGE
    elif improvement < 0:
        category = ChangeCategory.RELIABLY_DETERIORATED
    elif change.clinical_before is True and change.clinical_after is False:
        category = ChangeCategory.RECOVERED
    else:
        category = ChangeCategory.RELIABLY_IMPROVED
    return dataclasses.replace(change, category=category, threshold=threshold, threshold_kind=kind)
