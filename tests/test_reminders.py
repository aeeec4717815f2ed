"""Reminder e-mails, against a real SMTP server (aiosmtpd on 127.0.0.1) and both databases.

What a client or an attacker would notice: the e-mail goes only to someone who asked for it, says only that a
questionnaire is waiting (in their language), never comes twice for the same questionnaire (repeated runs, runs
at the same moment in threads and in processes), stays under the limit, and the address is theirs alone.
"""

from __future__ import annotations

import asyncio
import email
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import click
import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from sqlalchemy import text
from sqlmodel import col, select
from starlette.testclient import TestClient

from rom_portal.app import create_app
from rom_portal.cli import main
from rom_portal.db import Database
from rom_portal.mail import (
    Mailer,
    MailServerError,
    MessageRefused,
    SmtpConfig,
    build_message,
    mask_address,
    plausible_address,
)
from rom_portal.models import (
    Assignment,
    AuditEvent,
    Registration,
    Reminder,
    Respondent,
    Role,
    Submission,
    SubmissionStatus,
    User,
)
from rom_portal.models.base import utcnow
from rom_portal.paths import resource_dir
from rom_portal.questionnaires import load_catalogue
from rom_portal.services.client_area import practice_today
from rom_portal.services.reminders import Waiting, claim, send_reminders
from rom_portal.settings import Settings, SettingsError, load_settings
from tests.conftest import BASE_URL, TEST_SECRET, People, csrf_of, login_as, make_settings

PUBLIC_URL = "https://rom.praktijk.example"
SENDER = "no-reply@praktijk.example"
CATALOGUE = load_catalogue(resource_dir("questionnaires"))


# --- A real SMTP server ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def body(self) -> str:
        return self.message.get_content()


