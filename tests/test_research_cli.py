"""``rom-portal research export``: the same choices and rules as the page, a file or JSON on stdout, audited."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlmodel import select

from rom_portal.cli import main
from rom_portal.db import Database
from rom_portal.models import AuditEvent
from rom_portal.paths import resource_dir
from rom_portal.questionnaires import load_catalogue
from rom_portal.settings import Settings
from tests.conftest import TEST_SECRET, People
from tests.research_cohort import Person, add_client


def _run(settings: Settings, *args: str) -> Result:
    env: dict[str, str | None] = {key: None for key in os.environ if key.startswith("ROM_PORTAL_")}
    env |= {"ROM_PORTAL_DATABASE_URL": settings.database_url, "ROM_PORTAL_SECRET_KEY": TEST_SECRET}
    return CliRunner().invoke(main, ["research", "export", *args], env=env, catch_exceptions=False)


@pytest.fixture
def cohort(db: Database, people: People) -> People:
    catalogue = load_catalogue(resource_dir("questionnaires"))
    with db.session(write=True) as session:
        for index in range(14):
            person = Person(birth_year=1960 + index, totals=(10 + index, 5))
            add_client(session, catalogue, people.alice.id, person, f"cli-cohort-{index}")
    return people


def _audit(db: Database) -> list[tuple[str, str, str, str]]:
    with db.session() as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.object_type == "research_export")).all()
        return [(row.action, row.actor_role, row.access_point, row.detail) for row in rows]


def test_json_goes_to_stdout_and_is_audited(settings: Settings, db: Database, cohort: People) -> None:
    result = _run(settings, "--questionnaire", "phq9")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["codebook"]["k"] == 10 and document["codebook"]["parameters"] == "q=phq9;o=first,last;s="
    first_n = [f for f in document["figures"] if f["occasion"] == "first" and f["statistic"] == "n"]
    assert first_n[0]["value"] == 14 and first_n[0]["age_band"] == "all"
    assert _audit(db) == [("json", "system", "cli:research export", "q=phq9;o=first,last;s=")]


def test_csv_is_a_zip_written_to_the_output_file(
    settings: Settings, db: Database, cohort: People, tmp_path: Path
) -> None:
    target = tmp_path / "out" / "delivery.zip"
    target.parent.mkdir()
    result = _run(
        settings,
        "--questionnaire",
        "phq9",
        "--questionnaire",
        "gad7",
        "--occasion",
        "weeks",
        "--stratum",
        "age",
        "--format",
        "csv",
        "--output",
        str(target),
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {target}:" in result.stdout and "(k=10)" in result.stdout
    archive = zipfile.ZipFile(io.BytesIO(target.read_bytes()))
    assert sorted(archive.namelist()) == ["codebook.txt", "figures.csv"]
    assert "weeks_0_3" in archive.read("figures.csv").decode()
    assert os.listdir(target.parent) == ["delivery.zip"]  # no temporary file left
    assert _audit(db) == [("csv", "system", "cli:research export", "q=phq9,gad7;o=w4x52;s=age")]


def test_csv_without_an_output_file_is_refused(settings: Settings, db: Database) -> None:
    result = _run(settings, "--questionnaire", "phq9", "--format", "csv")
    assert result.exit_code == 2
    assert "--format csv makes a zip file" in result.stderr and "--output FILE" in result.stderr
    assert result.stdout == ""
    assert _audit(db) == []


def test_a_bad_key_or_choice_exits_2_with_the_problem(settings: Settings, db: Database) -> None:
    unknown = _run(settings, "--questionnaire", "phq10")
    assert unknown.exit_code == 2
    assert "rom-portal: --questionnaire: Choose questionnaires from the list." in unknown.stderr
    assert "phq9" in unknown.stderr  # the keys there are
    none = _run(settings)
    assert none.exit_code == 2 and "Choose at least one questionnaire." in none.stderr
    numbers = _run(settings, "--questionnaire", "phq9", "--occasion", "nth", "--nth", "two")
    assert numbers.exit_code == 2 and "--nth: Give measurement numbers from 1 to 52" in numbers.stderr
    lonely = _run(settings, "--questionnaire", "phq9", "--nth", "2")
    assert lonely.exit_code == 2 and "--nth needs --occasion nth" in lonely.stderr
    assert _run(settings, "--questionnaire", "phq9", "--stratum", "postcode").exit_code == 2
    assert _audit(db) == []
