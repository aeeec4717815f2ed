"""Load definition files into validated ``Questionnaire`` objects, with errors a practice can act on.

Every problem names the file, the place inside it and what is wrong, e.g.
``phq9.yaml:88: items."9".show_if.item: unknown item "12"``. Items, scales, bands and golden vectors
are named by their id (``items."9"``), everything else by position counted from 0 (``options[1]``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rom_portal.questionnaires.checks import Loc, check_definition
from rom_portal.questionnaires.schema import ITEM_TYPES, LANGUAGES, Questionnaire
from rom_portal.questionnaires.yamlread import Document, YamlProblem, read_yaml

_NAMED_BY = {"items": "id", "scales": "id", "bands": "id", "golden": "name"}
_LANGUAGE_NAMES = {"nl": "Dutch", "en": "English"}
# Names pydantic puts in an error's location for union members; they are not keys in the file.
_UNION_TAGS = frozenset({"int", "float", "str", "bool", "none", "condition", "any-of", "all-of", *ITEM_TYPES})
_TYPE_WORDS = {
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "string_type": "text",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping (key: value lines)",
    "model_type": "a mapping (key: value lines)",
    "model_attributes_type": "a mapping (key: value lines)",
}
_PATTERN_HINTS = {
    r"\S": "the text is empty",
    r"^[a-z][a-z0-9_]*$": "use lowercase letters, digits and _, starting with a letter",
    r"^[A-Za-z0-9][A-Za-z0-9_.-]*$": "an id may hold only letters, digits, '.', '_' and '-'",
}
_MISSING = object()


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a definition file. ``path`` is empty for file-level problems."""

    file: str
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class DefinitionError(ValueError):
    """One or more definition files are invalid; ``problems`` lists them all."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def parse_definition(text: str | bytes, source: str = "<definition>") -> Questionnaire:
    """Validate one definition given as YAML text; ``source`` names it in error messages."""
    try:
        document = read_yaml(text)
    except YamlProblem as exc:
        raise DefinitionError([Problem(source, "", exc.message, exc.line)]) from None
    if not isinstance(document.data, dict):
        raise DefinitionError([Problem(source, "", "the file must hold a mapping (key: value lines) at the top")])
    try:
        definition = Questionnaire.model_validate(document.data)
    except ValidationError as exc:
        raise DefinitionError(_pydantic_problems(exc, document, source)) from None
    findings = check_definition(definition)
    if findings:
        raise DefinitionError([_problem(source, document, loc, message) for loc, message in findings])
    return definition


def load_definition(path: str | Path) -> Questionnaire:
    """Read and validate one definition file."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise DefinitionError([Problem(str(path), "", f"cannot read the file: {exc.strerror or exc}")]) from None
    return parse_definition(text, str(path))


def definition_files(directory: str | Path) -> list[Path]:
    """The definition files in a folder (``*.yaml``, ``*.yml``), in name order."""
    folder = Path(directory)
    return sorted(path for path in folder.iterdir() if path.suffix in (".yaml", ".yml") and path.is_file())


class Catalogue(Mapping[str, Questionnaire]):
    """Definitions by key (the latest version of each), with every version still reachable.

    Old submissions store (key, version) and stay scorable with ``catalogue.get_version(key, version)``.
    """

    def __init__(self, definitions: Iterable[Questionnaire]) -> None:
        self._versions: dict[str, dict[int, Questionnaire]] = {}
        for definition in definitions:
            self._versions.setdefault(definition.key, {})[definition.version] = definition

    def __getitem__(self, key: str) -> Questionnaire:
        versions = self._versions[key]
        return versions[max(versions)]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._versions))

    def __len__(self) -> int:
        return len(self._versions)

    def get_version(self, key: str, version: int) -> Questionnaire:
        """A specific version; ``KeyError`` if the catalogue does not hold it."""
        return self._versions[key][version]

    def versions(self, key: str) -> list[int]:
        return sorted(self._versions[key])

    def all_versions(self) -> list[Questionnaire]:
        return [self._versions[key][version] for key in self for version in self.versions(key)]


