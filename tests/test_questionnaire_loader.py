"""Loading definitions: a valid file loads; every broken file names the file, the path and the problem."""

from __future__ import annotations

import ast
import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from rom_portal.questionnaires import (
    DefinitionError,
    Problem,
    load_catalogue,
    load_definition,
    parse_definition,
)

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "rom_portal" / "questionnaires"


def _options(values: range | list[int]) -> list[dict[str, Any]]:
    return [{"value": value, "label": {"nl": f"Antwoord {value}", "en": f"Answer {value}"}} for value in values]


def base_definition() -> dict[str, Any]:
    """A small, valid definition: three scored items, one show-if, a band set, a critical item."""
    return {
        "key": "demo",
        "version": 1,
        "abbreviation": "DEMO",
        "title": {"nl": "Demovragenlijst", "en": "Demo questionnaire"},
        "respondent": "self",
        "time_frame": {"nl": "de afgelopen week", "en": "the past week"},
        "instructions": {"nl": "Kies steeds één antwoord.", "en": "Choose one answer each time."},
        "licence": {"id": "test", "statement": {"nl": "Alleen voor tests.", "en": "For tests only."}},
        "citation": "Test 2024",
        "items": [
            {
                "id": "1",
                "type": "single_choice",
                "text": {"nl": "Vraag 1", "en": "Question 1"},
                "options": _options(range(4)),
            },
            {
                "id": "2",
                "type": "single_choice",
                "text": {"nl": "Vraag 2", "en": "Question 2"},
                "options": _options(range(4)),
            },
            {
                "id": "3",
                "type": "single_choice",
                "text": {"nl": "Vraag 3", "en": "Question 3"},
                "options": _options(range(4)),
                "show_if": {"item": "1", "min": 1},
            },
        ],
        "scales": [
            {
                "id": "total",
                "label": {"nl": "Totaal", "en": "Total"},
                "items": ["1", "2", "3"],
                "min_answered": 2,
                "direction": "higher_is_worse",
                "bands": [
                    {"id": "low", "min": 0, "max": 4, "label": {"nl": "Laag", "en": "Low"}},
                    {"id": "high", "min": 5, "max": 9, "label": {"nl": "Hoog", "en": "High"}},
                ],
                "cutoff": {"value": 5, "source": "test"},
            }
        ],
        "critical_items": [{"item": "2", "equals": 3, "message": {"nl": "Let op", "en": "Attention"}}],
        "golden": [
            {"name": "all ones", "answers": {"1": 1, "2": 1, "3": 1}, "expect": {"total": {"score": 3, "band": "low"}}}
        ],
    }


