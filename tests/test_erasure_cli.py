"""``rom-portal erasures replay`` after a backup restore, ``rom-portal retention run``, and what ``check`` says."""

from __future__ import annotations

import os
import sqlite3
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import insert, select, update
from sqlmodel import SQLModel
from starlette.testclient import TestClient

from rom_portal.cli import main
from rom_portal.db import Database
from rom_portal.models import Assignment, AuditEvent, AuthSession, Registration, Respondent, Submission
from rom_portal.models.base import utcnow
from rom_portal.security import sessions
from rom_portal.services.audit import Actor, record
from rom_portal.services.erasure_ledger import ledger_path
from rom_portal.services.retention import cutoff_for, inactive_since, last_active
from rom_portal.settings import Settings, sqlite_path
from tests.conftest import PERSONA_PASSWORD, TEST_SECRET, People, csrf_of, login_as, make_settings
from tests.erasure_history import give_history, rows_about, table_counts


@pytest.fixture
def settings(migrated_url: str, tmp_path: Path) -> Settings:
    ledger = "" if migrated_url.startswith("sqlite") else str(tmp_path / "erasures")
    return make_settings(migrated_url, erasure_ledger=ledger)


def _run(settings: Settings, *args: str, **extra: str) -> Result:
    env: dict[str, str | None] = {key: None for key in os.environ if key.startswith("ROM_PORTAL_")}
    env |= {"ROM_PORTAL_DATABASE_URL": settings.database_url, "ROM_PORTAL_SECRET_KEY": TEST_SECRET}
    if settings.erasure_ledger:
        env["ROM_PORTAL_ERASURE_LEDGER"] = settings.erasure_ledger
    env |= extra
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def _erase_carol(client: TestClient, db: Database, people: People) -> None:
    login_as(client, db, people.carol)
    path = "/client/privacy/erase"
    data = {"csrf_token": csrf_of(client, path), "password": PERSONA_PASSWORD, "confirm": "yes"}
    assert client.post(path, data=data).status_code == 200


def _carol_rows(db: Database, people: People) -> dict[str, int]:
    with db.session() as session:
        return rows_about(session, people.carol.id, people.carol_registration.id, "carol")


# --- Replay after a restore -----------------------------------------------------------------------------------


def _rows_of_carol(db: Database, people: People) -> list[tuple[str, list[dict[str, Any]]]]:
    """PostgreSQL stand-in for a backup: carol's account, registration, plans, questionnaires and answers."""
    tables = SQLModel.metadata.tables
    reg_id = people.carol_registration.id
    wanted = {
        "user_account": tables["user_account"].c.id == people.carol.id,
        "registration": tables["registration"].c.id == reg_id,
        "measurement_plan": tables["measurement_plan"].c.registration_id == reg_id,
        "assignment": tables["assignment"].c.registration_id == reg_id,
        "submission": tables["submission"].c.registration_id == reg_id,
        "answer": tables["answer"].c.submission_id.in_(
            select(tables["submission"].c.id).where(tables["submission"].c.registration_id == reg_id)
        ),
    }
    with db.engine.connect() as connection:
        return [
            (name, [dict(row._mapping) for row in connection.execute(select(tables[name]).where(where))])
            for name, where in wanted.items()
        ]


def _put_back(db: Database, saved: list[tuple[str, list[dict[str, Any]]]]) -> None:
    tables = SQLModel.metadata.tables
    with db.engine.begin() as connection:
        for name, rows in saved:
            connection.execute(insert(tables[name]), rows)