class Inbox:
    """aiosmtpd handler: keeps every message; refuses the recipients in ``refuse``; may answer slowly."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.refuse: set[str] = set()
        self.hang_up: set[str] = set()  # answer 421 (closing) after the message of these recipients
        self.delay = 0.0
        self._lock = threading.Lock()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        if set(envelope.rcpt_tos) & self.hang_up:
            return "421 4.3.2 Service shutting down"
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Received]:
        return [one for one in self.received if one.rcpt_tos == [address]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SmtpServer:
    inbox: Inbox
    port: int
    controller: Controller


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    server = SmtpServer(inbox, port, controller)
    yield server
    server.controller.stop()  # a test may have replaced it


def mail_settings(url: str, port: int, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": "none",
        "smtp_from": SENDER,
        "public_url": PUBLIC_URL,
    }
    values.update(overrides)
    return make_settings(url, **values)


def mail_env(url: str, port: int, **extra: str) -> dict[str, str]:
    return {
        "ROM_PORTAL_DATABASE_URL": url,
        "ROM_PORTAL_SECRET_KEY": TEST_SECRET,
        "ROM_PORTAL_SMTP_HOST": "127.0.0.1",
        "ROM_PORTAL_SMTP_PORT": str(port),
        "ROM_PORTAL_SMTP_SECURITY": "none",
        "ROM_PORTAL_SMTP_FROM": SENDER,
        "ROM_PORTAL_PUBLIC_URL": PUBLIC_URL,
        **extra,
    }


def run_command(env: dict[str, str], *args: str) -> click.testing.Result:
    clean: dict[str, str | None] = {key: None for key in os.environ if key.startswith("ROM_PORTAL_")}
    return CliRunner().invoke(main, ["reminders", "send", *args], env={**clean, **env}, catch_exceptions=False)


# --- Clients and questionnaires -------------------------------------------------------------------------------


def give_address(db: Database, registration_id: int, address: str | None) -> None:
    with db.session(write=True) as session:
        registration = session.get(Registration, registration_id)
        assert registration is not None
        registration.reminder_email = address


def waiting_for(
    db: Database,
    registration_id: int,
    key: str = "phq9",
    *,
    opens_on: date | None = None,
    respondent: Respondent = Respondent.self,
    status: SubmissionStatus | None = None,
) -> int:
    """A questionnaire for the client (optionally already started or sent); its assignment id."""
    definition = CATALOGUE[key]
    with db.session(write=True) as session:
        assignment = Assignment(
            registration_id=registration_id,
            questionnaire_key=definition.key,
            questionnaire_version=definition.version,
            respondent=respondent,
            informant_label="moeder" if respondent is Respondent.informant else "",
            opens_on=opens_on,
            due_on=(opens_on or date.today()) + timedelta(days=7),
        )
        session.add(assignment)
        session.flush()
        if status is not None:
            session.add(
                Submission(
                    assignment_id=assignment.id,
                    registration_id=registration_id,
                    status=status,
                    submitted_at=utcnow() if status is SubmissionStatus.submitted else None,
                )
            )
        assert assignment.id is not None
        return assignment.id


def new_client(db: Database, therapist_id: int, username: str, address: str | None, locale: str | None = None) -> int:
    with db.session(write=True) as session:
        user = User(username=username, password_hash="x", role=Role.client, display_name=username, locale=locale)
        session.add(user)
        session.flush()
        registration = Registration(user_id=user.id, therapist_id=therapist_id, reminder_email=address)
        session.add(registration)
        session.flush()
        assert registration.id is not None
        return registration.id


def reminded(db: Database, assignment_id: int) -> datetime | None:
    with db.session() as session:
        assignment = session.get(Assignment, assignment_id)
        assert assignment is not None
        return assignment.reminded_at


def reminder_rows(db: Database, registration_id: int | None = None) -> int:
    with db.session() as session:
        query = select(Reminder)
        if registration_id is not None:
            query = query.where(Reminder.registration_id == registration_id)
        return len(session.exec(query).all())


def forbidden_words(people: People) -> list[str]:
    """What a reminder must never say: which questionnaire, who the therapist is."""
    words = ["phq", "gad", "who5", "who-5"]
    for key in CATALOGUE:
        title = CATALOGUE[key].title
        words += [title.get("nl"), title.get("en")]
    return [w.lower() for w in words if w] + ["alice", "jansen", "bob", "boer"]


# --- The message ----------------------------------------------------------------------------------------------

CAROL = "Carol.Visser+rom@Example.org"
DAVE = "dave@example.net"


def test_a_reminder_says_only_that_something_waits_in_the_clients_language(
    migrated_url: str, db: Database, people: People, smtp: SmtpServer
) -> None:
    carol, dave = people.carol_registration.id, people.dave_registration.id
    give_address(db, carol, CAROL)
    give_address(db, dave, DAVE)
    with db.session(write=True) as session:
        session.get(User, people.dave.id).locale = "en"
    waiting_for(db, carol, "phq9")
    waiting_for(db, dave, "gad7")

    result = run_command(mail_env(migrated_url, smtp.port))

    assert result.exit_code == 0, result.output
    assert "sent 2 reminders (2 questionnaires)" in result.output
    [to_carol] = smtp.inbox.to(CAROL)
    [to_dave] = smtp.inbox.to(DAVE)
    assert len(smtp.inbox.received) == 2
    # Dutch by default (no language chosen), English for the client who chose it.
    assert to_carol.message["Subject"] == "Er staat een vragenlijst voor u klaar"
    assert "Er staat een vragenlijst voor u klaar in het portaal." in to_carol.body
    assert to_dave.message["Subject"] == "A questionnaire is waiting for you"
    assert "A questionnaire is waiting for you in the portal." in to_dave.body
    for one in (to_carol, to_dave):
        assert one.mail_from == SENDER
        assert one.message["From"] == SENDER
        assert one.message.get_content_type() == "text/plain"
        assert not one.message.is_multipart()
        assert one.message["Auto-Submitted"] == "auto-generated"
        assert one.message["Message-ID"].endswith("@praktijk.example>")
        assert PUBLIC_URL in one.body
        whole = one.message.as_string().lower()
        for word in forbidden_words(people):
            assert word not in whole, word
        assert "carol" not in one.body.lower() and "dave" not in one.body.lower()
    # The address exactly as the client gave it, upper case and all.
    assert to_carol.rcpt_tos == [CAROL]
    assert to_carol.message["To"] == CAROL


def test_several_waiting_questionnaires_make_one_email_and_never_a_second(
    migrated_url: str, db: Database, people: People, smtp: SmtpServer
) -> None:
    carol = people.carol_registration.id
    give_address(db, carol, CAROL)
    first = [waiting_for(db, carol, key) for key in ("phq9", "gad7", "who5")]
    env = mail_env(migrated_url, smtp.port)

    assert run_command(env).exit_code == 0
    [message] = smtp.inbox.received
    assert "Er staan 3 vragenlijsten voor u klaar in het portaal." in message.body
    assert all(reminded(db, one) is not None for one in first)

    for _ in range(3):
        again = run_command(env)
        assert again.exit_code == 0
        assert "sent 0 reminders" in again.output
    assert len(smtp.inbox.received) == 1

    # A new questionnaire is a new reminder, naming that one only.
    later = waiting_for(db, carol, "phq9")
    assert "sent 1 reminder (1 questionnaire)" in run_command(env).output
    assert len(smtp.inbox.received) == 2
    assert "Er staat een vragenlijst voor u klaar in het portaal." in smtp.inbox.received[1].body
    assert reminded(db, later) is not None
    assert reminder_rows(db, carol) == 2


def test_only_open_opened_own_questionnaires_of_active_clients_who_gave_an_address(
    migrated_url: str, db: Database, people: People, smtp: SmtpServer
) -> None:
    carol, dave = people.carol_registration.id, people.dave_registration.id
    give_address(db, carol, CAROL)
    today = practice_today("Europe/Amsterdam")
    not_yet = waiting_for(db, carol, opens_on=today + timedelta(days=1))
    sent_already = waiting_for(db, carol, status=SubmissionStatus.submitted)
    informant = waiting_for(db, carol, "iqcode16", respondent=Respondent.informant)
    # Dave gave no address: nothing for him, however much waits.
    dave_waiting = waiting_for(db, dave)
    env = mail_env(migrated_url, smtp.port)

    dry = run_command(env, "--dry-run")
    assert "dry run: 0 clients would get a reminder (0 questionnaires)" in dry.output
    assert run_command(env).exit_code == 0
    assert smtp.inbox.received == []

    # Started but not sent counts as waiting; so does one that opens today.
    started = waiting_for(db, carol, status=SubmissionStatus.draft)
    opens_today = waiting_for(db, carol, "gad7", opens_on=today)
    assert "sent 1 reminder (2 questionnaires)" in run_command(env).output
    assert [one.rcpt_tos for one in smtp.inbox.received] == [[CAROL]]
    assert reminded(db, started) and reminded(db, opens_today)
    for untouched in (not_yet, sent_already, informant, dave_waiting):
        assert reminded(db, untouched) is None

    # Once its day has come, the planned one is reminded too.
    with db.session(write=True) as session:
        session.get(Assignment, not_yet).opens_on = today
    assert "sent 1 reminder (1 questionnaire)" in run_command(env).output

    # A disabled account gets nothing.
    waiting_for(db, carol)
    with db.session(write=True) as session:
        session.get(User, people.carol.id).disabled_at = utcnow()
    assert "sent 0 reminders" in run_command(env).output
    assert len(smtp.inbox.received) == 2


def test_at_most_the_limit_per_client_in_30_days(
    migrated_url: str, db: Database, people: People, smtp: SmtpServer
) -> None:
    carol, dave = people.carol_registration.id, people.dave_registration.id
    give_address(db, carol, CAROL)
    give_address(db, dave, DAVE)
    with db.session(write=True) as session:
        # Carol had two reminders this month; Dave's two were longer than 30 days ago.
        for registration_id, days_ago in ((carol, 3), (carol, 29), (dave, 31), (dave, 45)):
            session.add(Reminder(registration_id=registration_id, sent_at=utcnow() - timedelta(days=days_ago)))
    carol_waiting = waiting_for(db, carol)
    waiting_for(db, dave)
    env = mail_env(migrated_url, smtp.port, ROM_PORTAL_REMINDER_LIMIT="2")

    assert "dry run: 1 client would get a reminder (1 questionnaire); 1 client at the limit" in (
        run_command(env, "--dry-run").output
    )
    result = run_command(env)
    assert result.exit_code == 0
    assert "sent 1 reminder (1 questionnaire); 1 client at the limit" in result.output
    assert [one.rcpt_tos for one in smtp.inbox.received] == [[DAVE]]
    # Carol's questionnaire is not claimed: it waits until the limit allows it.
    assert reminded(db, carol_waiting) is None

    # Dave reaches the limit too: a third reminder within 30 days does not go.
    waiting_for(db, dave)
    run_command(env)
    waiting_for(db, dave)
    assert "2 clients at the limit" in run_command(env).output
    assert len(smtp.inbox.to(DAVE)) == 2

    # When Carol's oldest reminder passes 30 days, hers goes.
    with db.session(write=True) as session:
        for row in session.exec(select(Reminder).where(Reminder.registration_id == carol)):
            row.sent_at = row.sent_at - timedelta(days=27)
    assert "sent 1 reminder" in run_command(env).output
    assert len(smtp.inbox.to(CAROL)) == 1


def test_a_dry_run_sends_and_changes_nothing(migrated_url: str, db: Database, people: People, smtp: SmtpServer) -> None:
    carol = people.carol_registration.id
    give_address(db, carol, CAROL)
    ids = [waiting_for(db, carol), waiting_for(db, carol, "gad7")]

    result = run_command(mail_env(migrated_url, smtp.port), "--dry-run")

    assert result.exit_code == 0
    assert result.output == (
        "dry run: 1 client would get a reminder (2 questionnaires); 0 clients at the limit; nothing sent\n"
    )
    assert CAROL.lower() not in result.output.lower()
    assert smtp.inbox.received == []
    assert all(reminded(db, one) is None for one in ids)
    assert reminder_rows(db) == 0


def test_without_a_mail_server_the_command_says_so_and_sends_nothing(
    migrated_url: str, db: Database, people: People, smtp: SmtpServer
) -> None:
    give_address(db, people.carol_registration.id, CAROL)
    assignment = waiting_for(db, people.carol_registration.id)
    env = {"ROM_PORTAL_DATABASE_URL": migrated_url, "ROM_PORTAL_SECRET_KEY": TEST_SECRET}

    for args in ((), ("--dry-run",)):
        result = run_command(env, *args)
        assert result.exit_code == 0
        assert result.output == "reminders are off: ROM_PORTAL_SMTP_HOST is not set; nothing sent\n"
    assert smtp.inbox.received == []
    assert reminded(db, assignment) is None


def test_without_the_portals_address_the_command_refuses_in_one_line(migrated_url: str, smtp: SmtpServer) -> None:
    env = mail_env(migrated_url, smtp.port)
    del env["ROM_PORTAL_PUBLIC_URL"]
    result = CliRunner().invoke(main, ["reminders", "send"], env={**_clean_env(env), "ROM_PORTAL_PUBLIC_URL": None})
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "rom-portal: reminders need ROM_PORTAL_PUBLIC_URL: the e-mail tells clients where to log in"
    ]


def test_a_mail_server_that_is_down_gives_one_line_and_claims_nothing(
    migrated_url: str, db: Database, people: People, smtp: SmtpServer
) -> None:
    carol = people.carol_registration.id
    give_address(db, carol, CAROL)
    assignment = waiting_for(db, carol)
    closed = free_port()  # nothing listens here

    completed = subprocess.run(
        [sys.executable, "-m", "rom_portal", "reminders", "send"],
        env={**_plain_environ(), **mail_env(migrated_url, closed)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 1
    assert completed.stdout == ""
    [line] = completed.stderr.strip().splitlines()
    assert line.startswith(f"rom-portal: mail: cannot connect to 127.0.0.1:{closed} (none): ")
    assert "refused" in line.lower()
    assert reminded(db, assignment) is None
    # When the server is back, the reminder goes, once.
    env = mail_env(migrated_url, smtp.port)
    assert run_command(env).exit_code == 0
    assert run_command(env).exit_code == 0
    assert len(smtp.inbox.to(CAROL)) == 1


def test_a_refused_message_is_reported_without_the_address_and_never_sent_again(
    migrated_url: str, db: Database, people: People, smtp: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    carol, dave = people.carol_registration.id, people.dave_registration.id
    give_address(db, carol, CAROL)
    give_address(db, dave, DAVE)
    carol_waiting = waiting_for(db, carol)
    waiting_for(db, dave)
    smtp.inbox.refuse.add(CAROL)
    env = mail_env(migrated_url, smtp.port)

    result = CliRunner().invoke(main, ["reminders", "send"], env=_clean_env(env), catch_exceptions=False)

    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"rom-portal: reminder for registration {carol} not sent: recipient refused: 550 5.1.1 <address>: "
        "Recipient address rejected: User unknown"
    ]
    assert "sent 1 reminder (1 questionnaire); 0 clients at the limit; 1 not sent" in result.stdout
    assert CAROL.lower() not in (result.stdout + result.stderr).lower()
    assert [r.getMessage() for r in caplog.records if r.name == "rom_portal.services.reminders"] == [lines[0][12:]]
    assert all(CAROL.lower() not in r.getMessage().lower() for r in caplog.records)
    # The other client got theirs in the same run.
    assert len(smtp.inbox.to(DAVE)) == 1
    # The claim stays: never twice beats at least once. The failed one does not count towards the limit.
    assert reminded(db, carol_waiting) is not None
    assert reminder_rows(db, carol) == 0
    smtp.inbox.refuse.clear()
    assert run_command(env).exit_code == 0
    assert smtp.inbox.to(CAROL) == []
    with db.session() as session:
        audit = session.exec(
            select(AuditEvent).where(AuditEvent.object_type == "reminder").order_by(col(AuditEvent.id))
        ).all()
    assert {(row.registration_id, row.outcome, row.actor_role, row.access_point) for row in audit} == {
        (carol, "failure", "system", "cli:reminders send"),
        (dave, "success", "system", "cli:reminders send"),
    }


def test_a_server_that_hangs_up_is_called_again_and_nothing_is_repeated(
    migrated_url: str, db: Database, people: People, smtp: SmtpServer
) -> None:
    carol, dave = people.carol_registration.id, people.dave_registration.id
    give_address(db, carol, CAROL)
    give_address(db, dave, DAVE)
    carol_waiting = waiting_for(db, carol)
    waiting_for(db, dave)
    smtp.inbox.hang_up.add(CAROL)
    env = mail_env(migrated_url, smtp.port)

    result = CliRunner().invoke(main, ["reminders", "send"], env=_clean_env(env), catch_exceptions=False)

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"rom-portal: reminder for registration {carol} not sent: message refused: 421 4.3.2 Service shutting down"
    ]
    assert len(smtp.inbox.to(DAVE)) == 1  # the next client's went through a new connection
    assert reminded(db, carol_waiting) is not None
    smtp.inbox.hang_up.clear()
    assert run_command(env).exit_code == 0
    assert smtp.inbox.to(CAROL) == []


def test_a_server_gone_in_the_middle_of_a_run_stops_it_before_the_next_claim(
    migrated_url: str, db: Database, people: People, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    carol, dave = people.carol_registration.id, people.dave_registration.id
    give_address(db, carol, CAROL)
    give_address(db, dave, DAVE)
    carol_waiting, dave_waiting = waiting_for(db, carol), waiting_for(db, dave)
    smtp.inbox.hang_up.add(CAROL)
    config = SmtpConfig.from_settings(mail_settings(migrated_url, smtp.port))
    assert config is not None
    # The server hangs up after Carol's message and is gone before the run turns to Dave.
    original = Mailer.ensure_connected
    turns: list[int] = []

    def server_gone_at_second_turn(self: Mailer) -> None:
        turns.append(1)
        if len(turns) == 2:
            smtp.controller.stop()
        original(self)

    monkeypatch.setattr(Mailer, "ensure_connected", server_gone_at_second_turn)
    today = practice_today("Europe/Amsterdam")
    report = send_reminders(db, config, public_url=PUBLIC_URL, limit=4, default_language="nl", today=today)
    monkeypatch.undo()

    assert report.sent == 0
    assert report.stopped == (
        f"mail: cannot connect to 127.0.0.1:{smtp.port} (none): Connection refused; "
        "stopped, the others wait for the next run"
    )
    # Dave's reminder was not claimed, so it is not lost: it goes when the server is back. Carol's never again.
    assert reminded(db, carol_waiting) is not None
    assert reminded(db, dave_waiting) is None
    smtp.inbox.hang_up.clear()
    smtp.controller = Controller(smtp.inbox, hostname="127.0.0.1", port=smtp.port)
    smtp.controller.start()
    assert run_command(mail_env(migrated_url, smtp.port)).exit_code == 0
    assert len(smtp.inbox.to(DAVE)) == 1 and smtp.inbox.to(CAROL) == []


def _plain_environ() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("ROM_PORTAL_")}


def _clean_env(env: dict[str, str]) -> dict[str, str | None]:
    return {**{key: None for key in os.environ if key.startswith("ROM_PORTAL_")}, **env}


# --- Never twice, with real concurrency -----------------------------------------------------------------------


def _crowd(db: Database, people: People, count: int) -> tuple[list[str], list[int]]:
    """``count`` clients with an address, each with one or two questionnaires waiting."""
    addresses, assignments = [], []
    for n in range(count):
        address = f"client{n}@example.org"
        registration_id = new_client(db, people.alice.id, f"client{n}", address, "en" if n % 3 == 0 else None)
        addresses.append(address)
        assignments.append(waiting_for(db, registration_id))
        if n % 2:
            assignments.append(waiting_for(db, registration_id, "gad7"))
    return addresses, assignments


def _assert_each_once(db: Database, smtp: SmtpServer, addresses: list[str], assignments: list[int]) -> None:
    recipients = [tuple(one.rcpt_tos) for one in smtp.inbox.received]
    assert len(recipients) == len(set(recipients)), "a client got the same reminder twice"
    assert sorted(recipients) == sorted((address,) for address in addresses)
    assert all(reminded(db, one) is not None for one in assignments)
    assert reminder_rows(db) == len(addresses)


def test_runs_in_threads_at_the_same_moment_never_send_twice(
    migrated_url: str, db: Database, people: People, smtp: SmtpServer
) -> None:
    addresses, assignments = _crowd(db, people, 30)
    smtp.inbox.delay = 0.01  # a mail server that takes its time keeps the runs overlapping
    settings = mail_settings(migrated_url, smtp.port)
    config = SmtpConfig.from_settings(settings)
    assert config is not None
    runners = 4
    start = threading.Barrier(runners)
    sent: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        database = Database(migrated_url, threads=2)  # its own engine and pool, like another process
        try:
            start.wait()
            report = send_reminders(
                database,
                config,
                public_url=PUBLIC_URL,
                limit=settings.reminder_limit,
                default_language="nl",
                today=practice_today(settings.timezone),
            )
            sent.append(report.sent)
            assert report.failed == []
        except BaseException as exc:
            errors.append(exc)
        finally:
            database.dispose()

    threads = [threading.Thread(target=run) for _ in range(runners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sum(sent) == len(addresses)
    assert sum(1 for one in sent if one) >= 2, f"the runs did not overlap: {sent}"
    _assert_each_once(db, smtp, addresses, assignments)


def test_runs_in_processes_at_the_same_moment_never_send_twice(
    migrated_url: str, db: Database, people: People, smtp: SmtpServer
) -> None:
    addresses, assignments = _crowd(db, people, 30)
    smtp.inbox.delay = 0.02
    env = {**_plain_environ(), **mail_env(migrated_url, smtp.port)}
    command = [sys.executable, "-m", "rom_portal", "reminders", "send"]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]

    assert [process.returncode for process in processes] == [0, 0, 0], outputs
    counts = [int(re.search(r"sent (\d+) reminder", out).group(1)) for out, _ in outputs]  # type: ignore[union-attr]
    assert sum(counts) == len(addresses)
    assert sum(1 for one in counts if one) >= 2, f"the runs did not overlap: {counts}"
    _assert_each_once(db, smtp, addresses, assignments)


def test_the_limit_holds_when_two_runs_claim_different_questionnaires_at_once(
    migrated_url: str, db: Database, people: People
) -> None:
    carol = people.carol_registration.id
    give_address(db, carol, CAROL)
    first, second = waiting_for(db, carol), waiting_for(db, carol, "gad7")
    run_a, run_b = Database(migrated_url, threads=2), Database(migrated_url, threads=2)
    outcome: list[object] = []

    def other_run() -> None:
        with run_b.session(write=True) as session:
            outcome.append(claim(session, Waiting(carol, (second,)), utcnow(), 1))

    try:
        with run_a.session(write=True) as session:
            assert claim(session, Waiting(carol, (first,)), utcnow(), 1) is not None
            other = threading.Thread(target=other_run)
            other.start()
            other.join(timeout=0.5)
            assert other.is_alive(), "the second run did not wait for the first one's claim"
        other.join(timeout=30)
    finally:
        run_a.dispose()
        run_b.dispose()
    assert outcome == [None]
    assert reminded(db, first) is not None and reminded(db, second) is None
    assert reminder_rows(db, carol) == 1


# --- The client's address -------------------------------------------------------------------------------------


@pytest.fixture
def settings(migrated_url: str) -> Settings:
    """The app of this module's web tests has reminders switched on (the mail server itself is not needed)."""
    return mail_settings(migrated_url, 2525)


