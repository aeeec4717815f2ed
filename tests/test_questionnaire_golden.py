"""Every shipped definition: valid, complete in both languages, and its golden vectors score as written.

The comparison here is written independently of ``checks.py``, so a bug in the checker cannot hide a
wrong score.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import rom_portal.cli_questionnaires as cli
from rom_portal.questionnaires import Catalogue, Questionnaire, load_catalogue, load_definition, score
from rom_portal.questionnaires.schema import GoldenVector

SHIPPED = Path(__file__).resolve().parent.parent / "questionnaires"
EXPECTED_KEYS = {
    "phq9": ["total"],
    "gad7": ["total"],
    "phq15": ["total"],
    "pcl5": ["total", "b", "c", "d", "e"],
    "who5": ["total", "raw"],
    "k10": ["total"],
    "iqcode16": ["total"],
    "psc17": ["total", "internalizing", "attention", "externalizing"],
}


@functools.cache
def shipped() -> Catalogue:
    return load_catalogue(SHIPPED)


def all_vectors() -> list[Any]:
    return [
        pytest.param(definition.key, vector, id=f"{definition.key}: {vector.name}")
        for definition in shipped().all_versions()
        for vector in definition.golden
    ]


def assert_matches(definition: Questionnaire, vector: GoldenVector, result: dict[str, Any]) -> None:
    for scale_id, expected in vector.expect.items():
        got = result["scales"][scale_id]
        if expected.score is None:
            assert got["score"] is None, scale_id
        else:
            assert got["score"] == pytest.approx(expected.score, abs=1e-9), scale_id
        for key in ("band", "complete", "prorated", "clinical"):
            if key in expected.model_fields_set:
                assert got[key] == getattr(expected, key), (scale_id, key)
    assert sorted(result["alerts"]) == sorted(vector.alerts)


def test_the_eight_instruments_are_shipped_with_their_scales() -> None:
    catalogue = shipped()
    assert sorted(catalogue) == sorted(EXPECTED_KEYS)
    for key, scales in EXPECTED_KEYS.items():
        assert [scale.id for scale in catalogue[key].scales] == scales, key


def test_informant_forms() -> None:
    catalogue = shipped()
    assert catalogue["iqcode16"].respondent.model_dump() == {"kind": "informant", "who": "relative"}
    assert catalogue["psc17"].respondent.model_dump() == {"kind": "informant", "who": "parent"}
    assert all(catalogue[key].respondent.kind == "self" for key in EXPECTED_KEYS if key not in ("iqcode16", "psc17"))


@pytest.mark.parametrize("path", sorted(SHIPPED.glob("*.yaml")), ids=lambda path: path.name)
def test_each_file_loads_on_its_own(path: Path) -> None:
    definition = load_definition(path)
    assert path.stem == definition.key
    assert definition.licence.statement.nl and definition.licence.statement.en
    assert definition.citation
    assert definition.notes, "notes must record the [M] facts and the choices made"


@pytest.mark.parametrize(("key", "vector"), all_vectors())
def test_golden_vector(key: str, vector: GoldenVector) -> None:
    definition = shipped()[key]
    assert_matches(definition, vector, score(definition, vector.answers).as_dict())


@pytest.mark.parametrize("key", sorted(EXPECTED_KEYS))
def test_golden_vectors_cover_bands_missing_and_unscorable(key: str) -> None:
    definition = shipped()[key]
    assert len(definition.golden) >= 5
    results = [score(definition, vector.answers) for vector in definition.golden]
    for scale in definition.scales:
        scored = [result.scales[scale.id] for result in results]
        for band in scale.bands:
            assert any(one.band == band.id for one in scored), f"{key}.{scale.id}: no vector in band {band.id}"
        if scale.bands:  # both sides of every band edge
            hit = {one.score for one in scored if one.score is not None}
            for lower, upper in zip(scale.bands, scale.bands[1:], strict=False):
                assert any(lower.min <= value <= lower.max for value in hit)
                assert any(upper.min <= value <= upper.max for value in hit)
    main = definition.scales[0]
    totals = [result.scales[main.id] for result in results]
    assert any(not one.complete for one in totals), "a vector with missing items"
    assert any(one.score is None for one in totals), "a vector that is not scorable"
    if main.needed < len(main.items):  # missing items are allowed: show one that is still scored
        assert any(not one.complete and one.score is not None for one in totals), "a scored vector with missing items"


@pytest.mark.parametrize("key", sorted(EXPECTED_KEYS))
def test_golden_vectors_start_at_the_band_edges(key: str) -> None:
    """Where a band's lowest score can be reached with all items answered, some vector reaches it."""
    definition = shipped()[key]
    results = [score(definition, vector.answers) for vector in definition.golden]
    scale = definition.scales[0]
    reached = {result.scales[scale.id].score for result in results}
    step = 4 if scale.transform else 1  # WHO-5 percentages move in steps of 4
    for band in scale.bands:
        if scale.decimals == 0 and band.min % step == 0:
            assert band.min in reached, f"{key}: no vector at the lower edge {band.min:g} of {band.id}"