def write(tmp_path: Path, data: dict[str, Any] | str, name: str = "demo.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def problems_of(tmp_path: Path, data: dict[str, Any] | str) -> list[Problem]:
    path = write(tmp_path, data)
    with pytest.raises(DefinitionError) as caught:
        load_definition(path)
    return caught.value.problems


def only_problem(tmp_path: Path, data: dict[str, Any] | str) -> Problem:
    problems = problems_of(tmp_path, data)
    assert len(problems) == 1, problems
    problem = problems[0]
    assert problem.file.endswith("demo.yaml")
    assert str(problem).startswith(problem.file)
    return problem


def test_valid_definition_loads(tmp_path: Path) -> None:
    definition = load_definition(write(tmp_path, base_definition()))
    assert definition.key == "demo"
    assert definition.item("3").show_if is not None
    assert definition.scale("total").needed == 2


def test_missing_english_title_names_the_path(tmp_path: Path) -> None:
    data = base_definition()
    del data["title"]["en"]
    problem = only_problem(tmp_path, data)
    assert problem.path == "title.en"
    assert "missing English translation" in problem.message


def test_missing_dutch_option_label_names_item_and_option(tmp_path: Path) -> None:
    data = base_definition()
    del data["items"][1]["options"][2]["label"]["nl"]
    problem = only_problem(tmp_path, data)
    assert problem.path == 'items."2".options[2].label.nl'
    assert "missing Dutch translation" in problem.message


@pytest.mark.parametrize(
    ("where", "path"),
    [
        (lambda d: d["time_frame"], "time_frame.nl"),
        (lambda d: d["scales"][0]["bands"][1]["label"], 'scales."total".bands."high".label.nl'),
        (lambda d: d["critical_items"][0]["message"], "critical_items[0].message.nl"),
        (lambda d: d["licence"]["statement"], "licence.statement.nl"),
    ],
)
def test_every_text_needs_both_languages(tmp_path: Path, where: Any, path: str) -> None:
    data = base_definition()
    del where(data)["nl"]
    problem = only_problem(tmp_path, data)
    assert (problem.path, problem.message) == (path, "missing Dutch translation (nl)")


def test_empty_translation_is_an_error(tmp_path: Path) -> None:
    data = base_definition()
    data["items"][0]["text"]["en"] = "  "
    problem = only_problem(tmp_path, data)
    assert problem.path == 'items."1".text.en'
    assert "empty" in problem.message


def test_bad_option_value_type(tmp_path: Path) -> None:
    data = base_definition()
    data["items"][2]["options"][1]["value"] = 1.5
    problem = only_problem(tmp_path, data)
    assert problem.path == 'items."3".options[1].value'
    assert problem.message == "expected a whole number or text, got the number 1.5"


def test_duplicate_option_value(tmp_path: Path) -> None:
    data = base_definition()
    data["items"][0]["options"][3]["value"] = 1
    problem = only_problem(tmp_path, data)
    assert (problem.path, problem.message) == ('items."1".options[3].value', "duplicate option value 1")


def test_duplicate_item_id(tmp_path: Path) -> None:
    data = base_definition()
    data["items"][1]["id"] = "1"
    problems = problems_of(tmp_path, data)
    assert any(p.path == 'items."1".id' and 'duplicate item id "1"' in p.message for p in problems), problems


def test_show_if_unknown_item(tmp_path: Path) -> None:
    data = base_definition()
    data["items"][2]["show_if"]["item"] = "12"
    problem = only_problem(tmp_path, data)
    assert (problem.path, problem.message) == ('items."3".show_if.item', 'unknown item "12"')


def test_show_if_later_item(tmp_path: Path) -> None:
    data = base_definition()
    data["items"][1]["show_if"] = {"item": "3", "equals": 1}
    problem = only_problem(tmp_path, data)
    assert problem.path == 'items."2".show_if.item'
    assert 'item "3" comes later in the form' in problem.message


def test_show_if_value_the_item_cannot_take(tmp_path: Path) -> None:
    data = base_definition()
    data["items"][2]["show_if"] = {"item": "1", "equals": 7}
    problem = only_problem(tmp_path, data)
    assert problem.path == 'items."3".show_if.equals'
    assert '7 is not an answer option of item "1"' in problem.message


def test_show_if_inside_any_is_located(tmp_path: Path) -> None:
    data = base_definition()
    data["items"][2]["show_if"] = {"any": [{"item": "1", "min": 1}, {"item": "2", "in": [1, 9]}]}
    problem = only_problem(tmp_path, data)
    assert problem.path == 'items."3".show_if.any[1].in[1]'
    assert "9 is not an answer option" in problem.message


def test_show_if_needs_exactly_one_test(tmp_path: Path) -> None:
    data = base_definition()
    data["items"][2]["show_if"] = {"item": "1", "equals": 1, "min": 1}
    problem = only_problem(tmp_path, data)
    assert (problem.path, problem.message) == ('items."3".show_if', "give exactly one test: equals, in, or min/max")


@pytest.mark.parametrize(
    ("change", "path", "key"),
    [
        (lambda d: d["items"][0].__setitem__("requried", True), 'items."1".requried', "requried"),
        (lambda d: d.__setitem__("titel", {"nl": "x", "en": "y"}), "titel", "titel"),
        (lambda d: d["scales"][0].__setitem__("revers", ["1"]), 'scales."total".revers', "revers"),
        (lambda d: d["title"].__setitem__("de", "Fragebogen"), "title.de", "de"),
    ],
)
def test_unknown_keys_are_errors(tmp_path: Path, change: Any, path: str, key: str) -> None:
    data = base_definition()
    change(data)
    problem = only_problem(tmp_path, data)
    assert problem.path == path
    assert problem.message.startswith(f"unknown key '{key}'")


def test_unknown_item_type(tmp_path: Path) -> None:
    data = base_definition()
    data["items"][0]["type"] = "radio"
    problem = only_problem(tmp_path, data)
    assert problem.path == 'items."1".type'
    assert "unknown item type 'radio'" in problem.message


def test_missing_required_key(tmp_path: Path) -> None:
    data = base_definition()
    del data["scales"][0]["direction"]
    problem = only_problem(tmp_path, data)
    assert (problem.path, problem.message) == ('scales."total".direction', "required key 'direction' is missing")


def test_informant_needs_who(tmp_path: Path) -> None:
    data = base_definition()
    data["respondent"] = {"kind": "informant"}
    problem = only_problem(tmp_path, data)
    assert problem.path == "respondent"
    assert "must say who fills it in" in problem.message


def test_informant_who_must_be_known(tmp_path: Path) -> None:
    data = base_definition()
    data["respondent"] = {"kind": "informant", "who": "neighbour"}
    problem = only_problem(tmp_path, data)
    assert problem.path == "respondent.who"
    assert "'neighbour'" in problem.message


def test_scale_naming_unknown_item(tmp_path: Path) -> None:
    data = base_definition()
    data["scales"][0]["items"] = ["1", "2", "4"]
    problem = only_problem(tmp_path, data)
    assert (problem.path, problem.message) == ('scales."total".items[2]', 'unknown item "4"')


def test_scale_with_text_item(tmp_path: Path) -> None:
    data = base_definition()
    data["items"].append({"id": "note", "type": "short_text", "text": {"nl": "Opmerking", "en": "Remark"}})
    data["scales"][0]["items"].append("note")
    problem = only_problem(tmp_path, data)
    assert problem.path == 'scales."total".items[3]'
    assert "short_text item and cannot be scored" in problem.message


def test_reverse_keying_a_non_numeric_item(tmp_path: Path) -> None:
    data = base_definition()
    data["items"].append(
        {
            "id": "4",
            "type": "single_choice",
            "text": {"nl": "Vraag 4", "en": "Question 4"},
            "options": [
                {"value": "ja", "label": {"nl": "Ja", "en": "Yes"}},
                {"value": "nee", "label": {"nl": "Nee", "en": "No"}},
            ],
        }
    )
    data["scales"][0]["reverse"] = ["4"]
    problem = only_problem(tmp_path, data)
    assert problem.path == 'scales."total".reverse[0]'
    assert problem.message == 'item "4" has no numeric values, so it cannot be reverse-keyed'


def test_bands_that_overlap(tmp_path: Path) -> None:
    data = base_definition()
    data["scales"][0]["bands"][1]["min"] = 4
    problem = only_problem(tmp_path, data)
    assert problem.path == 'scales."total".bands."high".min'
    assert 'band "high" overlaps band "low" (0-4)' in problem.message


def test_bands_with_a_gap(tmp_path: Path) -> None:
    data = base_definition()
    data["scales"][0]["bands"][1]["min"] = 6
    problem = only_problem(tmp_path, data)
    assert problem.path == 'scales."total".bands."high".min'
    assert "scores 5-5 fall in no band" in problem.message


def test_bands_that_do_not_reach_the_top(tmp_path: Path) -> None:
    data = base_definition()
    data["scales"][0]["bands"][1]["max"] = 8
    problem = only_problem(tmp_path, data)
    assert problem.path == 'scales."total".bands'
    assert problem.message == "scores 9-9 fall in no band (possible: 0-9)"


def test_band_outside_the_possible_range(tmp_path: Path) -> None:
    data = base_definition()
    data["scales"][0]["bands"].append({"id": "extreme", "min": 10, "max": 12, "label": {"nl": "X", "en": "X"}})
    problem = only_problem(tmp_path, data)
    assert (problem.path, problem.message) == (
        'scales."total".bands."extreme"',
        "band lies outside the possible scores 0-9",
    )


def test_band_bound_finer_than_the_scale_rounds(tmp_path: Path) -> None:
    data = base_definition()
    data["scales"][0]["bands"][0]["max"] = 4.5
    problems = problems_of(tmp_path, data)
    assert any(p.path == 'scales."total".bands."low".max' and "more decimals" in p.message for p in problems)


def test_mean_scale_bands_step_by_the_decimals(tmp_path: Path) -> None:
    data = base_definition()
    scale = data["scales"][0]
    scale.update(method="mean", decimals=2)
    scale["bands"] = [
        {"id": "low", "min": 0, "max": 1.49, "label": {"nl": "Laag", "en": "Low"}},
        {"id": "high", "min": 1.5, "max": 3, "label": {"nl": "Hoog", "en": "High"}},
    ]
    scale["cutoff"]["value"] = 1.5
    data["golden"][0]["expect"]["total"] = {"score": 1.0, "band": "low"}
    assert load_definition(write(tmp_path, data)).scale("total").band_for(1.5).id == "high"  # type: ignore[union-attr]
    scale["bands"][1]["min"] = 1.51
    problem = only_problem(tmp_path, data)
    assert "scores 1.5-1.5 fall in no band" in problem.message


def test_cutoff_outside_the_range(tmp_path: Path) -> None:
    data = base_definition()
    data["scales"][0]["cutoff"]["value"] = 11
    problem = only_problem(tmp_path, data)
    assert (problem.path, problem.message) == ('scales."total".cutoff.value', "11 is outside the possible scores 0-9")


def test_min_answered_above_the_item_count(tmp_path: Path) -> None:
    data = base_definition()
    data["scales"][0]["min_answered"] = 4
    problem = only_problem(tmp_path, data)
    assert (problem.path, problem.message) == ('scales."total".min_answered', "4 is more than the scale's 3 items")


def test_requires_an_earlier_scale(tmp_path: Path) -> None:
    data = base_definition()
    data["scales"][0]["requires"] = ["other"]
    problem = only_problem(tmp_path, data)
    assert (problem.path, problem.message) == (
        'scales."total".requires[0]',
        '"other" is not a scale defined before this one',
    )


def test_reliable_change_needs_sd_and_reliability_together(tmp_path: Path) -> None:
    data = base_definition()
    data["scales"][0]["reliable_change"] = {"sd": 5.0, "source": "test"}
    problem = only_problem(tmp_path, data)
    assert (problem.path, problem.message) == ('scales."total".reliable_change', "give sd and reliability together")


def test_critical_rule_on_unknown_item(tmp_path: Path) -> None:
    data = base_definition()
    data["critical_items"][0]["item"] = "99"
    problem = only_problem(tmp_path, data)
    assert (problem.path, problem.message) == ("critical_items[0].item", 'unknown item "99"')


def test_critical_rule_value_the_item_cannot_take(tmp_path: Path) -> None:
    data = base_definition()
    data["critical_items"][0]["equals"] = 4
    problem = only_problem(tmp_path, data)
    assert problem.path == "critical_items[0].equals"


def test_golden_vector_that_disagrees_names_the_vector(tmp_path: Path) -> None:
    data = base_definition()
    data["golden"][0]["expect"]["total"]["score"] = 4
    problem = only_problem(tmp_path, data)
    assert problem.path == 'golden."all ones".expect.total.score'
    assert problem.message == "expected 4, scoring gives 3"


def test_golden_vector_with_wrong_band_and_alerts(tmp_path: Path) -> None:
    data = base_definition()
    data["golden"][0]["expect"]["total"]["band"] = "high"
    data["golden"][0]["alerts"] = ["2"]
    problems = problems_of(tmp_path, data)
    assert [(p.path, p.message) for p in problems] == [
        ('golden."all ones".expect.total.band', "expected 'high', scoring gives 'low'"),
        ('golden."all ones".alerts', "expected alerts ['2'], scoring gives []"),
    ]


def test_golden_vector_with_an_impossible_answer(tmp_path: Path) -> None:
    data = base_definition()
    data["golden"][0]["answers"]["2"] = 5
    problem = only_problem(tmp_path, data)
    assert problem.path == 'golden."all ones".answers.2'
    assert "5 is not one of the answer options" in problem.message


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    data = base_definition()
    data["items"][2]["show_if"]["item"] = "12"
    data["scales"][0]["items"] = ["1", "2", "5"]
    data["critical_items"][0]["item"] = "99"
    paths = [problem.path for problem in problems_of(tmp_path, data)]
    assert paths == ['items."3".show_if.item', 'scales."total".items[2]', "critical_items[0].item"]


def test_problems_carry_the_line(tmp_path: Path) -> None:
    data = base_definition()
    data["items"][2]["show_if"]["item"] = "12"
    text = yaml.safe_dump(data, sort_keys=False)
    problem = only_problem(tmp_path, text)
    line = next(number for number, content in enumerate(text.splitlines(), 1) if "item: '12'" in content)
    assert problem.line in (line - 1, line)  # the show_if mapping starts on or just above that line
    assert str(problem) == f'{problem.file}:{problem.line}: items."3".show_if.item: unknown item "12"'


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "key: demo\nitems: [1, 2\nversion: 1\n")
    assert problem.path == ""
    assert problem.message.startswith("YAML syntax error")
    assert problem.line is not None