def _post(client: TestClient, path: str, **form: str) -> Any:
    return client.post(path, data={"csrf_token": csrf_of(client, "/account/reminders"), **form}, follow_redirects=False)


def test_a_client_gives_changes_and_removes_an_address_shown_masked_and_audited_without_it(
    client: TestClient, db: Database, people: People
) -> None:
    login_as(client, db, people.carol)
    overview = client.get("/account")
    assert "Herinneringen per e-mail" in overview.text
    assert 'href="/account/reminders"' in overview.text
    page = client.get("/account/reminders")
    assert page.status_code == 200
    assert "U hebt geen e-mailadres opgegeven" in page.text

    response = _post(client, "/account/reminders", email=f"  {CAROL} ")
    assert response.status_code == 303
    with db.session() as session:
        assert session.get(Registration, people.carol_registration.id).reminder_email == CAROL  # exactly
    page = client.get(response.headers["location"])
    assert "Uw e-mailadres voor herinneringen is opgeslagen." in page.text
    assert "C•••@Example.org" in page.text
    assert CAROL not in page.text and "Visser" not in page.text
    assert "C•••@Example.org" in client.get("/account").text

    assert _post(client, "/account/reminders", email=DAVE).status_code == 303
    removed = _post(client, "/account/reminders/remove")
    assert removed.status_code == 303
    assert "U krijgt geen herinneringen meer" in client.get(removed.headers["location"]).text
    with db.session() as session:
        assert session.get(Registration, people.carol_registration.id).reminder_email is None
        audit = session.exec(
            select(AuditEvent).where(AuditEvent.object_type == "reminder_address").order_by(col(AuditEvent.id))
        ).all()
        rows = session.execute(text("SELECT * FROM audit_event")).all()
    assert [(row.action, row.actor_user_id, row.registration_id) for row in audit] == [
        ("update", people.carol.id, people.carol_registration.id),
        ("update", people.carol.id, people.carol_registration.id),
        ("delete", people.carol.id, people.carol_registration.id),
    ]
    flat = " ".join(str(value) for row in rows for value in row).lower()
    assert "example.org" not in flat and "example.net" not in flat


