"""Scoring: hand-computed expectations, explicit missing-answer rules, show-if, answer validation."""

from __future__ import annotations

import datetime as dt
import functools
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rom_portal.questionnaires import (
    AnswerError,
    Questionnaire,
    applicable_answers,
    load_catalogue,
    missing_required,
    parse_definition,
    scale_range,
    score,
    validate_answer,
    validate_answers,
    visible_items,
)
from rom_portal.questionnaires.scoring import round_half_away

SHIPPED = Path(__file__).resolve().parent.parent / "questionnaires"


@functools.cache
def shipped() -> dict[str, Questionnaire]:
    return dict(load_catalogue(SHIPPED))


@pytest.fixture(scope="module")
def catalogue() -> dict[str, Questionnaire]:
    return shipped()


@pytest.fixture(scope="module")
def phq9(catalogue: dict[str, Questionnaire]) -> Questionnaire:
    return catalogue["phq9"]


def phq(values: dict[int, int]) -> dict[str, int]:
    return {str(item): value for item, value in values.items()}


def test_phq9_all_ones_is_9_mild_with_an_alert(phq9: Questionnaire) -> None:
    result = score(phq9, phq(dict.fromkeys(range(1, 10), 1)))
    total = result.scales["total"]
    assert (total.score, total.band, total.clinical, total.complete, total.prorated) == (9, "mild", False, True, False)
    assert [alert.item_id for alert in result.alerts] == ["9"]
    assert result.alerts[0].message.nl.startswith("De cliënt")


def test_phq9_two_missing_is_prorated(phq9: Questionnaire) -> None:
    # items 1-7 answered: 2+2+2+1+1+1+1 = 10; 10 x 9 / 7 = 12.857 -> 13 (moderate)
    total = score(phq9, phq({1: 2, 2: 2, 3: 2, 4: 1, 5: 1, 6: 1, 7: 1})).scales["total"]
    assert (total.score, total.band, total.prorated, total.complete) == (13, "moderate", True, False)
    assert (total.answered, total.applicable, total.missing) == (7, 9, 2)


def test_phq9_prorating_rounds_half_away_from_zero(phq9: Questionnaire) -> None:
    # 8 answered summing to 4: 4 x 9 / 8 = 4.5 -> 5, which moves the score from minimal to mild.
    total = score(phq9, phq({1: 1, 2: 1, 3: 1, 4: 1, 5: 0, 6: 0, 7: 0, 8: 0})).scales["total"]
    assert (total.score, total.band) == (5, "mild")


def test_phq9_three_missing_is_not_scorable_not_zero(phq9: Questionnaire) -> None:
    result = score(phq9, phq(dict.fromkeys(range(1, 7), 0)))
    total = result.scales["total"]
    assert total.score is None
    assert total.band is None and total.clinical is None and not total.scorable
    assert result.as_dict()["scales"]["total"]["score"] is None


def test_phq9_empty_answers(phq9: Questionnaire) -> None:
    total = score(phq9, {}).scales["total"]
    assert (total.score, total.answered) == (None, 0)


def test_phq9_item_9_alone_raises_the_alert(phq9: Questionnaire) -> None:
    result = score(phq9, phq({**dict.fromkeys(range(1, 9), 0), 9: 1}))
    assert result.scales["total"].score == 1
    assert [alert.item_id for alert in result.alerts] == ["9"]
    assert result.alerts[0].value == 1


def test_phq9_no_alert_when_item_9_is_missing_or_zero(phq9: Questionnaire) -> None:
    assert score(phq9, phq(dict.fromkeys(range(1, 9), 3))).alerts == ()
    assert score(phq9, phq(dict.fromkeys(range(1, 10), 0))).alerts == ()


