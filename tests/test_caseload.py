"""The caseload on the therapist's start page: own clients only, the right counts, search and sort, audited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import pytest
from sqlalchemy import event
from sqlmodel import select
from starlette.testclient import TestClient

from rom_portal.app import Portal
from rom_portal.db import Database
from rom_portal.models import Alert, AuditEvent, Registration, Respondent, Role, User
from rom_portal.models.base import utcnow
from rom_portal.services import caseload
from rom_portal.services.assignments import assign
from rom_portal.services.audit import Actor
from rom_portal.services.client_area import practice_today
from rom_portal.services.filling import save_answers, submit
from tests.conftest import BASE_URL, People, login_as

ROW = re.compile(r'<tr role="row"[^>]*>\s*<th scope="row" role="rowheader">\s*<a href="[^"]+">([^<]+)</a>')


def _client(db: Database, therapist: User, username: str, name: str) -> Registration:
    with db.session(write=True) as session:
        user = User(username=username, password_hash="x", role=Role.client, display_name=name)
        session.add(user)
        session.flush()
        registration = Registration(user_id=user.id, therapist_id=therapist.id)
        session.add(registration)
        session.flush()
        return registration


def _give(
    app: Portal,
    registration: Registration,
    key: str = "phq9",
    *,
    due_on: date | None = None,
    answers: dict[str, int] | None = None,
    send_days_ago: int | None = None,
    respondent: Respondent = Respondent.self,
) -> None:
    catalogue = app.state.catalogue
    with app.state.db.session(write=True) as session:
        assignment = assign(
            session,
            catalogue,
            Actor(None, "therapist"),
            registration,
            key,
            due_on=due_on,
            respondent=respondent,
            informant_label="vader" if respondent is Respondent.informant else "",
        )
        if answers is not None:
            save_answers(session, catalogue, assignment, answers)
        if send_days_ago is not None:
            sent = submit(session, catalogue, assignment, Actor(None, "client")).submission
            sent.submitted_at = utcnow() - timedelta(days=send_days_ago)
            session.add(sent)


def _phq9(critical: bool = False) -> dict[str, int]:
    return {str(n): 1 for n in range(1, 9)} | {"9": 1 if critical else 0, "10": 1}


def _gad7() -> dict[str, int]:
    return {str(n): 1 for n in range(1, 8)} | {"difficulty": 1}


@pytest.fixture
def therapist(app: Portal, db: Database, people: People) -> TestClient:
    browser = TestClient(app, base_url=BASE_URL, raise_server_exceptions=False)
    login_as(browser, db, people.alice)
    return browser


def _names(page: str) -> list[str]:
    return ROW.findall(page)


def test_the_caseload_counts_alerts_overdue_questionnaires_and_the_last_measurement(
    app: Portal, db: Database, people: People, therapist: TestClient
) -> None:
    today = practice_today(app.state.settings.timezone)
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)
    carol = people.carol_registration
    # Carol: two critical answers (one acknowledged), three overdue (not started, a draft, an informant's),
    # one sent late (not overdue), one due today and one due tomorrow (not overdue yet).
    _give(app, carol, answers=_phq9(critical=True), send_days_ago=30)
    _give(app, carol, answers=_phq9(critical=True), send_days_ago=9)
    _give(app, carol, "gad7", answers=_gad7(), send_days_ago=3, due_on=yesterday - timedelta(days=5))
    _give(app, carol, due_on=yesterday)
    _give(app, carol, due_on=yesterday - timedelta(days=40), answers={"1": 2})
    _give(app, carol, "iqcode16", due_on=yesterday, respondent=Respondent.informant)
    _give(app, carol, due_on=today)
    _give(app, carol, due_on=tomorrow)
    with db.session(write=True) as session:
        oldest = session.exec(select(Alert).order_by(Alert.id)).first()
        oldest.acknowledged_at, oldest.acknowledged_by = utcnow(), people.alice.id
        session.add(oldest)
    # Bob's client has an alert and an overdue questionnaire: none of alice's business.
    _give(app, people.dave_registration, answers=_phq9(critical=True), send_days_ago=1)
    _give(app, people.dave_registration, due_on=yesterday)
    quiet = _client(db, people.alice, "quinten", "Quinten")

    with db.session(write=True) as session:
        overview = caseload.caseload_of(session, Actor(people.alice.id, "therapist"), today)
    rows = {row.username: row for row in overview.rows}
    assert set(rows) == {"carol", "quinten"}
    assert (rows["carol"].open_alerts, rows["carol"].overdue) == (1, 3)
    assert rows["carol"].last_questionnaire_key == "gad7"
    assert rows["carol"].last_submitted_at is not None
    assert (utcnow() - rows["carol"].last_submitted_at).days == 3
    assert (rows["quinten"].open_alerts, rows["quinten"].overdue, rows["quinten"].last_submitted_at) == (0, 0, None)
    assert (overview.clients_total, overview.alerts_total) == (2, 1)
    assert [(alert.display_name, alert.questionnaire_key, alert.item_id) for alert in overview.alerts] == [
        ("Carol", "phq9", "9")
    ]

    page = therapist.get("/therapist").text
    assert "1 open melding" in page
    assert f'href="/therapist/clients/{carol.public_id}#alerts">Carol</a>' in page
    assert "PHQ-9, vraag 9" in page
    assert "Dave" not in page and people.dave_registration.public_id not in page
    for public_id in (carol.public_id, quiet.public_id):
        assert f'href="/therapist/clients/{public_id}"' in page
        assert f'href="/therapist/clients/{public_id}/plans"' in page
        assert f'href="/therapist/clients/{public_id}/informants"' in page
        assert f'action="/therapist/clients/{public_id}/reset-code"' in page
    assert "<code>carol</code>" in page and "GAD-7" in page and "Nog geen" in page


def test_search_finds_a_roepnaam_or_username_in_any_case_and_takes_wildcards_literally(
    app: Portal, db: Database, people: People, therapist: TestClient
) -> None:
    _client(db, people.alice, "m.devries", "Marieke")
    _client(db, people.alice, "tom_100", "Tom 100%")
    _client(db, people.bob, "marietje", "Marietje")  # bob's: never found by alice
    assert _names(therapist.get("/therapist", params={"q": "MARI"}).text) == ["Marieke"]
    assert _names(therapist.get("/therapist", params={"q": "devr"}).text) == ["Marieke"]
    assert _names(therapist.get("/therapist", params={"q": "car"}).text) == ["Carol"]
    assert _names(therapist.get("/therapist", params={"q": "%"}).text) == ["Tom 100%"]
    assert _names(therapist.get("/therapist", params={"q": "m_"}).text) == ["Tom 100%"]  # not "m" + any character
    page = therapist.get("/therapist", params={"q": "  mari  "}).text
    assert "1 van de 3 cliënten passen bij “mari”" in page
    assert 'value="mari"' in page
    none = therapist.get("/therapist", params={"q": "zzz"}).text
    assert "Geen cliënt past bij “zzz”." in none and "Alle cliënten tonen" in none


def test_the_table_sorts_by_alerts_overdue_last_measurement_or_name(
    app: Portal, db: Database, people: People, therapist: TestClient
) -> None:
    today = practice_today(app.state.settings.timezone)
    anna = _client(db, people.alice, "anna", "Anna")
    bram = _client(db, people.alice, "bram", "Bram")
    _client(db, people.alice, "daan", "daan")  # lower case: sorted by name without regard to case
    carol = people.carol_registration
    _give(app, bram, answers=_phq9(critical=True), send_days_ago=2)
    _give(app, bram, due_on=today - timedelta(days=3))
    for _ in range(2):
        _give(app, anna, due_on=today - timedelta(days=3))
    _give(app, anna, answers=_phq9(), send_days_ago=60)
    _give(app, carol, answers=_phq9(), send_days_ago=10)

    def order(sort: str) -> list[str]:
        return _names(therapist.get("/therapist", params={"sort": sort}).text)

    assert order("alerts") == ["Bram", "Anna", "Carol", "daan"]
    assert order("overdue") == ["Anna", "Bram", "Carol", "daan"]
    assert order("last") == ["daan", "Anna", "Carol", "Bram"]  # never measured, then longest ago
    assert order("name") == ["Anna", "Bram", "Carol", "daan"]
    assert order("nonsense") == order("alerts")
    assert _names(therapist.get("/therapist").text) == order("alerts")

    page = therapist.get("/therapist", params={"sort": "overdue", "q": "a"}).text
    assert '<strong aria-current="true">meeste vragenlijsten te laat eerst</strong>' in page
    assert 'aria-sort="descending">Vragenlijsten te laat</th>' in page
    assert 'href="/therapist?sort=name&amp;q=a"' in page  # the search stays when sorting
    assert "gesorteerd op meeste vragenlijsten te laat eerst" in page  # the caption says it too


def test_each_view_of_the_caseload_is_audited_once_without_a_client(
    app: Portal, db: Database, people: People, therapist: TestClient
) -> None:
    _client(db, people.alice, "erik", "Erik")
    therapist.get("/therapist")
    therapist.get("/therapist", params={"q": "erik"})
    with db.session() as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.object_type == "caseload")).all()
    assert [(e.action, e.actor_user_id, e.registration_id, e.access_point) for e in events] == [
        ("read", people.alice.id, None, "web:therapist_home")
    ] * 2


@contextmanager
def _statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_the_caseload_takes_the_same_few_queries_for_few_or_many_clients(
    app: Portal, db: Database, people: People
) -> None:
    today = practice_today(app.state.settings.timezone)
    actor = Actor(people.alice.id, "therapist")

    def queries() -> int:
        with _statements(db) as seen, db.session(write=True) as session:
            caseload.caseload_of(session, actor, today, sort="last")
        return len([one for one in seen if one.lstrip().upper().startswith("SELECT")])

    few = queries()
    for number in range(30):
        registration = _client(db, people.alice, f"client{number}", f"Cliënt {number}")
        _give(app, registration, answers=_phq9(critical=number % 3 == 0), send_days_ago=number + 1)
        _give(app, registration, due_on=today - timedelta(days=number + 1))
    assert queries() == few <= 3