def load_catalogue(directory: str | Path) -> Catalogue:
    """Load every definition in ``directory``; raise one ``DefinitionError`` listing all problems."""
    problems: list[Problem] = []
    loaded: list[Questionnaire] = []
    origin: dict[tuple[str, int], Path] = {}
    folder = Path(directory)
    if not folder.is_dir():
        raise DefinitionError([Problem(str(folder), "", "is not a folder")])
    for path in definition_files(folder):
        try:
            definition = load_definition(path)
        except DefinitionError as exc:
            problems.extend(exc.problems)
            continue
        ident = (definition.key, definition.version)
        if ident in origin:
            message = f"{definition.key} version {definition.version} is also defined in {origin[ident].name}"
            problems.append(Problem(str(path), "version", message))
            continue
        origin[ident] = path
        loaded.append(definition)
    if problems:
        raise DefinitionError(problems)
    return Catalogue(loaded)


def _find_key(node: dict[Any, Any], key: object) -> object:
    # YAML may have read an item id as a number (`9:`) where the model speaks of "9".
    for candidate in (key, str(key), _as_int(key)):
        if candidate is not None and candidate in node:
            return candidate
    return _MISSING


def _as_int(value: object) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _locate(document: Document, loc: Loc | tuple[Any, ...]) -> tuple[str, int | None]:
    """Turn a location into ``items."9".options[1].value`` and the line of the innermost mapping or list."""
    node: Any = document.data
    line = document.line_of(node)
    parts: list[str] = []
    parent: object = None
    for position, step in enumerate(loc):
        last = position == len(loc) - 1
        if isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            entry = node[step]
            name = entry.get(_NAMED_BY.get(str(parent), "")) if isinstance(entry, dict) else None
            named = isinstance(name, (str, int)) and not isinstance(name, bool) and str(name) != ""
            parts.append(f'."{name}"' if named else f"[{step}]")
            node = entry
        elif isinstance(node, dict) and (key := _find_key(node, step)) is not _MISSING:
            parts.append(f".{step}")
            node = node[key]  # type: ignore[index]
        elif isinstance(node, dict) and last and step not in _UNION_TAGS:
            parts.append(f".{step}")  # a required key that is missing
            break
        else:
            continue  # a union member's tag, not a place in the file
        parent = step
        line = document.line_of(node) or line
    return "".join(parts).lstrip("."), line


def _problem(source: str, document: Document, loc: Loc | tuple[Any, ...], message: str) -> Problem:
    path, line = _locate(document, loc)
    return Problem(source, path, message, line)


def _describe_input(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    return "a list" if isinstance(value, list) else "a mapping"


def _message(error: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """A readable message for one pydantic error, and the location it belongs to."""
    kind, loc, ctx = error["type"], tuple(error["loc"]), error.get("ctx") or {}
    last = loc[-1] if loc else None
    if kind == "missing":
        if last in LANGUAGES:
            return f"missing {_LANGUAGE_NAMES[str(last)]} translation ({last})", loc
        return f"required key '{last}' is missing", loc
    if kind == "extra_forbidden":
        return f"unknown key '{last}' (not part of the format; check the spelling)", loc
    if kind == "union_tag_invalid":
        return f"unknown item type {ctx.get('tag')!r}; use one of: {', '.join(ITEM_TYPES)}", (*loc, "type")
    if kind == "union_tag_not_found":
        return "required key 'type' is missing", (*loc, "type")
    if kind == "string_pattern_mismatch":
        return f"{_describe_input(error['input'])}: {_PATTERN_HINTS.get(ctx.get('pattern'), error['msg'])}", loc
    if kind == "literal_error":
        return f"{_describe_input(error['input'])} is not allowed; use {ctx.get('expected')}", loc
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, "), loc
    return str(error["msg"]), loc


def _pydantic_problems(exc: ValidationError, document: Document, source: str) -> list[Problem]:
    problems: dict[str, Problem] = {}
    expected: dict[str, list[str]] = {}  # a value fitting no member of a union gets one combined message
    for error in exc.errors(include_url=False):
        if error["type"] in _TYPE_WORDS:
            path, line = _locate(document, error["loc"])
            words = expected.setdefault(path, [])
            if _TYPE_WORDS[error["type"]] not in words:
                words.append(_TYPE_WORDS[error["type"]])
            message = f"expected {' or '.join(words)}, got {_describe_input(error['input'])}"
            problems[path] = Problem(source, path, message, line)
            continue
        message, loc = _message(error)
        problem = _problem(source, document, loc, message)
        problems.setdefault(f"{problem.path}\0{message}", problem)
    return list(problems.values())
