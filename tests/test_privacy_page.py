"""The client's privacy page: what is stored, roepnaam, research consent, and who looked at their data."""

from __future__ import annotations

import html
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select
from starlette.testclient import TestClient

from rom_portal.db import Database
from rom_portal.models import AuditEvent, Consent, ConsentKind, Registration, User
from rom_portal.models.base import utcnow
from rom_portal.services import consent
from rom_portal.services.access_log import months_before
from rom_portal.services.audit import Actor, record
from tests.conftest import People, csrf_of, login_as

ZONE = ZoneInfo("Europe/Amsterdam")


def _today() -> date:
    return datetime.now(ZONE).date()


def _audit(
    db: Database,
    actor: Actor,
    action: str,
    object_type: str,
    registration_id: int | None,
    *,
    days_ago: float = 1,
    outcome: str = "success",
    object_id: object = "1",
) -> None:
    with db.session(write=True) as session:
        record(session, actor, action, object_type, object_id, registration_id=registration_id, outcome=outcome)
        session.flush()
        row = session.exec(select(AuditEvent).order_by(col(AuditEvent.id).desc())).first()
        assert row is not None
        row.at = utcnow() - timedelta(days=days_ago)


def _log_rows(page: str) -> list[list[str]]:
    """The access log's table as text: one list of cells (when, who, what) per row."""
    body = re.search(r'<table class="stack-table access-log-table".*?<tbody[^>]*>(.*?)</tbody>', page, re.S)
    if body is None:
        return []
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    return [
        [
            " ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split())
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in rows
    ]


def _post(client: TestClient, path: str, data: dict[str, str]) -> object:
    token = csrf_of(client, "/client/privacy")
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)


# --- What is stored ---------------------------------------------------------------------------------------


def test_privacy_page_tells_the_client_what_is_stored_and_links_to_their_choices(
    client: TestClient, db: Database, people: People
) -> None:
    with db.session(write=True) as session:
        registration = session.get(Registration, people.carol_registration.id)
        assert registration is not None
        registration.birth_year = 1987
        registration.reminder_email = "carol@example.org"
    login_as(client, db, people.carol)
    page = client.get("/client/privacy")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    text = html.unescape(page.text)
    assert "<code>carol</code>" in text
    assert "Alice Jansen" in text  # her therapist, by name
    assert "1987" in text
    assert "carol@example.org" not in text  # only that an address is given
    assert "Zolang u cliënt bent bij de praktijk" in text
    for target in (
        "/client/privacy/download",
        "/client/privacy/erase",
        "/account",
        "/account/password",
        "/account/reminders",
        "/client/privacy/log",
    ):
        assert f'href="{target}"' in text, target
    # Research consent is opt-in: the box is not ticked.
    box = re.search(r'<input type="checkbox" id="agree"[^>]*>', text)
    assert box is not None and "checked" not in box.group(0)
    assert consent.RESEARCH_STATEMENT_VERSION in text


def test_a_therapist_without_a_display_name_is_not_shown_by_login_name(
    client: TestClient, db: Database, people: People
) -> None:
    with db.session(write=True) as session:
        session.get(User, people.alice.id).display_name = ""
    login_as(client, db, people.carol)
    text = client.get("/client/privacy").text
    assert "<dd>uw behandelaar</dd>" in text
    assert "Uw behandelaar ziet uw antwoorden" in text
    assert not re.search(r"\balice\b", text, re.IGNORECASE)


def test_client_home_links_to_the_privacy_page(client: TestClient, db: Database, people: People) -> None:
    login_as(client, db, people.carol)
    assert 'href="/client/privacy"' in client.get("/client").text


