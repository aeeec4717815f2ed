"""``rom-portal questionnaires check|list`` and ``rom-portal score``.

``rom_portal/cli.py`` adds these to its group: ``main.add_command(questionnaires); main.add_command(score)``.
Exit status: 0 fine, 1 a definition is invalid, 2 bad input (unknown file, key, item or value).
Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from rom_portal.paths import resource_dir
from rom_portal.questionnaires import (
    AnswerError,
    Catalogue,
    DefinitionError,
    Questionnaire,
    load_catalogue,
    load_definition,
)
from rom_portal.questionnaires import (
    score as score_answers,
)

_HELP = {"help_option_names": ["-h", "--help"]}
_DIR_HELP = "Folder with the definitions (default: the shipped questionnaires/)."
EXIT_INVALID = 1
EXIT_BAD_INPUT = 2


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    click.echo(f"rom-portal: {message}", err=True)
    sys.exit(code)


def _shipped_dir() -> Path:
    try:
        return resource_dir("questionnaires")
    except FileNotFoundError as exc:
        _fail(str(exc))


def _report_invalid(error: DefinitionError) -> NoReturn:
    for problem in error.problems:
        click.echo(str(problem), err=True)
    files = len({problem.file for problem in error.problems})
    count = len(error.problems)
    _fail(f"{count} problem{'s' if count != 1 else ''} in {files} file{'s' if files != 1 else ''}", EXIT_INVALID)


def _catalogue(directory: Path | None) -> Catalogue:
    folder = directory or _shipped_dir()
    if not folder.is_dir():
        _fail(f"{folder}: no such folder")
    try:
        return load_catalogue(folder)
    except DefinitionError as exc:
        _report_invalid(exc)


@click.group("questionnaires", context_settings=_HELP)
def questionnaires() -> None:
    """Check and list questionnaire definitions (questionnaires/*.yaml)."""


@questionnaires.command("check", context_settings=_HELP)
@click.argument("path", required=False, type=click.Path(path_type=Path))
def check(path: Path | None) -> None:
    """Validate definitions: every shipped one, or PATH (a file or a folder).

    Runs every golden vector too. Lists all problems and exits 1 if there are any.
    """
    target = path or _shipped_dir()
    if not target.exists():
        _fail(f"{target}: no such file or folder")
    if target.is_dir():
        definitions = _catalogue(target).all_versions()
    else:
        try:
            definitions = [load_definition(target)]
        except DefinitionError as exc:
            _report_invalid(exc)
    if not definitions:
        _fail(f"{target}: no definition files (*.yaml) found")
    vectors = sum(len(definition.golden) for definition in definitions)
    names = ", ".join(f"{definition.key} v{definition.version}" for definition in definitions)
    click.echo(f"ok: {len(definitions)} definition(s) valid, {vectors} golden vector(s) pass ({names})")


@questionnaires.command("list", context_settings=_HELP)
@click.option("--dir", "directory", type=click.Path(path_type=Path, file_okay=False), help=_DIR_HELP)
@click.option("--lang", type=click.Choice(["nl", "en"]), default="nl", show_default=True, help="Language of titles.")
def list_definitions(directory: Path | None, lang: str) -> None:
    """List the questionnaires in the catalogue (latest version of each)."""
    catalogue = _catalogue(directory)
    rows = [("KEY", "VERSION", "RESPONDENT", "ITEMS", "SCALES", "TITLE")]
    for key, definition in catalogue.items():
        respondent = definition.respondent.kind
        if definition.respondent.who:
            respondent += f" ({definition.respondent.who})"
        answerable = sum(1 for item in definition.items if item.type != "instruction")
        scales = ",".join(scale.id for scale in definition.scales) or "-"
        rows.append((key, str(definition.version), respondent, str(answerable), scales, definition.title.get(lang)))
    widths = [max(len(row[column]) for row in rows) for column in range(5)]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True)) + "  " + row[5])


def _read_answers(source: str) -> dict[str, Any]:
    label = "standard input" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        _fail(f"{label}: cannot read: {exc.strerror or exc}")
    except UnicodeDecodeError:
        _fail(f"{label}: not UTF-8 text")
    try:
        answers = json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(f"{label}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})")
    if not isinstance(answers, dict):
        _fail(f'{label}: expected a JSON object mapping item id to value, e.g. {{"1": 2, "2": 0}}')
    return answers


def _pick(catalogue: Catalogue, key: str, version: int | None) -> Questionnaire:
    if key not in catalogue:
        known = ", ".join(catalogue) or "none"
        _fail(f"unknown questionnaire {key!r} (known: {known})")
    if version is None:
        return catalogue[key]
    try:
        return catalogue.get_version(key, version)
    except KeyError:
        versions = ", ".join(str(number) for number in catalogue.versions(key))
        _fail(f"{key} has no version {version} (available: {versions})")


@click.command("score", context_settings=_HELP)
@click.argument("key")
@click.argument("answers_file", metavar="ANSWERS.json")
@click.option("--version", "version", type=int, help="Definition version (default: the latest).")
@click.option("--dir", "directory", type=click.Path(path_type=Path, file_okay=False), help=_DIR_HELP)
@click.option(
    "--lang", type=click.Choice(["nl", "en"]), default="nl", show_default=True, help="Language of band labels."
)
def score(key: str, answers_file: str, version: int | None, directory: Path | None, lang: str) -> None:
    """Score ANSWERS.json (or - for standard input) with questionnaire KEY and print the result as JSON.

    ANSWERS.json holds one JSON object mapping item id to value, e.g. {"1": 2, "2": 0}. Omitted items (or
    null) are missing. Scales that cannot be scored print "score": null.
    """
    definition = _pick(_catalogue(directory), key, version)
    answers = _read_answers(answers_file)
    try:
        result = score_answers(definition, answers)
    except AnswerError as exc:
        _fail(f"{'standard input' if answers_file == '-' else answers_file}: {exc}")
    click.echo(json.dumps(result.as_dict(lang), ensure_ascii=False, indent=2))
