"""The researcher's page and downloads: only researchers, mistakes shown per field, every preview and download
in the audit log, and nothing about one client on the page or in the files."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import timedelta

import pytest
from sqlmodel import col, select
from starlette.testclient import TestClient

from rom_portal.app import Portal
from rom_portal.db import Database
from rom_portal.models import Answer, AuditEvent, Registration, Submission, User
from tests.conftest import BASE_URL, People, login_as
from tests.research_cohort import EPOCH, Person, add_client

ROUTES = ("/research", "/research/export.zip", "/research/export.json")
PHQ9_AGE = "questionnaire=phq9&occasion=first&occasion=last&stratum=age&preview=1"
# Row-level things about carol that must never reach a researcher.
ROEPNAAM = "Zwaluwstaart"
TYPED_ANSWER = "Kievitsbloem-antwoord"
BIRTH_YEAR = 1931


@pytest.fixture
def cohort(app: Portal, db: Database, people: People) -> People:
    """16 consenting clients of alice with two PHQ-9s each, and carol (consenting too) with her markers."""
    catalogue = app.state.catalogue
    with db.session(write=True) as session:
        for index in range(16):
            person = Person(birth_year=1950 + 3 * index, sex=("female", "male")[index % 2], totals=(8 + index, 6))
            add_client(session, catalogue, people.alice.id, person, f"cohort-{index}")
        carol = add_client(
            session, catalogue, people.alice.id, Person(birth_year=BIRTH_YEAR, totals=(27, 3)), "carol-research"
        )
        user = session.get(User, carol.user_id)
        assert user is not None
        user.display_name = ROEPNAAM
        first = session.exec(select(Submission).where(Submission.registration_id == carol.id)).first()
        assert first is not None
        session.add(Answer(submission_id=first.id, item_id="note", value=json.dumps(TYPED_ANSWER)))
    return people


def _research_rows(db: Database) -> list[AuditEvent]:
    with db.session() as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.object_type == "research_export"))
        return list(rows.all())


def _rita(client: TestClient, db: Database, people: People) -> TestClient:
    login_as(client, db, people.rita)
    return client


@pytest.mark.parametrize("persona", ["carol", "alice", "adam"])
def test_other_roles_get_404_on_every_research_route(
    client: TestClient, db: Database, people: People, persona: str
) -> None:
    login_as(client, db, getattr(people, persona))
    for path in ROUTES:
        assert client.get(f"{path}?{PHQ9_AGE}").status_code == 404, path
    assert _research_rows(db) == []


def test_anonymous_visitors_are_sent_to_log_in(app: Portal, db: Database) -> None:
    with TestClient(app, base_url=BASE_URL) as anonymous:
        for path in ROUTES:
            response = anonymous.get(f"{path}?{PHQ9_AGE}", follow_redirects=False)
            assert response.status_code == 303 and response.headers["location"].startswith("/login?next="), path
    assert _research_rows(db) == []


def test_the_first_visit_shows_the_form_with_defaults_and_logs_nothing(
    client: TestClient, db: Database, people: People
) -> None:
    page = _rita(client, db, people).get("/research")
    assert page.status_code == 200
    text = page.text
    assert 'name="questionnaire" value="phq9"' in text and "PHQ-9" in text
    assert re.search(r'value="first" checked', text) and re.search(r'value="last" checked', text)
    assert "Voorbeeld tonen" in text and "<table" not in text
    assert "alleen cliënten die toestemming gaven" in text.lower() or "toestemming" in text
    assert _research_rows(db) == []


def test_mistakes_are_shown_per_field_keep_what_was_typed_and_log_nothing(
    client: TestClient, db: Database, people: People
) -> None:
    rita = _rita(client, db, people)
    page = rita.get("/research?preview=1&questionnaire=nope&occasion=nth&nth=twee&stratum=age&lang=en")
    assert page.status_code == 400
    text = page.text
    assert 'id="error-summary"' in text and "autofocus" in text
    assert '<a href="#questionnaire">Choose questionnaires from the list.</a>' in text
    assert '<a href="#nth">Give measurement numbers from 1 to 52' in text
    assert re.search(r'<input id="nth" name="nth" type="text" value="twee"[^>]*aria-invalid="true"', text)
    assert 'aria-describedby="nth-hint nth-error"' in text
    assert re.search(
        r'<fieldset class="field research-group research-group--error"\s*aria-describedby="[^"]*questionnaire-error',
        text,
    )
    assert re.search(r'value="age" checked', text) and re.search(r'value="nth" checked', text)
    assert not re.search(r'value="first" checked', text)  # unticked stays unticked
    nothing = rita.get("/research?preview=1&lang=en").text
    assert "Choose at least one questionnaire." in nothing and "Choose at least one moment of measurement." in nothing
    nth = rita.get("/research?preview=1&questionnaire=phq9&occasion=nth&nth=0").text
    assert 'href="#nth"' in nth
    assert _research_rows(db) == []


def test_a_download_with_mistakes_goes_back_to_the_page_and_logs_nothing(
    client: TestClient, db: Database, people: People
) -> None:
    rita = _rita(client, db, people)
    for path in ROUTES[1:]:
        response = rita.get(f"{path}?questionnaire=nope&occasion=first", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/research?questionnaire=nope&occasion=first")
        assert "Kies vragenlijsten uit de lijst." in rita.get(response.headers["location"]).text
    assert _research_rows(db) == []


def test_a_preview_shows_captioned_tables_and_writes_one_audit_row(
    client: TestClient, db: Database, cohort: People
) -> None:
    page = _rita(client, db, cohort).get(f"/research?{PHQ9_AGE}")
    assert page.status_code == 200
    text = page.text
    assert '<caption class="visually-hidden">PHQ-9, Totaalscore depressieve klachten: scores per meetmoment' in text
    assert '<th scope="col">Meetmoment</th>' in text and '<th scope="col">Leeftijd</th>' in text
    assert '<th scope="row">Eerste meting</th>' in text and '<th scope="row">alle</th>' in text
    assert 'role="region" aria-labelledby="figures-1-title" tabindex="0"' in text
    # 17 clients, first totals 8..23 and 27: a mean with a decimal comma; small age bands suppressed.
    assert re.search(r"<td[^>]*>17</td>", text)
    assert re.search(r"<td[^>]*>\d+,\d\d</td>", text)
    assert '&lt;k</span><span class="visually-hidden">onderdrukt: minder dan 10 cliënten</span>' in text
    assert "k = 10" in text and "metingen die vóór 1 " in text
    assert re.search(r"\d+ getallen zijn onderdrukt", text)
    assert 'href="/research/export.zip?questionnaire=phq9&amp;occasion=first&amp;occasion=last' in text
    rows = _research_rows(db)
    assert len(rows) == 1
    (row,) = rows
    assert (row.action, row.actor_user_id, row.actor_role) == ("preview", cohort.rita.id, "researcher")
    assert row.access_point == "web:research_home"
    assert row.detail == "q=phq9;o=first,last;s=age" and row.registration_id is None


@pytest.mark.parametrize(
    ("path", "what", "media_type", "extension"),
    [
        ("/research/export.zip", "csv", "application/zip", "zip"),
        ("/research/export.json", "json", "application/json", "json"),
    ],
)
def test_each_download_is_a_file_with_its_audit_row(
    client: TestClient, db: Database, cohort: People, path: str, what: str, media_type: str, extension: str
) -> None:
    response = _rita(client, db, cohort).get(f"{path}?{PHQ9_AGE}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    disposition = response.headers["content-disposition"]
    assert re.fullmatch(
        rf'attachment; filename="research-export-\d{{4}}-\d\d\.{extension}"; filename\*=.*', disposition
    )
    assert response.headers["cache-control"] == "no-store"
    if extension == "zip":
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        assert sorted(archive.namelist()) == ["codebook.txt", "figures.csv"]
        assert archive.read("figures.csv").decode().startswith("table,questionnaire,scale,occasion")
    else:
        document = json.loads(response.content)
        assert document["codebook"]["k"] == 10 and document["figures"]
    rows = _research_rows(db)
    assert [(row.action, row.detail) for row in rows] == [(what, "q=phq9;o=first,last;s=age")]


def test_no_page_or_file_shows_anything_about_one_client(client: TestClient, db: Database, cohort: People) -> None:
    with db.session() as session:
        carol = session.exec(
            select(Registration).join(User, col(User.id) == Registration.user_id).where(User.display_name == ROEPNAAM)
        ).one()
    rita = _rita(client, db, cohort)
    query = "questionnaire=phq9&occasion=first&occasion=last&stratum=age&stratum=sex&stratum=respondent&preview=1"
    occasions = "questionnaire=phq9&occasion=nth&nth=1,2&occasion=weeks&preview=1"
    shown = [
        rita.get(f"/research?{query}").text,
        rita.get(f"/research?{occasions}").text,
        rita.get(f"/research/export.json?{query}").content.decode(),
    ]
    archive = zipfile.ZipFile(io.BytesIO(rita.get(f"/research/export.zip?{query}").content))
    shown += [archive.read(name).decode() for name in archive.namelist()]
    day = EPOCH.date()
    markers = [
        ROEPNAAM,
        TYPED_ANSWER,
        "carol-research",
        carol.public_id,
        str(BIRTH_YEAR),
        day.isoformat(),
        (day + timedelta(weeks=4)).isoformat(),
        "cohort-0",
    ]
    for text in shown:
        for marker in markers:
            assert marker not in text, marker