@pytest.mark.parametrize("persona", ["alice", "rita", "adam"])
def test_staff_do_not_reach_the_privacy_pages(client: TestClient, db: Database, people: People, persona: str) -> None:
    login_as(client, db, getattr(people, persona))
    for path in ("/client/privacy", "/client/privacy/log"):
        assert client.get(path).status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client: TestClient, people: People) -> None:
    response = client.get("/client/privacy/log", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


# --- Roepnaam --------------------------------------------------------------------------------------------


def test_client_changes_their_roepnaam_and_the_audit_row_does_not_hold_it(
    client: TestClient, db: Database, people: People
) -> None:
    login_as(client, db, people.carol)
    response = _post(client, "/client/privacy/name", {"display_name": "  Caro   Lientje "})
    assert response.status_code == 303
    with db.session() as session:
        assert session.get(User, people.carol.id).display_name == "Caro Lientje"
        rows = session.exec(select(AuditEvent).where(AuditEvent.object_type == "display_name")).all()
    assert [(row.action, row.registration_id, row.actor_user_id) for row in rows] == [
        ("update", people.carol_registration.id, people.carol.id)
    ]
    assert all("Caro" not in str(value) for value in rows[0].model_dump().values())
    page = client.get(response.headers["location"])
    assert "Uw naam is opgeslagen." in page.text
    assert "Welkom, Caro Lientje" in client.get("/client").text


@pytest.mark.parametrize(
    ("typed", "message"),
    [("   ", "Vul de naam in waarmee we u mogen aanspreken."), ("x" * 81, "Gebruik hoogstens 80 tekens.")],
)
def test_a_roepnaam_breaking_the_signup_rules_is_refused(
    client: TestClient, db: Database, people: People, typed: str, message: str
) -> None:
    login_as(client, db, people.carol)
    response = _post(client, "/client/privacy/name", {"display_name": typed})
    assert response.status_code == 400
    assert message in html.unescape(response.text)
    with db.session() as session:
        assert session.get(User, people.carol.id).display_name == "Carol"
        assert session.exec(select(AuditEvent).where(AuditEvent.object_type == "display_name")).all() == []


def test_saving_the_same_roepnaam_changes_and_records_nothing(client: TestClient, db: Database, people: People) -> None:
    login_as(client, db, people.carol)
    assert _post(client, "/client/privacy/name", {"display_name": "Carol"}).status_code == 303
    with db.session() as session:
        assert session.exec(select(AuditEvent).where(AuditEvent.object_type == "display_name")).all() == []


# --- Research consent --------------------------------------------------------------------------------------


def _research_consents(db: Database, registration_id: int) -> list[Consent]:
    with db.session() as session:
        return list(
            session.exec(
                select(Consent)
                .where(Consent.registration_id == registration_id, Consent.kind == ConsentKind.research)
                .order_by(col(Consent.id))
            )
        )


def _consent_audit(db: Database) -> list[tuple[str, int | None]]:
    with db.session() as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.object_type == "consent").order_by(col(AuditEvent.id)))
        return [(row.action, row.registration_id) for row in rows]


def test_research_consent_needs_the_box_ticked(client: TestClient, db: Database, people: People) -> None:
    login_as(client, db, people.carol)
    response = _post(client, "/client/privacy/research", {})
    assert response.status_code == 400
    assert "Zet een vinkje" in response.text
    assert _research_consents(db, people.carol_registration.id) == []
    assert _consent_audit(db) == []


def test_research_consent_is_given_and_withdrawn_with_time_and_version_and_audited(
    client: TestClient, db: Database, people: People
) -> None:
    carol_id = people.carol_registration.id
    login_as(client, db, people.carol)
    before = utcnow()
    for _twice in range(2):  # a double click records one consent
        assert _post(client, "/client/privacy/research", {"agree": "yes"}).status_code == 303
    (given,) = _research_consents(db, carol_id)
    assert given.statement_version == consent.RESEARCH_STATEMENT_VERSION
    assert before - timedelta(seconds=1) <= given.given_at <= utcnow()
    assert given.withdrawn_at is None
    assert _consent_audit(db) == [("create", carol_id)]
    with db.session() as session:
        assert consent.has_research_consent(session, carol_id)
        assert not consent.has_research_consent(session, people.dave_registration.id)
        counted = session.exec(
            select(Registration.id).where(col(Registration.id).in_(consent.research_consented()))
        ).all()
        assert counted == [carol_id]
    page = client.get("/client/privacy")
    assert "Toestemming intrekken" in page.text

    for _twice in range(2):  # withdrawing twice changes nothing more
        assert _post(client, "/client/privacy/research/withdraw", {}).status_code == 303
    (withdrawn,) = _research_consents(db, carol_id)
    assert withdrawn.withdrawn_at is not None and withdrawn.withdrawn_at >= given.given_at
    assert _consent_audit(db) == [("create", carol_id), ("update", carol_id)]
    with db.session() as session:
        assert not consent.has_research_consent(session, carol_id)
        assert (
            session.exec(select(Registration.id).where(col(Registration.id).in_(consent.research_consented()))).all()
            == []
        )

    # Given again later: a new row; the history keeps both.
    assert _post(client, "/client/privacy/research", {"agree": "yes"}).status_code == 303
    first, second = _research_consents(db, carol_id)
    assert first.withdrawn_at is not None and second.withdrawn_at is None
    history = client.get("/client/privacy").text
    assert history.count('<tr role="row">') == 3  # header and two consents
    assert "Niet ingetrokken" in history