@pytest.mark.parametrize(
    "address",
    [
        "",
        "carol",
        "carol@",
        "@example.org",
        "carol@@example.org",
        "carol@one@example.org",
        "carol visser@example.org",
        "carol@example.org\r\nBcc: everyone@evil.example",
        "carol@example.org\nSubject: hi",
        "Carol <carol@example.org>",
        "carol@example.org, dave@example.net",
        "carol@localhost",
        "carol@exämple.org",
        "carol.@example.org",
        "a" * 65 + "@example.org",
        "c@" + "a" * 250 + ".nl",
    ],
)
def test_an_implausible_address_is_refused_and_nothing_is_stored(
    client: TestClient, db: Database, people: People, address: str
) -> None:
    give_address(db, people.carol_registration.id, CAROL)
    login_as(client, db, people.carol)
    response = _post(client, "/account/reminders", email=address)
    assert response.status_code == 400
    assert "Geef één e-mailadres op, zoals naam@voorbeeld.nl, zonder spaties." in response.text
    with db.session() as session:
        assert session.get(Registration, people.carol_registration.id).reminder_email == CAROL
        assert session.exec(select(AuditEvent).where(AuditEvent.object_type == "reminder_address")).all() == []


def test_plausible_addresses() -> None:
    for good in ("a@b.nl", CAROL, "o'brien@mail.example.co.uk", "x_y-z@sub-domain.example.org", "a" * 64 + "@e.nl"):
        assert plausible_address(good), good
    longest = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 58 + ".nl"
    assert len(longest) == 254 and plausible_address(longest)
    assert not plausible_address("a" + longest)
    assert mask_address(CAROL) == "C•••@Example.org"
    # The last line of defence against header injection, whatever reaches the message.
    for bad in ("dave@example.net\r\nBcc: x@evil.example", "dave@example.net\nSubject: x", "Dave <dave@example.net>"):
        with pytest.raises(MessageRefused):
            build_message(SENDER, bad, "Test", "Hallo")