def test_phq9_item_10_is_shown_only_after_a_problem(phq9: Questionnaire) -> None:
    assert "10" not in [item.id for item in visible_items(phq9, phq(dict.fromkeys(range(1, 10), 0)))]
    assert "10" in [item.id for item in visible_items(phq9, phq({1: 1}))]
    assert missing_required(phq9, phq(dict.fromkeys(range(1, 10), 0))) == []
    assert missing_required(phq9, phq({**dict.fromkeys(range(1, 10), 0), 4: 2})) == ["10"]


def test_who5_total_is_raw_times_four_and_higher_is_better(catalogue: dict[str, Questionnaire]) -> None:
    result = score(catalogue["who5"], {"1": 3, "2": 3, "3": 3, "4": 2, "5": 2})
    assert (result.scales["raw"].score, result.scales["total"].score) == (13, 52)
    assert result.scales["total"].band == "adequate"
    assert result.scales["total"].clinical is False  # 52 > 50: not on the clinical (low) side
    low = score(catalogue["who5"], {"1": 1, "2": 1, "3": 1, "4": 1, "5": 1})
    assert (low.scales["total"].score, low.scales["total"].band, low.scales["total"].clinical) == (
        20,
        "likely_depression",
        True,
    )


def test_iqcode_mean_of_answered_items(catalogue: dict[str, Questionnaire]) -> None:
    answers = {str(item): 4 for item in range(1, 14)}  # 13 of 16 answered, all "a bit worse"
    total = score(catalogue["iqcode16"], answers).scales["total"]
    assert (total.score, total.band, total.prorated) == (4.0, "decline", True)


def test_psc17_subscales_follow_the_form_level_blank_rule(catalogue: dict[str, Questionnaire]) -> None:
    # Four blanks, all outside the internalizing items: the form is invalid, so internalizing is too.
    answers = {str(item): 2 for item in range(1, 18) if item not in (1, 3, 4, 5)}
    result = score(catalogue["psc17"], answers)
    assert result.scales["total"].score is None
    assert result.scales["internalizing"].score is None
    assert result.scales["internalizing"].complete is True  # its own items are all there


def _mini(extra_items: list[dict[str, Any]], scale: dict[str, Any]) -> Questionnaire:
    options = [{"value": v, "label": {"nl": str(v), "en": str(v)}} for v in range(1, 6)]
    data = {
        "key": "mini",
        "version": 1,
        "abbreviation": "MINI",
        "title": {"nl": "Mini", "en": "Mini"},
        "respondent": "self",
        "time_frame": {"nl": "nu", "en": "now"},
        "instructions": {"nl": "Kies.", "en": "Choose."},
        "licence": {"id": "test", "statement": {"nl": "Test.", "en": "Test."}},
        "citation": "Test",
        "items": [
            {"id": "1", "type": "single_choice", "text": {"nl": "Een", "en": "One"}, "options": options},
            {"id": "2", "type": "single_choice", "text": {"nl": "Twee", "en": "Two"}, "options": options},
            *extra_items,
        ],
        "scales": [{"id": "s", "label": {"nl": "S", "en": "S"}, "direction": "higher_is_worse", **scale}],
    }
    return parse_definition(yaml.safe_dump(data), "mini.yaml")


def test_reverse_keying_is_max_plus_min_minus_value() -> None:
    definition = _mini([], {"items": ["1", "2"], "reverse": ["2"]})
    assert score(definition, {"1": 1, "2": 2}).scales["s"].score == 1 + (5 + 1 - 2)
    assert score(definition, {"1": 5, "2": 5}).scales["s"].score == 6


def test_reverse_keying_a_number_item() -> None:
    number = {"id": "3", "type": "number", "min": 0, "max": 10, "text": {"nl": "Getal", "en": "Number"}}
    definition = _mini([number], {"items": ["1", "3"], "reverse": ["3"]})
    assert score(definition, {"1": 2, "3": 3}).scales["s"].score == 2 + 7