def test_a_key_given_twice_is_an_error(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "key: demo\nversion: 1\nkey: other\n")
    assert problem.message == "key 'key' appears twice in the same mapping"
    assert problem.line == 3


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "- just\n- a list\n")
    assert "mapping" in problem.message


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as caught:
        load_definition(tmp_path / "missing.yaml")
    assert "cannot read the file" in str(caught.value)


def test_yes_and_dates_stay_text_and_anchors_work() -> None:
    text = """
key: demo
version: 1
abbreviation: DEMO
title: {nl: Demo, en: Demo}
respondent: self
time_frame: {nl: nu, en: now}
instructions: {nl: Kies., en: Choose.}
licence: {id: test, statement: {nl: Test., en: Test.}}
citation: Test
anchors:
  yes_no: &yes_no
  - {value: yes, label: {nl: Ja, en: Yes}}
  - {value: no, label: {nl: Nee, en: No}}
items:
  - {id: a, type: single_choice, options: *yes_no, text: {nl: Vraag A, en: Question A}}
  - {id: b, type: single_choice, options: *yes_no, text: {nl: Vraag B, en: Question B}, show_if: {item: a, equals: yes}}
  - {id: c, type: date, text: {nl: Datum, en: Date}, show_if: {item: b, equals: no}}
golden:
  - name: dates are text
    answers: {a: yes, b: no, c: 2024-01-31}
    expect: {}
"""
    with pytest.raises(DefinitionError) as caught:  # expect must name at least one scale
        parse_definition(text, "inline.yaml")
    assert [p.path for p in caught.value.problems] == ['golden."dates are text".expect']
    definition = parse_definition(
        text.replace("    expect: {}\n", "").replace(
            "golden:\n  - name: dates are text\n    answers: {a: yes, b: no, c: 2024-01-31}\n", ""
        )
    )
    assert [option.value for option in definition.item("a").options] == ["yes", "no"]  # type: ignore[union-attr]


