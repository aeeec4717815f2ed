"""``rom-portal questionnaires check|list`` and ``rom-portal score``: exit codes, output, clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from rom_portal.cli_questionnaires import questionnaires, score

SHIPPED = Path(__file__).resolve().parent.parent / "questionnaires"
KEYS = ["gad7", "iqcode16", "k10", "pcl5", "phq15", "phq9", "psc17", "who5"]


def run(command: click.Command, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(command, list(args), input=stdin)


def answers_file(tmp_path: Path, content: object, name: str = "answers.json") -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return str(path)


def assert_one_clear_line(result: Result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("rom-portal: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_check_passes_on_all_shipped_definitions() -> None:
    result = run(questionnaires, "check")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("ok: 8 definition(s) valid")
    for key in KEYS:
        assert f"{key} v1" in result.stdout


def test_check_one_file() -> None:
    result = run(questionnaires, "check", str(SHIPPED / "phq9.yaml"))
    assert result.exit_code == 0
    assert "ok: 1 definition(s) valid, 14 golden vector(s) pass (phq9 v1)" in result.stdout


def _broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    path = tmp_path / "phq9.yaml"
    text = (SHIPPED / "phq9.yaml").read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (  # bad option value
            "{value: 3, label: {nl: Uiterst moeilijk",
            "{value: 2, label: {nl: Uiterst moeilijk",
            'items."10".options[3].value: duplicate option value 2',
        ),
        (  # unknown item in a show-if
            '        - {item: "9", min: 1}',
            '        - {item: "90", min: 1}',
            'items."10".show_if.any[8].item: unknown item "90"',
        ),
        (  # missing translation
            "  en: PHQ-9 Patient Health Questionnaire (depression)\n",
            "",
            "title.en: missing English translation (en)",
        ),
        (  # golden vector that disagrees with the scoring
            "expect: {total: {score: 9, band: mild}}",
            "expect: {total: {score: 8, band: mild}}",
            'golden."all ones (9, mild, item 9 alert)".expect.total.score: expected 8, scoring gives 9',
        ),
    ],
)
def test_check_reports_a_broken_file_precisely(tmp_path: Path, old: str, new: str, expected: str) -> None:
    path = _broken_copy(tmp_path, old, new)
    result = run(questionnaires, "check", str(path))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith(f"{path}:") and line.endswith(expected) for line in lines), lines
    assert lines[-1] == "rom-portal: 1 problem in 1 file"
    assert "Traceback" not in result.stderr


def test_a_broken_shared_option_list_is_reported_for_every_item_using_it(tmp_path: Path) -> None:
    path = _broken_copy(
        tmp_path, "  - value: 3\n    label: {nl: Bijna elke dag", "  - value: 2\n    label: {nl: Bijna elke dag"
    )
    lines = run(questionnaires, "check", str(path)).stderr.strip().splitlines()
    # The line is that of the broken option inside the shared list, whichever item uses it.
    option_line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "Bijna elke dag" in text) - 1
    for item in range(1, 10):
        assert f'{path}:{option_line}: items."{item}".options[3].value: duplicate option value 2' in lines
    # ...and the consequence: the top band can no longer be reached.
    assert f"{path}:" in lines[-2] and lines[-2].endswith(
        'scales."total".bands."severe": band lies outside the possible scores 0-18'
    )


def test_check_a_folder_lists_problems_of_every_file(tmp_path: Path) -> None:
    shutil.copy(SHIPPED / "gad7.yaml", tmp_path / "gad7.yaml")
    _broken_copy(tmp_path, "  en: PHQ-9 Patient Health Questionnaire (depression)\n", "")
    (tmp_path / "who5.yaml").write_text("key: who5\nkey: again\n", encoding="utf-8")
    result = run(questionnaires, "check", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == "rom-portal: 2 problems in 2 files"


def test_check_a_missing_path() -> None:
    assert_one_clear_line(run(questionnaires, "check", "/nonexistent/x.yaml"), 2, "no such file or folder")


def test_list_shows_every_instrument() -> None:
    result = run(questionnaires, "list", "--lang", "en")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["KEY", "VERSION", "RESPONDENT"]
    assert [line.split()[0] for line in lines[1:]] == KEYS
    assert any("informant (parent)" in line and line.startswith("psc17") for line in lines)
    assert "WHO-5 Well-Being Index" in result.stdout
    assert "WHO-5 Welbevindenindex" in run(questionnaires, "list").stdout  # Dutch by default


def test_score_prints_the_result_as_json(tmp_path: Path) -> None:
    result = run(score, "phq9", answers_file(tmp_path, {str(n): 1 for n in range(1, 10)}), "--lang", "en")
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["questionnaire"] == "phq9"
    assert printed["version"] == 1
    assert printed["scales"]["total"]["score"] == 9
    assert printed["scales"]["total"]["band"] == "mild"
    assert printed["scales"]["total"]["band_label"] == "Mild"
    assert printed["alerts"] == ["9"]


def test_score_omitted_items_are_missing_and_null_is_printed(tmp_path: Path) -> None:
    result = run(score, "phq9", answers_file(tmp_path, {"1": 1, "2": None}))
    printed = json.loads(result.stdout)
    assert printed["scales"]["total"]["score"] is None
    assert printed["scales"]["total"]["band"] is None
    assert printed["scales"]["total"]["answered"] == 1


def test_score_reads_standard_input() -> None:
    result = run(score, "who5", "-", stdin='{"1": 5, "2": 5, "3": 5, "4": 5, "5": 5}')
    assert result.exit_code == 0
    assert json.loads(result.stdout)["scales"]["total"]["score"] == 100


def test_score_a_specific_version(tmp_path: Path) -> None:
    folder = tmp_path / "catalogue"
    folder.mkdir()
    shutil.copy(SHIPPED / "who5.yaml", folder / "who5.yaml")
    text = (SHIPPED / "who5.yaml").read_text(encoding="utf-8").replace("version: 1", "version: 2", 1)
    (folder / "who5-v2.yaml").write_text(text, encoding="utf-8")
    answers = answers_file(tmp_path, {"1": 1, "2": 1, "3": 1, "4": 1, "5": 1})
    assert json.loads(run(score, "who5", answers, "--dir", str(folder)).stdout)["version"] == 2
    assert json.loads(run(score, "who5", answers, "--dir", str(folder), "--version", "1").stdout)["version"] == 1
    assert_one_clear_line(
        run(score, "who5", answers, "--dir", str(folder), "--version", "3"),
        2,
        "who5 has no version 3 (available: 1, 2)",
    )


def test_score_unknown_item_exits_2(tmp_path: Path) -> None:
    result = run(score, "phq9", answers_file(tmp_path, {"1": 1, "12": 0}))
    assert_one_clear_line(result, 2, 'item "12": is not an item of phq9 (version 1)')
    assert result.stdout == ""


def test_score_value_the_item_does_not_allow_exits_2(tmp_path: Path) -> None:
    result = run(score, "gad7", answers_file(tmp_path, {"1": 4}))
    assert_one_clear_line(result, 2, 'item "1": 4 is not one of the answer options (0, 1, 2, 3)')


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2, 3]", "expected a JSON object mapping item id to value"),
        ('"1"', "expected a JSON object"),
    ],
)
def test_score_bad_answers_file_exits_2(tmp_path: Path, content: str, fragment: str) -> None:
    assert_one_clear_line(run(score, "phq9", answers_file(tmp_path, content)), 2, fragment)


def test_score_unreadable_answers_file_exits_2(tmp_path: Path) -> None:
    assert_one_clear_line(run(score, "phq9", str(tmp_path / "missing.json")), 2, "cannot read")


def test_score_unknown_questionnaire_exits_2(tmp_path: Path) -> None:
    result = run(score, "phq99", answers_file(tmp_path, {}))
    assert_one_clear_line(result, 2, "unknown questionnaire 'phq99'", "phq9")


def test_score_with_a_broken_catalogue_exits_1(tmp_path: Path) -> None:
    folder = tmp_path / "catalogue"
    folder.mkdir()
    _broken_copy(folder, "  en: PHQ-9 Patient Health Questionnaire (depression)\n", "")
    result = run(score, "phq9", answers_file(tmp_path, {}), "--dir", str(folder))
    assert result.exit_code == 1
    assert "title.en: missing English translation" in result.stderr


@pytest.mark.parametrize(
    ("command", "args", "fragment"),
    [
        (questionnaires, ["--help"], "Check and list questionnaire definitions"),
        (questionnaires, ["check", "--help"], "Validate definitions"),
        (questionnaires, ["list", "--help"], "List the questionnaires"),
        (score, ["--help"], "KEY ANSWERS.json"),
        (score, ["-h"], "Omitted items (or null) are missing"),
    ],
)
def test_help(command: click.Command, args: list[str], fragment: str) -> None:
    result = run(command, *args)
    assert result.exit_code == 0
    assert fragment in result.stdout


def test_commands_plug_into_a_main_group(tmp_path: Path) -> None:
    """How rom_portal/cli.py uses them: main.add_command(questionnaires); main.add_command(score)."""

    @click.group()
    def main() -> None:
        pass

    main.add_command(questionnaires)
    main.add_command(score)
    assert run(main, "questionnaires", "check").exit_code == 0
    result = run(main, "score", "k10", answers_file(tmp_path, {str(n): 1 for n in range(1, 11)}))
    assert json.loads(result.stdout)["scales"]["total"]["score"] == 10