def _walk_texts(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if set(node) == {"nl", "en"}:
            return [(path, node)]
        for key, value in node.items():
            found.extend(_walk_texts(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_walk_texts(value, f"{path}[{index}]"))
    return found


@pytest.mark.parametrize("key", sorted(EXPECTED_KEYS))
def test_dutch_and_english_texts_differ_where_words_are_translated(key: str) -> None:
    texts = _walk_texts(shipped()[key].model_dump(mode="json"))
    assert texts
    translated = [path for path, text in texts if text["nl"] != text["en"]]
    # Only a few labels are the same word in both languages ("Mild"); item texts never are.
    assert len(translated) >= 0.8 * len(texts), key


def test_phq_family_anchors() -> None:
    phq9, gad7 = shipped()["phq9"], shipped()["gad7"]
    for definition in (phq9, gad7):
        labels = [option.label for option in definition.item("1").options]  # type: ignore[union-attr]
        assert [label.nl for label in labels] == [
            "Helemaal niet",
            "Meerdere dagen",
            "Meer dan de helft van de dagen",
            "Bijna elke dag",
        ]
        assert labels[0].en == "Not at all"
    labels = [option.label.en for item in gad7.items for option in getattr(item, "options", [])]
    assert not [label for label in labels if "sure" in label.lower()]


@functools.cache
def _cached_catalogue(folder: str) -> Catalogue:
    return load_catalogue(folder)


@pytest.mark.parametrize(("key", "vector"), all_vectors())
def test_golden_vector_through_the_cli(
    key: str, vector: GoldenVector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "load_catalogue", lambda folder: _cached_catalogue(str(folder)))
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps(vector.answers), encoding="utf-8")
    result = CliRunner().invoke(cli.score, [key, str(answers), "--dir", str(SHIPPED)])
    assert result.exit_code == 0, result.stderr
    assert_matches(shipped()[key], vector, json.loads(result.stdout))


def _cli_score(key: str, answers: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / f"{key}.json"
    path.write_text(json.dumps(answers), encoding="utf-8")
    result = CliRunner().invoke(cli.score, [key, str(path), "--dir", str(SHIPPED), "--lang", "en"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_examples_worked_from_the_published_scoring_rules(tmp_path: Path) -> None:
    """Answer sets scored by hand with each instrument's published rules, run end to end."""
    # PHQ-9 (Kroenke 2001): 3+3+2+2+1+1+1+0+0 = 13, moderate (10-14); item 9 = 0: no alert.
    phq9 = _cli_score("phq9", dict(zip("123456789", [3, 3, 2, 2, 1, 1, 1, 0, 0], strict=True)) | {"10": 1}, tmp_path)
    assert (phq9["scales"]["total"]["score"], phq9["scales"]["total"]["band_label"], phq9["alerts"]) == (
        13,
        "Moderate",
        [],
    )
    # GAD-7 (Spitzer 2006): all "more than half the days" = 14, moderate; >= 10 positive.
    gad7 = _cli_score("gad7", {str(n): 2 for n in range(1, 8)} | {"difficulty": 1}, tmp_path)
    assert (gad7["scales"]["total"]["score"], gad7["scales"]["total"]["band"]) == (14, "moderate")
    # WHO-5: raw 4+3+3+2+1 = 13, x 4 = 52%: just above the 50% screening threshold.
    who5 = _cli_score("who5", {"1": 4, "2": 3, "3": 3, "4": 2, "5": 1}, tmp_path)
    assert (who5["scales"]["raw"]["score"], who5["scales"]["total"]["score"]) == (13, 52)
    # K10 (1-5 coding): all "some of the time" = 30, high risk (30-50).
    k10 = _cli_score("k10", {str(n): 3 for n in range(1, 11)}, tmp_path)
    assert (k10["scales"]["total"]["score"], k10["scales"]["total"]["band"]) == (30, "high")
    # PSC-17: all "sometimes" = 17 (>= 15 positive); internalizing 5 (>= 5), attention 5 (< 7),
    # externalizing 7 (>= 7).
    psc = _cli_score("psc17", {str(n): 1 for n in range(1, 18)}, tmp_path)["scales"]
    assert [psc[s]["score"] for s in ("total", "internalizing", "attention", "externalizing")] == [17, 5, 5, 7]
    assert [psc[s]["clinical"] for s in ("total", "internalizing", "attention", "externalizing")] == [
        True,
        True,
        False,
        True,
    ]
    # PCL-5: items 1-5 = 1, 6-7 = 2, 8-14 = 3, 15-20 = 4: B 5, C 4, D 21, E 24, total 54 (>= 33).
    pcl = _cli_score(
        "pcl5", {str(n): 1 if n <= 5 else 2 if n <= 7 else 3 if n <= 14 else 4 for n in range(1, 21)}, tmp_path
    )["scales"]
    assert [pcl[s]["score"] for s in ("b", "c", "d", "e", "total")] == [5, 4, 21, 24, 54]
    assert pcl["total"]["band"] == "probable_ptsd"
    # IQCODE-16: eight "a bit worse" (4) and eight "not much change" (3): mean 3.5, above 3.3.
    iq = _cli_score("iqcode16", {str(n): 4 if n <= 8 else 3 for n in range(1, 17)}, tmp_path)["scales"]["total"]
    assert (iq["score"], iq["band"]) == (3.5, "decline")
    # PHQ-15: three symptoms "bothered a lot", four "a little", men leave item 4 empty: 6 + 4 = 10, medium.
    phq15 = _cli_score(
        "phq15",
        {str(n): 2 if n in (1, 2, 3) else 1 if n in (5, 6, 7, 8) else 0 for n in range(1, 16) if n != 4},
        tmp_path,
    )["scales"]["total"]
    assert (phq15["score"], phq15["band"], phq15["complete"]) == (10, "medium", False)