def test_replay_after_restoring_an_older_copy_erases_again(
    client: TestClient, db: Database, people: People, settings: Settings
) -> None:
    markers = give_history(db, people.carol_registration, people.alice)
    database_file = sqlite_path(settings.database_url)
    if settings.is_sqlite:  # a backup as SQLite makes one: a consistent copy of the whole file
        backup = database_file.with_name("backup.db")
        with sqlite3.connect(database_file) as source, sqlite3.connect(backup) as target:
            source.backup(target)
    else:  # PostgreSQL: keep her rows, to insert them again as a restore would bring them back
        saved = _rows_of_carol(db, people)
    _erase_carol(client, db, people)
    assert _carol_rows(db, people) == {}

    if settings.is_sqlite:
        db.dispose()
        for suffix in ("-wal", "-shm"):
            database_file.with_name(database_file.name + suffix).unlink(missing_ok=True)
        backup.replace(database_file)
        assert markers.answer.encode() in database_file.read_bytes()
    else:
        _put_back(db, saved)
    assert _carol_rows(db, people) != {}, "the restore brought her back"

    result = _run(settings, "erasures", "replay")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "1 erasure in the ledger; erased again: 1 registration"
    assert _carol_rows(db, people) == {}
    if settings.is_sqlite:
        stored = b"".join(
            path.read_bytes() for path in database_file.parent.glob(database_file.name + "*") if path.is_file()
        )
        assert markers.answer.encode() not in stored and markers.roepnaam.encode() not in stored
    with db.session() as session:
        replays = session.exec(select(AuditEvent).where(AuditEvent.action == "replay")).scalars().all()
    assert [(event.actor_role, event.object_id) for event in replays] == [("system", "1")]
    again = _run(settings, "erasures", "replay")
    assert again.stdout.strip() == "1 erasure in the ledger; erased again: 0 registrations"


# SQLite always has a default ledger beside the database file
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_replay_needs_a_ledger_on_postgresql(settings: Settings) -> None:
    result = _run(settings.replace(erasure_ledger=""), "erasures", "replay")
    assert result.exit_code == 1
    assert "ROM_PORTAL_ERASURE_LEDGER is not set" in result.stderr


# --- Retention ------------------------------------------------------------------------------------------------


def _age(db: Database, registration: Registration, user_id: int, days: int) -> None:
    """Make everything a registration did happen ``days`` ago."""
    then = utcnow() - timedelta(days=days)
    with db.session(write=True) as session:
        session.execute(update(Registration).where(Registration.id == registration.id).values(created_at=then))
        session.execute(
            update(Assignment)
            .where(Assignment.registration_id == registration.id)
            .values(created_at=then, due_on=then.date(), opens_on=then.date())
        )
        session.execute(update(Submission).where(Submission.registration_id == registration.id).values(updated_at=then))
        session.execute(update(AuditEvent).where(AuditEvent.actor_user_id == user_id).values(at=then))
        session.execute(update(AuditEvent).where(AuditEvent.registration_id == registration.id).values(at=then))
        session.execute(update(AuthSession).where(AuthSession.user_id == user_id).values(last_seen_at=then))


def test_retention_lists_then_erases_only_the_inactive(db: Database, people: People, settings: Settings) -> None:
    give_history(db, people.carol_registration, people.alice)
    give_history(db, people.dave_registration, people.bob)
    _age(db, people.carol_registration, people.carol.id, 100)
    _age(db, people.dave_registration, people.dave.id, 100)
    with db.session(write=True) as session:  # dave logged in yesterday: still active
        login = session.exec(select(AuditEvent).where(AuditEvent.actor_user_id == people.dave.id)).scalars()
        next(event for event in login if event.action == "login").at = utcnow() - timedelta(days=1)
    with db.session() as session:
        before = table_counts(session)

    dry = _run(settings, "retention", "run", "--dry-run", ROM_PORTAL_RETENTION_DAYS="30")
    assert dry.exit_code == 0, dry.output
    assert people.carol_registration.public_id in dry.stdout
    assert people.dave_registration.public_id not in dry.stdout
    assert "1 registration inactive for more than 30 days; nothing erased" in dry.stdout
    with db.session() as session:
        assert table_counts(session) == before
    assert not ledger_path(settings).exists()

    run = _run(settings, "retention", "run", ROM_PORTAL_RETENTION_DAYS="30")
    assert run.exit_code == 0, run.output
    with db.session() as session:
        [erase] = session.exec(select(AuditEvent).where(AuditEvent.action == "erase")).scalars().all()
    assert f"erased {erase.object_id}:" in run.stdout  # the receipt id, not the registration's public id
    assert people.carol_registration.public_id not in run.stdout
    assert "erased 1 registration inactive for more than 30 days" in run.stdout
    assert "carol" not in run.stdout.lower() and "dave" not in run.stdout.lower()
    assert _carol_rows(db, people) == {}
    with db.session() as session:
        assert session.get(Registration, people.dave_registration.id) is not None
        audit = session.exec(select(AuditEvent).where(AuditEvent.object_type == "retention")).scalars().all()
    assert [(event.actor_role, event.action, event.object_id) for event in audit] == [("system", "run", "1")]
    assert ledger_path(settings).read_text() == f"{people.carol_registration.public_id}\n"