def test_without_a_mail_server_clients_are_not_offered_reminders(
    migrated_url: str, db: Database, people: People
) -> None:
    app = create_app(make_settings(migrated_url))
    try:
        with TestClient(app, base_url=BASE_URL) as client:
            login_as(client, app.state.db, people.carol)
            assert "Herinneringen per e-mail" not in client.get("/account").text
            page = client.get("/account/reminders")
            assert "Uw praktijk verstuurt op dit moment geen herinneringen per e-mail." in page.text
            assert 'name="email"' not in page.text
            assert _post(client, "/account/reminders", email=CAROL).status_code == 303
            with db.session() as session:
                assert session.get(Registration, people.carol_registration.id).reminder_email is None
            # An address given earlier can still be seen (masked) and removed.
            give_address(db, people.carol_registration.id, CAROL)
            assert "maar uw praktijk verstuurt op dit moment geen herinneringen" in client.get("/account").text
            assert _post(client, "/account/reminders/remove").status_code == 303
            with db.session() as session:
                assert session.get(Registration, people.carol_registration.id).reminder_email is None
    finally:
        app.state.db.dispose()


def test_staff_see_no_reminder_card(client: TestClient, db: Database, people: People) -> None:
    login_as(client, db, people.alice)
    assert "Herinneringen per e-mail" not in client.get("/account").text