def test_hidden_items_are_not_applicable_not_missing() -> None:
    follow_up = {
        "id": "3",
        "type": "single_choice",
        "text": {"nl": "Vervolg", "en": "Follow-up"},
        "options": [{"value": v, "label": {"nl": str(v), "en": str(v)}} for v in range(1, 6)],
        "show_if": {"item": "1", "min": 3},
    }
    definition = _mini([follow_up], {"items": ["1", "2", "3"]})  # every item needed
    hidden = score(definition, {"1": 2, "2": 2, "3": 5}).scales["s"]  # 3 is hidden: its answer is ignored
    assert (hidden.score, hidden.applicable, hidden.answered, hidden.complete) == (4, 2, 2, True)
    shown = score(definition, {"1": 3, "2": 2}).scales["s"]  # 3 is shown but missing
    assert (shown.score, shown.applicable, shown.missing) == (None, 3, 1)


def test_applicable_answers_drop_hidden_ones(phq9: Questionnaire) -> None:
    answers = validate_answers(phq9, {"1": 0, "2": 0, "10": 2})
    assert applicable_answers(phq9, answers) == {"1": 0, "2": 0}  # item 10 hidden: no problem was reported
    answers["2"] = 1
    assert applicable_answers(phq9, answers) == {"1": 0, "2": 1, "10": 2}


def test_sum_without_prorating_counts_missing_as_zero() -> None:
    definition = _mini([], {"items": ["1", "2"], "min_answered": 1, "prorate": False})
    result = score(definition, {"1": 4}).scales["s"]
    assert (result.score, result.prorated, result.complete) == (4, False, False)


def test_transform_and_decimals() -> None:
    definition = _mini(
        [], {"items": ["1", "2"], "method": "mean", "decimals": 1, "transform": {"multiply": 10, "add": -10}}
    )
    assert score(definition, {"1": 1, "2": 2}).scales["s"].score == 5.0  # mean 1.5 x 10 - 10
    assert scale_range(definition, definition.scale("s")) == (Fraction(0), Fraction(40))


@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [
        (Fraction(9, 2), 0, 5),
        (Fraction(7, 2), 0, 4),
        (Fraction(5, 2), 0, 3),
        (Fraction(-5, 2), 0, -3),
        (Fraction(50, 16), 2, 3.13),
        (Fraction(53, 16), 2, 3.31),
        (Fraction(90, 7), 0, 13),
    ],
)
def test_round_half_away_from_zero(value: Fraction, decimals: int, expected: float) -> None:
    assert round_half_away(value, decimals) == expected


def test_score_rejects_an_unknown_item(phq9: Questionnaire) -> None:
    with pytest.raises(AnswerError) as caught:
        score(phq9, {"11": 1})
    assert caught.value.item_id == "11"
    assert str(caught.value) == 'item "11": is not an item of phq9 (version 1)'


def test_score_rejects_a_value_the_item_does_not_allow(phq9: Questionnaire) -> None:
    with pytest.raises(AnswerError) as caught:
        score(phq9, {"1": 4})
    assert str(caught.value) == 'item "1": 4 is not one of the answer options (0, 1, 2, 3)'


@pytest.mark.parametrize(("raw", "stored"), [(2, 2), ("2", 2), (" 2 ", 2), (2.0, 2), (None, None), ("", None)])
def test_choice_answers_accept_form_and_json_values(phq9: Questionnaire, raw: object, stored: object) -> None:
    assert validate_answer(phq9.item("1"), raw) == stored


@pytest.mark.parametrize("raw", [True, 2.5, "two", [1], {"value": 1}, -1])
def test_choice_answers_refuse_anything_else(phq9: Questionnaire, raw: object) -> None:
    with pytest.raises(AnswerError):
        validate_answer(phq9.item("1"), raw)


