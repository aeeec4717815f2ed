"""Jacobson-Truax reliable and clinically significant change, with hand-computed expectations."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from rom_portal.questionnaires import (
    ChangeCategory,
    Questionnaire,
    Scale,
    classify_change,
    load_catalogue,
    s_diff,
    score,
)

SHIPPED = Path(__file__).resolve().parent.parent / "questionnaires"
C = ChangeCategory


@pytest.fixture(scope="module")
def catalogue() -> dict[str, Questionnaire]:
    return dict(load_catalogue(SHIPPED))


def scale_of(catalogue: dict[str, Questionnaire], key: str, scale_id: str = "total") -> Scale:
    return catalogue[key].scale(scale_id)


def computed_scale(sd: float, reliability: float, cutoff: float | None = None) -> Scale:
    data: dict[str, object] = {
        "id": "total",
        "label": {"nl": "Totaal", "en": "Total"},
        "items": ["1"],
        "direction": "higher_is_worse",
        "reliable_change": {"sd": sd, "reliability": reliability, "source": "test"},
    }
    if cutoff is not None:
        data["cutoff"] = {"value": cutoff, "source": "test"}
    return Scale.model_validate(data)


def test_s_diff_from_sd_and_reliability() -> None:
    # 5.62 x sqrt(2 x 0.15) = 5.62 x 0.547723 = 3.0782; x 1.96 = 6.0333
    assert s_diff(5.62, 0.85) == pytest.approx(3.0782, abs=1e-4)
    assert 1.96 * s_diff(5.62, 0.85) == pytest.approx(6.03, abs=0.005)


def test_computed_threshold_is_strict() -> None:
    scale = computed_scale(5.62, 0.85)
    six = classify_change(scale, 20, 14)
    assert six.category is C.NO_RELIABLE_CHANGE  # 6 < 6.03
    assert six.threshold == pytest.approx(6.0333, abs=1e-4)
    assert six.threshold_kind == "computed"
    seven = classify_change(scale, 20, 13)
    assert seven.category is C.RELIABLY_IMPROVED
    assert seven.rci == pytest.approx(-7 / 3.0782, abs=1e-3)


def test_computed_threshold_with_cutoff_gives_recovered() -> None:
    scale = computed_scale(5.62, 0.85, cutoff=15)
    assert classify_change(scale, 20, 13).category is C.RECOVERED
    assert classify_change(scale, 25, 16).category is C.RELIABLY_IMPROVED  # 16 is still >= 15
    assert classify_change(scale, 10, 17).category is C.RELIABLY_DETERIORATED


@pytest.mark.parametrize(
    ("before", "after", "category"),
    [
        (15, 9, C.RECOVERED),  # drop of 6 (= threshold, counts) from >= 10 to < 10
        (15, 10, C.NO_RELIABLE_CHANGE),  # drop of 5
        (20, 14, C.RELIABLY_IMPROVED),  # drop of 6 but still >= 10
        (9, 3, C.RELIABLY_IMPROVED),  # started below the cut-off: cannot "recover"
        (8, 14, C.RELIABLY_DETERIORATED),
        (12, 12, C.NO_RELIABLE_CHANGE),
        (10, 4, C.RECOVERED),
    ],
)
def test_phq9_published_threshold_of_6(
    catalogue: dict[str, Questionnaire], before: int, after: int, category: ChangeCategory
) -> None:
    change = classify_change(scale_of(catalogue, "phq9"), before, after)
    assert change.category is category
    assert change.threshold == 6
    assert change.threshold_kind == "published"
    assert "IAPT" in (change.source or "")


def test_phq9_reports_rci_from_sd_and_r_while_the_threshold_decides(catalogue: dict[str, Questionnaire]) -> None:
    # SD 3.5, r .84: S_diff = 3.5 x sqrt(0.32) = 1.9799; a drop of 4 is RCI -2.02 (> 1.96) but not >= 6.
    change = classify_change(scale_of(catalogue, "phq9"), 14, 10)
    assert change.s_diff == pytest.approx(1.9799, abs=1e-4)
    assert change.rci == pytest.approx(-2.0203, abs=1e-3)
    assert change.category is C.NO_RELIABLE_CHANGE


@pytest.mark.parametrize(
    ("before", "after", "category"),
    [
        (12, 8, C.RECOVERED),  # drop of 4 (= threshold) from >= 10 to < 10
        (12, 9, C.NO_RELIABLE_CHANGE),
        (18, 14, C.RELIABLY_IMPROVED),
        (5, 9, C.RELIABLY_DETERIORATED),
    ],
)
def test_gad7_published_threshold_of_4(
    catalogue: dict[str, Questionnaire], before: int, after: int, category: ChangeCategory
) -> None:
    assert classify_change(scale_of(catalogue, "gad7"), before, after).category is category


@pytest.mark.parametrize(
    ("before", "after", "category"),
    [
        (40, 52, C.RECOVERED),  # +12 points, from <= 50 to > 50: higher is better
        (20, 32, C.RELIABLY_IMPROVED),  # +12 but still <= 50
        (40, 48, C.NO_RELIABLE_CHANGE),
        (60, 48, C.RELIABLY_DETERIORATED),  # a fall is a deterioration on the WHO-5
        (72, 84, C.RELIABLY_IMPROVED),
    ],
)
def test_who5_direction_is_higher_is_better(
    catalogue: dict[str, Questionnaire], before: int, after: int, category: ChangeCategory
) -> None:
    change = classify_change(scale_of(catalogue, "who5"), before, after)
    assert change.category is category
    assert change.improvement == after - before


def test_phq15_threshold_is_computed_from_sd_and_alpha(catalogue: dict[str, Questionnaire]) -> None:
    # 1.96 x 4.05 x sqrt(2 x 0.20) = 5.0205: a change of 5 is not reliable, 6 is.
    scale = scale_of(catalogue, "phq15")
    assert classify_change(scale, 12, 7).threshold == pytest.approx(1.96 * 4.05 * math.sqrt(0.4))
    assert classify_change(scale, 12, 7).category is C.NO_RELIABLE_CHANGE
    assert classify_change(scale, 12, 6).category is C.RECOVERED


def test_a_missing_score_is_not_classifiable(catalogue: dict[str, Questionnaire]) -> None:
    scale = scale_of(catalogue, "phq9")
    for before, after in ((None, 10), (10, None), (None, None)):
        change = classify_change(scale, before, after)
        assert change.category is None
        assert not change.reliable
        assert change.reason == "a score is missing (not scorable)"


def test_a_scale_without_parameters_is_not_classifiable(catalogue: dict[str, Questionnaire]) -> None:
    change = classify_change(scale_of(catalogue, "k10"), 30, 12)
    assert change.category is None
    assert change.difference == -18
    assert change.improvement == 18
    assert change.clinical_before is True and change.clinical_after is False
    assert change.reason == "scale 'total' has no reliable-change parameters"


def test_scale_scores_can_be_compared_directly(catalogue: dict[str, Questionnaire]) -> None:
    phq9 = catalogue["phq9"]
    first = score(phq9, {str(item): 2 for item in range(1, 10)}).scales["total"]  # 18
    second = score(phq9, {str(item): 1 for item in range(1, 10)}).scales["total"]  # 9
    unscorable = score(phq9, {"1": 1}).scales["total"]
    assert classify_change(phq9.scale("total"), first, second).category is C.RECOVERED
    assert classify_change(phq9.scale("total"), first, unscorable).category is None