def test_the_address_goes_with_the_registration(db: Database, people: People, settings: Settings) -> None:
    marker = "marker-7f3a9c1e@example.org"
    carol = people.carol_registration.id
    give_address(db, carol, marker)
    assignment = waiting_for(db, carol)
    with db.session(write=True) as session:
        session.get(Assignment, assignment).reminded_at = utcnow()
        session.add(Reminder(registration_id=carol))
    with db.session(write=True) as session:
        session.exec(text("DELETE FROM registration WHERE id = :id").bindparams(id=carol))  # type: ignore[call-overload]
    with db.session() as session:
        assert session.get(Registration, carol) is None
        assert session.exec(select(Reminder)).all() == []
        assert session.get(Assignment, assignment) is None
        found = session.exec(  # type: ignore[call-overload]
            text("SELECT count(*) FROM registration WHERE reminder_email = :m").bindparams(m=marker)
        ).one()
        assert found[0] == 0
    if settings.is_sqlite:
        with db.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db_file = Path(settings.database_url.removeprefix("sqlite:///"))
        for path in (db_file, db_file.with_name(db_file.name + "-wal")):
            if path.exists():
                assert marker.encode() not in path.read_bytes(), path


# --- Settings and the mail connection -------------------------------------------------------------------------


def test_mail_settings_are_checked_at_start(tmp_path: Path) -> None:
    base = {"ROM_PORTAL_DATABASE_URL": f"sqlite:///{tmp_path}/p.db", "ROM_PORTAL_SECRET_KEY": TEST_SECRET}
    off = load_settings(base)
    assert not off.mail_configured and not off.reminders_enabled
    with pytest.raises(SettingsError, match="ROM_PORTAL_SMTP_FROM"):
        load_settings({**base, "ROM_PORTAL_SMTP_HOST": "mail.example.org"})
    with pytest.raises(SettingsError, match="only allowed for a relay on localhost"):
        load_settings(
            {
                **base,
                "ROM_PORTAL_SMTP_HOST": "mail.example.org",
                "ROM_PORTAL_SMTP_FROM": SENDER,
                "ROM_PORTAL_SMTP_SECURITY": "none",
            }
        )
    with pytest.raises(SettingsError, match="ROM_PORTAL_SMTP_FROM"):
        load_settings({**base, "ROM_PORTAL_SMTP_FROM": "portal@example.org\r\nBcc: x@example.org"})
    with pytest.raises(SettingsError, match="ROM_PORTAL_SMTP_SECURITY"):
        load_settings({**base, "ROM_PORTAL_SMTP_SECURITY": "ssl3"})
    secret = tmp_path / "smtp-password"
    secret.write_text("s3cret\n")
    on = load_settings(
        {
            **base,
            "ROM_PORTAL_SMTP_HOST": "mail.example.org",
            "ROM_PORTAL_SMTP_FROM": SENDER,
            "ROM_PORTAL_SMTP_USERNAME": "portal",
            "ROM_PORTAL_SMTP_PASSWORD_FILE": str(secret),
            "ROM_PORTAL_PUBLIC_URL": PUBLIC_URL,
        }
    )
    assert on.smtp_password == "s3cret" and on.reminders_enabled
    assert "s3cret" not in repr(on)
    config = SmtpConfig.from_settings(on)
    assert config is not None and (config.port, config.security) == (587, "starttls")
    tls = SmtpConfig.from_settings(on.replace(smtp_security="tls"))
    assert tls is not None and tls.port == 465