def test_withdrawing_without_a_consent_records_nothing(client: TestClient, db: Database, people: People) -> None:
    login_as(client, db, people.carol)
    assert _post(client, "/client/privacy/research/withdraw", {}).status_code == 303
    assert _consent_audit(db) == []


def test_one_clients_consent_leaves_another_client_untouched(client: TestClient, db: Database, people: People) -> None:
    with db.session(write=True) as session:
        consent.give_research_consent(session, Actor(people.dave.id, "client"))
    login_as(client, db, people.carol)
    assert _post(client, "/client/privacy/research/withdraw", {}).status_code == 303
    (daves,) = _research_consents(db, people.dave_registration.id)
    assert daves.withdrawn_at is None
    assert "U hebt geen toestemming gegeven voor onderzoek." in html.unescape(client.get("/client/privacy").text)


# --- Who looked at my data ----------------------------------------------------------------------------------


def test_the_log_shows_who_did_what_in_words(client: TestClient, db: Database, people: People) -> None:
    carol = people.carol_registration.id
    alice, adam, me = (
        Actor(people.alice.id, "therapist"),
        Actor(people.adam.id, "admin"),
        Actor(people.carol.id, "client"),
    )
    _audit(db, alice, "read", "results", carol, days_ago=1)
    _audit(db, alice, "read", "submission", carol, days_ago=2)
    _audit(db, adam, "create", "reset_code", carol, days_ago=3)
    _audit(db, Actor(None, "informant"), "submit", "submission", carol, days_ago=4)
    _audit(db, Actor.system("reminders send"), "send", "reminder", carol, days_ago=5)
    _audit(db, me, "login", "account", None, days_ago=6)
    _audit(db, me, "login", "account", None, days_ago=7, outcome="failure")
    _audit(db, alice, "frobnicate", "widget", carol, days_ago=8)
    login_as(client, db, people.carol)
    page = client.get("/client/privacy/log")
    assert page.status_code == 200
    rows = [cells[1:] for cells in _log_rows(page.text)]
    assert rows == [
        ["Alice Jansen (behandelaar)", "Bekeek uw uitslagen"],
        ["Alice Jansen (behandelaar)", "Bekeek uw antwoorden op een vragenlijst"],
        ["Adam (beheerder)", "Maakte een code waarmee u een nieuw wachtwoord kunt instellen"],
        ["Een informant", "Vulde een vragenlijst over u in"],
        ["Het portaal", "Stuurde u een herinnering per e-mail"],
        ["U zelf", "Logde in"],
        ["Onbekend", "Probeerde in te loggen met uw gebruikersnaam, maar het wachtwoord klopte niet"],
        ["Alice Jansen (behandelaar)", "Een andere handeling (frobnicate widget)"],
    ]
    assert re.fullmatch(r"\d{1,2} \w+\.? \d{4} \d{2}:\d{2}", _log_rows(page.text)[0][0])


def test_another_clients_log_never_shows(client: TestClient, db: Database, people: People) -> None:
    carol, dave = people.carol_registration.id, people.dave_registration.id
    _audit(db, Actor(people.alice.id, "therapist"), "read", "results", carol)
    _audit(db, Actor(people.bob.id, "therapist"), "read", "report", dave)
    _audit(db, Actor(people.dave.id, "client"), "login", "account", None)
    _audit(db, Actor(people.dave.id, "client"), "change_password", "account", None)
    login_as(client, db, people.carol)
    page = client.get("/client/privacy/log").text
    assert [cells[1:] for cells in _log_rows(page)] == [["Alice Jansen (behandelaar)", "Bekeek uw uitslagen"]]
    assert "Bob de Boer" not in page

    login_as(client, db, people.dave)
    daves = [cells[1:] for cells in _log_rows(client.get("/client/privacy/log").text)]
    assert ["Alice Jansen (behandelaar)", "Bekeek uw uitslagen"] not in daves
    assert ["Bob de Boer (behandelaar)", "Bekeek het verslag van uw uitslagen"] in daves