def test_catalogue_keeps_every_version_and_serves_the_latest(tmp_path: Path) -> None:
    first = base_definition()
    second = copy.deepcopy(first)
    second["version"] = 2
    second["title"]["en"] = "Demo questionnaire, revised"
    write(tmp_path, first, "demo.yaml")
    write(tmp_path, second, "demo-v2.yaml")
    (tmp_path / "README.md").write_text("not a definition")
    catalogue = load_catalogue(tmp_path)
    assert list(catalogue) == ["demo"]
    assert catalogue["demo"].version == 2
    assert catalogue.get_version("demo", 1).title.en == "Demo questionnaire"
    assert catalogue.versions("demo") == [1, 2]
    assert len(catalogue.all_versions()) == 2


def test_catalogue_rejects_the_same_version_twice(tmp_path: Path) -> None:
    write(tmp_path, base_definition(), "a.yaml")
    write(tmp_path, base_definition(), "b.yaml")
    with pytest.raises(DefinitionError) as caught:
        load_catalogue(tmp_path)
    [problem] = caught.value.problems
    assert problem.file.endswith("b.yaml")
    assert problem.message == "demo version 1 is also defined in a.yaml"


def test_catalogue_collects_problems_from_every_file(tmp_path: Path) -> None:
    broken = base_definition()
    del broken["title"]["nl"]
    other = base_definition()
    other["key"] = "other"
    other["items"][0]["type"] = "radio"
    write(tmp_path, broken, "a.yaml")
    write(tmp_path, other, "b.yaml")
    with pytest.raises(DefinitionError) as caught:
        load_catalogue(tmp_path)
    assert [Path(p.file).name for p in caught.value.problems] == ["a.yaml", "b.yaml"]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", sorted(PACKAGE_DIR.glob("*.py")), ids=lambda path: path.name)
def test_core_imports_no_web_or_database_code(module: Path) -> None:
    for name in _imports(module):
        root = name.split(".")[0]
        assert root not in {"starlette", "jinja2", "sqlalchemy", "sqlmodel"}, name
        if root == "rom_portal":
            assert name.startswith("rom_portal.questionnaires"), name


def test_importing_the_core_loads_no_web_or_database_modules() -> None:
    code = (
        "import sys, rom_portal.questionnaires\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in {'starlette', 'jinja2', 'sqlalchemy', 'sqlmodel'}]\n"
        "print(','.join(bad))\n"
    )
    root = str(PACKAGE_DIR.parent.parent)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    assert done.stdout.strip() == ""
