"""Findings of the security review of the therapist workspace (issue 6), each as what a user or attacker would notice.

M2 the informants page is audited; L1 a new informant link starts empty; L2 an encoded-word address is refused and
the envelope is never read from a header; L3 an old reminder address leaves no copy in SQLite's files; L4 the
command says "reminders are off" on stderr; L5 ids too large for the database are 404, not 500; L6 a plan change
never makes a second reminder; L7 the caseload and plans pages read outside the write transaction.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from sqlalchemy import event
from sqlmodel import col, select
from starlette.testclient import TestClient

from rom_portal.app import Portal
from rom_portal.cli import main
from rom_portal.db import Database
from rom_portal.mail import Mailer, MessageRefused, SmtpConfig, build_message, plausible_address
from rom_portal.models import Answer, AuditEvent, Registration, Respondent, Submission
from rom_portal.models.base import utcnow
from rom_portal.services import reminders
from rom_portal.services.client_area import practice_today
from rom_portal.services.plans import Repeat, Schedule
from rom_portal.settings import Settings
from tests.conftest import BASE_URL, TEST_SECRET, People, csrf_of, login_as, make_settings
from tests.test_plans import _make, _occasions
from tests.test_reminders import Inbox, free_port

SENDER = "no-reply@praktijk.example"
PUBLIC_URL = "https://rom.praktijk.example"


@pytest.fixture
def settings(migrated_url: str) -> Settings:
    """Reminders switched on (the client's reminder page takes addresses); no mail server is needed."""
    return make_settings(
        migrated_url,
        smtp_host="127.0.0.1",
        smtp_port=2525,
        smtp_security="none",
        smtp_from=SENDER,
        public_url=PUBLIC_URL,
    )


def _browser(app: Portal, db: Database, user: object) -> TestClient:
    browser = TestClient(app, base_url=BASE_URL, raise_server_exceptions=False)
    login_as(browser, db, user)  # type: ignore[arg-type]
    return browser


def _audits(db: Database, action: str, object_type: str) -> list[AuditEvent]:
    with db.session() as session:
        query = select(AuditEvent).where(AuditEvent.action == action, AuditEvent.object_type == object_type)
        return list(session.exec(query.order_by(col(AuditEvent.id))).all())


@contextmanager
def _statements(db: Database) -> Iterator[list[tuple[bool, str]]]:
    """Every SQL statement run meanwhile, with whether it ran in a write transaction (``Database.write``)."""
    seen: list[tuple[bool, str]] = []

    def note(connection: object, cursor: object, statement: str, *args: object) -> None:
        options = connection.get_execution_options()  # type: ignore[attr-defined]
        seen.append((bool(options.get("rom_portal_write")), statement.lower()))

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


# --- M2: the informants page is audited -------------------------------------------------------------------


def test_each_view_of_a_clients_informants_writes_one_read_row_without_names(
    app: Portal, db: Database, people: People
) -> None:
    carol = people.carol_registration
    alice = _browser(app, db, people.alice)
    path = f"/therapist/clients/{carol.public_id}/informants"
    issued = alice.post(
        path, data={"csrf_token": csrf_of(alice, path), "questionnaire": "iqcode16", "relation": "tante"}
    )
    assert issued.status_code == 200
    before = len(_audits(db, "read", "informants"))  # csrf_of looked at the page once

    assert alice.get(path).status_code == 200
    assert alice.get(path).status_code == 200
    bob = _browser(app, db, people.bob)
    assert bob.get(path).status_code == 404  # not bob's client: no page, no read row

    events = _audits(db, "read", "informants")[before:]
    assert [(e.actor_user_id, e.actor_role, e.registration_id, e.access_point) for e in events] == [
        (people.alice.id, "therapist", carol.id, "web:therapist_informants")
    ] * 2
    flat = " ".join(f"{e.object_id} {e.object_type} {e.access_point}" for e in events).lower()
    assert "carol" not in flat and "tante" not in flat


# --- L1: a new link for a planned occasion starts empty ---------------------------------------------------


def _letter(response: object) -> tuple[str, str]:
    text = response.text  # type: ignore[attr-defined]
    token = re.search(r"https://rom\.praktijk\.example/i/([A-Za-z0-9_-]+)<", text)  # PUBLIC_URL
    code = re.search(r'class="letter__value code-display">([0-9A-Z]{4}-[0-9A-Z]{4})<', text)
    assert token and code
    return token.group(1), code.group(1)


def _open_link(app: Portal, token: str, code: str) -> TestClient:
    browser = TestClient(app, base_url=BASE_URL, raise_server_exceptions=False)
    path = f"/i/{token}"
    opened = browser.post(path, data={"csrf_token": csrf_of(browser, path), "code": code}, follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == "/i/form"
    return browser


def test_a_new_link_for_an_occasion_starts_empty_and_the_therapist_is_told(
    app: Portal, db: Database, people: People
) -> None:
    today = practice_today(app.state.settings.timezone)
    plan_id = _make(
        app,
        people,
        Schedule(today, Repeat(4, occurrences=2)),
        made_on=today,
        key="iqcode16",
        respondent=Respondent.informant,
        relation="zus",
    )
    occasion = _occasions(db, plan_id)[0]
    alice = _browser(app, db, people.alice)
    path = f"/therapist/clients/{people.carol_registration.public_id}/plans"
    page = alice.get(path).text
    assert "De nieuwe link begint leeg" in page
    link_path = f"{path}/occasions/{occasion.public_id}/link"

    old = _open_link(app, *_letter(alice.post(link_path, data={"csrf_token": csrf_of(alice, path)})))
    token = csrf_of(old, "/i/form")
    saved = old.post(
        "/i/form/answer", data={"item": "1", "item-1": "5"}, headers={"HX-Request": "true", "X-CSRF-Token": token}
    )
    assert saved.status_code == 200
    assert "1 van 16 vragen beantwoord" in old.get("/i/form").text

    # Lost letter, new link: whoever opens it sees nothing of what was typed through the old one.
    new = _open_link(app, *_letter(alice.post(link_path, data={"csrf_token": csrf_of(alice, path)})))
    assert "0 van 16 vragen beantwoord" in new.get("/i/form").text
    with db.session() as session:
        drafts = session.exec(select(Submission).where(Submission.assignment_id == occasion.id)).all()
        answers = session.exec(select(Answer)).all()
    assert len(drafts) == 1 and answers == []  # only the new, empty draft that opening the new link made
    [deleted] = _audits(db, "delete", "submission")
    assert (deleted.actor_user_id, deleted.registration_id) == (people.alice.id, people.carol_registration.id)


# --- L2: encoded-word addresses, and the envelope ---------------------------------------------------------

ENCODED = ["=?utf-8?q?mallory=40evil=2Eexample=3E?=@example.org", "a=?b@example.org", "x?=y@example.org"]


@pytest.mark.parametrize("address", ENCODED)
def test_an_address_with_an_encoded_word_is_refused(app: Portal, db: Database, people: People, address: str) -> None:
    assert not plausible_address(address)
    with pytest.raises(MessageRefused):
        build_message(SENDER, address, "Test", "Hallo")
    carol = _browser(app, db, people.carol)
    data = {"csrf_token": csrf_of(carol, "/account/reminders"), "email": address}
    assert carol.post("/account/reminders", data=data, follow_redirects=False).status_code == 400
    with db.session() as session:
        assert session.get(Registration, people.carol_registration.id).reminder_email is None
    assert plausible_address("bounce+carol=example.org@lists.example.net")  # a lone "=" or "?" is fine


def test_the_envelope_recipient_is_the_checked_address_never_the_to_header() -> None:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        message = build_message(SENDER, "carol@example.org", "Test", "Hallo")
        message.replace_header("To", "mallory@evil.example")  # whatever a header turns out to say
        with Mailer(SmtpConfig("127.0.0.1", port, "none", "", "", SENDER, 10)) as mailer:
            mailer.send(message, "carol@example.org")
    finally:
        controller.stop()
    [received] = inbox.received
    assert received.rcpt_tos == ["carol@example.org"] and received.mail_from == SENDER


# --- L3: an old reminder address leaves no copy in the SQLite files --------------------------------------


def _bytes_absent(settings: Settings, marker: str) -> None:
    db_file = Path(settings.database_url.removeprefix("sqlite:///"))
    for path in (db_file, db_file.with_name(db_file.name + "-wal")):
        if path.exists():
            assert marker.encode() not in path.read_bytes(), path


def test_a_changed_or_removed_reminder_address_leaves_no_copy_in_the_database_files(
    app: Portal, db: Database, people: People, settings: Settings
) -> None:
    first, second = "oud-adres-5d1e@example.org", "nieuw-adres-9b2c@example.org"
    carol = _browser(app, db, people.carol)

    def post(path: str, **form: str) -> None:
        response = carol.post(path, data={"csrf_token": csrf_of(carol, "/account/reminders"), **form})
        assert response.status_code == 200, response.text  # after the redirect

    post("/account/reminders", email=first)
    post("/account/reminders", email=second)
    with db.session() as session:
        assert session.get(Registration, people.carol_registration.id).reminder_email == second
    if settings.is_sqlite:
        _bytes_absent(settings, first)
    post("/account/reminders/remove")
    with db.session() as session:
        assert session.get(Registration, people.carol_registration.id).reminder_email is None
    if settings.is_sqlite:
        _bytes_absent(settings, second)


# --- L4: "reminders are off" goes to stderr, so cron mails it ---------------------------------------------


def test_reminders_off_is_said_on_stderr_with_exit_status_0(migrated_url: str) -> None:
    clean: dict[str, str | None] = {key: None for key in os.environ if key.startswith("ROM_PORTAL_")}
    env = {**clean, "ROM_PORTAL_DATABASE_URL": migrated_url, "ROM_PORTAL_SECRET_KEY": TEST_SECRET}
    result = CliRunner().invoke(main, ["reminders", "send"], env=env, catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "reminders are off: ROM_PORTAL_SMTP_HOST is not set; nothing sent\n"


def test_the_cron_example_loads_the_same_environment_file_as_the_timer() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    cron = re.search(r"```cron\n(.*?)```", readme, re.S)
    assert cron is not None
    assert "EnvironmentFile=/etc/rom-portal/env" in readme
    assert "set -a; . /etc/rom-portal/env; set +a;" in cron.group(1)
    assert "reminders send" in cron.group(1)


# --- L5: an id no row can have is 404 --------------------------------------------------------------------

HUGE_IDS = ["99999999999999999999999", str(2**63), str(2**31), "0"]


@pytest.mark.parametrize("number", HUGE_IDS)
def test_an_id_too_large_for_the_database_is_not_found(app: Portal, db: Database, people: People, number: str) -> None:
    alice = _browser(app, db, people.alice)
    token = csrf_of(alice, "/therapist/invitations")
    for path in (f"/therapist/alerts/{number}/acknowledge", f"/therapist/invitations/{number}/revoke"):
        assert alice.post(path, data={"csrf_token": token}, follow_redirects=False).status_code == 404, path
    adam = _browser(app, db, people.adam)
    assert adam.get(f"/admin/users/{number}").status_code == 404


# --- L6: a plan change never makes a second reminder ------------------------------------------------------


def test_a_reminded_occasion_is_kept_at_a_plan_change_and_never_reminded_again(
    app: Portal, db: Database, people: People
) -> None:
    today = practice_today(app.state.settings.timezone)
    plan_id = _make(app, people, Schedule(today + timedelta(days=3), Repeat(4, occurrences=3)), made_on=today)
    first = _occasions(db, plan_id)[0]
    with db.session(write=True) as session:
        registration = session.get(Registration, people.carol_registration.id)
        registration.reminder_email = "carol@example.org"
        session.add(registration)
    now = utcnow()
    with db.session() as session:
        [waiting] = reminders.due(session, today, now, 4).clients
    assert waiting.assignment_ids == (first.id,)
    with db.session(write=True) as session:
        assert reminders.claim(session, waiting, now, 4) is not None  # the e-mail went out

    alice = _browser(app, db, people.alice)
    path = f"/therapist/clients/{people.carol_registration.public_id}/plans"
    form = {"csrf_token": csrf_of(alice, path), "interval": "2", "count": "3"}
    assert alice.post(f"{path}/{plan_id}/change", data=form, follow_redirects=False).status_code == 303

    after = _occasions(db, plan_id)
    assert after[0].public_id == first.public_id and after[0].reminded_at is not None
    assert [one.due_on for one in after] == [today + timedelta(days=3 + 14 * k) for k in range(3)]
    with db.session() as session:
        assert reminders.due(session, today, utcnow(), 4).clients == []


# --- L7: the caseload and plans pages read outside the write transaction -----------------------------------


def test_the_caseload_is_read_outside_the_write_that_audits_it(app: Portal, db: Database, people: People) -> None:
    alice = _browser(app, db, people.alice)
    with _statements(db) as seen:
        assert alice.get("/therapist").status_code == 200
    in_writes = [statement for write, statement in seen if write]
    in_reads = [statement for write, statement in seen if not write]
    assert any("alert" in statement for statement in in_reads)
    assert not any(one.lstrip().startswith(("insert", "update", "delete")) for one in in_reads), in_reads
    assert not any("alert" in one or "submission" in one for one in in_writes), in_writes
    assert any(one.startswith("insert into audit_event") for one in in_writes)
    events = _audits(db, "read", "caseload")
    assert [(e.actor_user_id, e.registration_id, e.access_point) for e in events] == [
        (people.alice.id, None, "web:therapist_home")
    ]


def test_the_plans_page_is_read_outside_the_write_that_audits_it(app: Portal, db: Database, people: People) -> None:
    today = practice_today(app.state.settings.timezone)
    _make(app, people, Schedule(today, Repeat(2, occurrences=3)), made_on=today)
    alice = _browser(app, db, people.alice)
    path = f"/therapist/clients/{people.carol_registration.public_id}/plans"
    with _statements(db) as seen:
        assert alice.get(path).status_code == 200
    in_writes = [statement for write, statement in seen if write]
    in_reads = [statement for write, statement in seen if not write]
    assert any("measurement_plan" in statement for statement in in_reads)
    assert not any(one.lstrip().startswith(("insert", "update", "delete")) for one in in_reads), in_reads
    assert not any("measurement_plan" in one or "assignment" in one for one in in_writes), in_writes
    events = _audits(db, "read", "measurement_plans")
    assert [(e.actor_user_id, e.registration_id, e.object_id) for e in events] == [
        (people.alice.id, people.carol_registration.id, str(people.carol_registration.id))
    ]