def _certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _tls_config(port: int, security: str) -> SmtpConfig:
    return SmtpConfig("127.0.0.1", port, security, "", "", SENDER, 10)


def _send_one(config: SmtpConfig) -> None:
    with Mailer(config) as mailer:
        mailer.send(build_message(SENDER, DAVE, "Test", "Hallo"), DAVE)


def test_starttls_and_tls_are_verified_and_never_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ssl

    cert, key = _certificate(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    inbox = Inbox()
    starttls_port, tls_port, plain_port = free_port(), free_port(), free_port()
    servers = [
        Controller(inbox, hostname="127.0.0.1", port=starttls_port, tls_context=server_context, require_starttls=True),
        Controller(inbox, hostname="127.0.0.1", port=tls_port, server_hostname="127.0.0.1", ssl_context=server_context),
        Controller(inbox, hostname="127.0.0.1", port=plain_port),
    ]
    for server in servers:
        server.start()
    try:
        # A certificate nobody vouches for is refused, in one line.
        with pytest.raises(MailServerError, match="TLS certificate not trusted") as refused:
            _send_one(_tls_config(starttls_port, "starttls"))
        assert "\n" not in str(refused.value)
        with pytest.raises(MailServerError, match="TLS certificate not trusted"):
            _send_one(_tls_config(tls_port, "tls"))
        # A server without STARTTLS is never used in the clear when STARTTLS was asked for.
        with pytest.raises(MailServerError, match=r"cannot connect to 127\.0\.0\.1"):
            _send_one(_tls_config(plain_port, "starttls"))
        assert inbox.received == []
        # Trusted (as the system's store would), both modes deliver.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        _send_one(_tls_config(starttls_port, "starttls"))
        _send_one(_tls_config(tls_port, "tls"))
        assert len(inbox.received) == 2
    finally:
        for server in servers:
            server.stop()


def test_the_command_has_help() -> None:
    result = CliRunner().invoke(main, ["reminders", "send", "--help"])
    assert result.exit_code == 0
    assert "--dry-run" in result.output


def test_check_reports_reminders(migrated_url: str) -> None:
    env = mail_env(migrated_url, 2525)
    result = CliRunner().invoke(main, ["check"], env=_clean_env(env))
    assert "ok    reminder e-mails through 127.0.0.1:2525 (none)" in result.output
    del env["ROM_PORTAL_PUBLIC_URL"]
    result = CliRunner().invoke(main, ["check"], env={**_clean_env(env), "ROM_PORTAL_PUBLIC_URL": None})
    assert "FAIL  reminder e-mails need ROM_PORTAL_PUBLIC_URL" in result.output