def test_viewing_the_log_is_recorded_once_per_view(client: TestClient, db: Database, people: People) -> None:
    login_as(client, db, people.carol)
    first = client.get("/client/privacy/log")
    assert _log_rows(first.text) == []  # a view does not list itself
    with db.session() as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.object_type == "access_log")).all()
    assert [(row.action, row.registration_id, row.actor_user_id) for row in rows] == [
        ("read", people.carol_registration.id, people.carol.id)
    ]
    second = client.get("/client/privacy/log")
    assert [cells[1:] for cells in _log_rows(second.text)] == [["U zelf", "Bekeek wie uw gegevens bekeek"]]
    others = client.get("/client/privacy/log?who=others")
    assert _log_rows(others.text) == []


def test_the_log_shows_the_last_three_months_unless_asked_otherwise(
    client: TestClient, db: Database, people: People
) -> None:
    carol = people.carol_registration.id
    alice = Actor(people.alice.id, "therapist")
    _audit(db, alice, "read", "results", carol, days_ago=10)
    _audit(db, alice, "read", "report", carol, days_ago=200)
    login_as(client, db, people.carol)
    today = _today()
    default = client.get("/client/privacy/log?who=others").text
    assert [cells[2] for cells in _log_rows(default)] == ["Bekeek uw uitslagen"]
    assert f'value="{months_before(today, 3).isoformat()}"' in default
    assert f'value="{today.isoformat()}"' in default

    old_day = (datetime.now(ZONE) - timedelta(days=200)).date()
    only_old = client.get(f"/client/privacy/log?who=others&from={old_day.isoformat()}&to={old_day.isoformat()}").text
    assert [cells[2] for cells in _log_rows(only_old)] == ["Bekeek het verslag van uw uitslagen"]
    everything = client.get(f"/client/privacy/log?who=others&from={(old_day - timedelta(days=1)).isoformat()}").text
    assert len(_log_rows(everything)) == 2


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-13-45", "We konden die datum niet lezen."),
        ("from=gisteren&to=2026-01-01", "We konden die datum niet lezen."),
        ("to=20260101", "We konden die datum niet lezen."),
        ("from=2020-01-01&to=9999-12-31", "We konden die datum niet lezen."),  # the day after would overflow
        ("from=9999-12-31&to=9999-12-31", "We konden die datum niet lezen."),
        ("from=2020-01-01&to=2100-01-01", "We konden die datum niet lezen."),
        ("from=1999-12-31", "We konden die datum niet lezen."),
        ("from=2026-03-01&to=2026-01-01", "De eerste datum ligt na de tweede datum."),
    ],
)
def test_a_bad_period_gets_a_clear_message_and_the_default_period(
    client: TestClient, db: Database, people: People, query: str, message: str
) -> None:
    login_as(client, db, people.carol)
    page = client.get(f"/client/privacy/log?{query}")
    assert page.status_code == 200
    assert message in page.text
    assert f'value="{months_before(_today(), 3).isoformat()}"' in page.text


def test_a_long_history_comes_in_pages(client: TestClient, db: Database, people: People) -> None:
    carol = people.carol_registration.id
    with db.session(write=True) as session:
        now = utcnow()
        for n in range(120):
            session.add(
                AuditEvent(
                    at=now - timedelta(hours=n + 1),
                    actor_user_id=people.alice.id,
                    actor_role="therapist",
                    registration_id=carol,
                    object_type="results",
                    object_id=str(n),
                    action="read",
                    access_point="web",
                )
            )
    login_as(client, db, people.carol)
    first = client.get("/client/privacy/log?who=others").text
    assert len(_log_rows(first)) == 50
    assert "120 handelingen in deze periode." in first
    older = re.search(r'<a href="([^"]+)">Oudere handelingen</a>', first)
    assert older is not None
    second = client.get(html.unescape(older.group(1))).text
    assert len(_log_rows(second)) == 50 and "Nieuwere handelingen" in second
    last = client.get("/client/privacy/log?who=others&page=999").text  # past the end: the last page
    assert len(_log_rows(last)) == 20
    assert "Pagina 3 van 3" in last and "Oudere handelingen" not in last


def test_the_pages_speak_english_on_request(client: TestClient, db: Database, people: People) -> None:
    _audit(db, Actor(people.alice.id, "therapist"), "read", "results", people.carol_registration.id)
    login_as(client, db, people.carol)
    overview = client.get("/client/privacy?lang=en").text
    assert "What the portal keeps about you" in overview
    assert "I agree that my scores are counted in scientific research" in overview
    rows = [cells[1:] for cells in _log_rows(client.get("/client/privacy/log?lang=en").text)]
    assert rows == [["Alice Jansen (therapist)", "Looked at your results"]]