def _typed_items() -> Questionnaire:
    items = [
        {"id": "n", "type": "number", "min": 0, "max": 24, "text": {"nl": "Uren", "en": "Hours"}},
        {"id": "x", "type": "number", "integer": False, "text": {"nl": "Gewicht", "en": "Weight"}},
        {"id": "t", "type": "short_text", "max_length": 5, "text": {"nl": "Tekst", "en": "Text"}},
        {"id": "d", "type": "date", "text": {"nl": "Datum", "en": "Date"}},
        {
            "id": "m",
            "type": "multiple_choice",
            "text": {"nl": "Meerdere", "en": "Several"},
            "options": [{"value": v, "label": {"nl": v, "en": v}} for v in ("a", "b", "c")],
            "required": False,
        },
        {"id": "i", "type": "instruction", "text": {"nl": "Uitleg", "en": "Explanation"}},
    ]
    return _mini(items, {"items": ["1", "2"]})


@pytest.mark.parametrize(
    ("item_id", "raw", "stored"),
    [
        ("n", "8", 8),
        ("n", 8.0, 8),
        ("x", "72,5", 72.5),
        ("x", 72.5, 72.5),
        ("t", "hallo", "hallo"),
        ("d", "2024-01-31", "2024-01-31"),
        ("d", dt.date(2024, 1, 31), "2024-01-31"),
        ("m", ["a", "c"], ["a", "c"]),
        ("m", "b", ["b"]),
        ("m", [], None),
    ],
)
def test_typed_answers_are_normalised(item_id: str, raw: object, stored: object) -> None:
    assert validate_answer(_typed_items().item(item_id), raw) == stored


@pytest.mark.parametrize(
    ("item_id", "raw", "message"),
    [
        ("n", 25, "25 is above the maximum 24"),
        ("n", -1, "-1 is below the minimum 0"),
        ("n", "7.5", "'7.5' is not a whole number"),
        ("n", "seven", "'seven' is not a number"),
        ("n", True, "True is not a number"),
        ("x", "nan", "'nan' is not a number"),
        ("t", "te lang", "the text is longer than 5 characters"),
        ("t", 5, "5 is not text"),
        ("d", "31-01-2024", "'31-01-2024' is not a date (write YYYY-MM-DD)"),
        ("m", ["a", "a"], "the same option is chosen twice"),
        ("m", ["d"], "'d' is not one of the answer options ('a', 'b', 'c')"),
        ("i", "x", "is an instruction text and takes no answer"),
    ],
)
def test_typed_answers_refuse_bad_values(item_id: str, raw: object, message: str) -> None:
    with pytest.raises(AnswerError) as caught:
        validate_answer(_typed_items().item(item_id), raw)
    assert caught.value.message == message


def test_validate_answers_drops_blanks_and_keeps_hidden_answers(phq9: Questionnaire) -> None:
    checked = validate_answers(phq9, {"1": "0", "2": None, "10": "1"})
    assert checked == {"1": 0, "10": 1}  # item 10 is hidden by these answers, but kept for when it shows


def test_scoring_as_dict_has_the_cli_shape(phq9: Questionnaire) -> None:
    shape = score(phq9, phq(dict.fromkeys(range(1, 10), 2))).as_dict("en")
    assert shape == {
        "questionnaire": "phq9",
        "version": 1,
        "scales": {
            "total": {
                "score": 18,
                "band": "moderately_severe",
                "band_label": "Moderately severe",
                "clinical": True,
                "complete": True,
                "prorated": False,
                "answered": 9,
                "applicable": 9,
            }
        },
        "alerts": ["9"],
    }


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(min_value=0, max_value=3)), min_size=9, max_size=9))
def test_phq9_missing_rule_holds_for_any_answers(values: list[int | None]) -> None:
    definition = shipped()["phq9"]
    answers = {str(number): value for number, value in enumerate(values, 1)}
    total = score(definition, answers).scales["total"]
    given_values = [value for value in values if value is not None]
    if len(given_values) < 7:
        assert total.score is None  # never 0 in place of "not scorable"
    else:
        assert total.score == round_half_away(Fraction(sum(given_values) * 9, len(given_values)), 0)
        assert total.prorated == (len(given_values) < 9)
        assert total.band is not None