def _carol_listed(db: Database, people: People) -> bool:
    with db.session() as session:
        listed = [one.public_id for one in inactive_since(session, cutoff_for(365))]
        registration = session.get(Registration, people.carol_registration.id)
        assert registration is not None
        one_by_one = last_active(session, registration) < cutoff_for(365)
    assert one_by_one == (people.carol_registration.public_id in listed)  # both rules agree
    return one_by_one


def test_retention_keeps_a_client_with_a_questionnaire_still_ahead(db: Database, people: People) -> None:
    """A yearly plan makes its occasions up front: the next one, due in a month, was created 400 days ago."""
    _age(db, people.carol_registration, people.carol.id, 400)
    with db.session(write=True) as session:
        session.add(
            Assignment(
                registration_id=people.carol_registration.id,
                questionnaire_key="phq9",
                questionnaire_version=1,
                respondent=Respondent.self,
                due_on=date.today() + timedelta(days=30),
                opens_on=date.today() + timedelta(days=23),
                created_at=utcnow() - timedelta(days=400),
            )
        )
    assert not _carol_listed(db, people)


def test_retention_keeps_a_client_logged_in_for_a_long_time(db: Database, people: People) -> None:
    _age(db, people.carol_registration, people.carol.id, 400)
    assert _carol_listed(db, people)
    with db.session(write=True) as session:
        sessions.start(session, people.carol, mfa_ok=True, device="phone")
        session.execute(update(AuthSession).values(created_at=utcnow() - timedelta(days=400)))
    assert not _carol_listed(db, people)


def test_retention_keeps_a_registration_staff_worked_on(db: Database, people: People) -> None:
    _age(db, people.carol_registration, people.carol.id, 400)
    with db.session(write=True) as session:  # the client herself reading long ago, the system: not activity
        record(session, Actor.system("test"), "read", "registration", "", registration_id=people.carol_registration.id)
        session.execute(update(AuditEvent).values(at=utcnow() - timedelta(days=400)))
    assert _carol_listed(db, people)
    with db.session(write=True) as session:
        actor = Actor(people.alice.id, "therapist", access_point="web:therapist_client")
        record(session, actor, "read", "registration", "", registration_id=people.carol_registration.id)
    assert not _carol_listed(db, people)


def test_retention_is_off_unless_set(db: Database, people: People, settings: Settings) -> None:
    _age(db, people.carol_registration, people.carol.id, 4000)
    result = _run(settings, "retention", "run")
    assert result.exit_code == 0
    assert "retention is off" in result.stderr
    with db.session() as session:
        assert session.get(Registration, people.carol_registration.id) is not None


# --- rom-portal check -----------------------------------------------------------------------------------------


def test_check_reports_the_erasure_ledger(settings: Settings) -> None:
    result = _run(settings, "check")
    assert result.exit_code == 0, result.output
    assert f"ok    erasure ledger {ledger_path(settings)}" in result.stdout
    assert "ok    retention off" in result.stdout
    if not settings.is_sqlite:
        missing = _run(settings.replace(erasure_ledger=""), "check")
        assert missing.exit_code == 1
        assert "FAIL  ROM_PORTAL_ERASURE_LEDGER is not set" in missing.stdout
