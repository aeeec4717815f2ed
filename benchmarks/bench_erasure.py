"""Erasing a client with 1,000 submissions of 20 answers each (target: under 1 s, on SQLite and PostgreSQL).

Run from the repository root: ``python -m benchmarks.bench_erasure [--runs 3]``. Measures on SQLite (a new file)
and, when ``ROM_PORTAL_BENCH_POSTGRESQL_URL`` (or ``ROM_PORTAL_TEST_POSTGRESQL_URL``) is set, on PostgreSQL (a new
schema, dropped afterwards). Each run seeds the database afresh: the client to erase, and a second client with
the same history who must stay. Per database it prints the median and the slowest of:

- ``transaction``: ``erase_registration`` (counting and deleting everything linked, the ledger line) and the commit;
- ``checkpoint``: SQLite's ``wal_checkpoint(TRUNCATE)`` afterwards (nothing to do on PostgreSQL);
- ``total``: both, what the client waits for.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import anyio
from sqlalchemy import insert
from sqlmodel import select

from benchmarks.bench_workspace import database_targets
from rom_portal.db import Database
from rom_portal.models import (
    Answer,
    Assignment,
    AuditEvent,
    Registration,
    Respondent,
    Role,
    Score,
    Submission,
    SubmissionStatus,
    User,
)
from rom_portal.models.base import utcnow
from rom_portal.schema import migrate
from rom_portal.services.audit import Actor
from rom_portal.services.erasure import empty_write_ahead_log, erase_registration
from rom_portal.services.erasure_ledger import ErasureLedger

SUBMISSIONS = 1000
ANSWERS = 20
NO_PASSWORD = "!"  # these accounts never log in


def seed_client(database: Database, therapist_id: int, name: str) -> str:
    """A client with SUBMISSIONS submitted questionnaires of ANSWERS answers and two scores each."""
    now = utcnow()
    with database.session(write=True) as session:
        user = User(username=name, password_hash=NO_PASSWORD, role=Role.client, display_name=name.title())
        session.add(user)
        session.flush()
        registration = Registration(user_id=user.id, therapist_id=therapist_id, reminder_email=f"{name}@example.org")
        session.add(registration)
        session.flush()
        assignments = [
            Assignment(
                registration_id=registration.id,
                questionnaire_key="bench20",
                questionnaire_version=1,
                respondent=Respondent.self,
                created_by=therapist_id,
            )
            for _ in range(SUBMISSIONS)
        ]
        session.add_all(assignments)
        session.flush()
        submissions = [
            Submission(
                assignment_id=assignment.id,
                registration_id=registration.id,
                status=SubmissionStatus.submitted,
                submitted_at=now,
            )
            for assignment in assignments
        ]
        session.add_all(submissions)
        session.flush()
        session.execute(
            insert(Answer),
            [
                {"submission_id": s.id, "item_id": str(item), "value": json.dumps(item % 4), "updated_at": now}
                for s in submissions
                for item in range(1, ANSWERS + 1)
            ],
        )
        session.execute(
            insert(Score),
            [
                {"submission_id": s.id, "registration_id": registration.id, "scale_id": scale, "value": 12.0}
                for s in submissions
                for scale in ("total", "sub")
            ],
        )
        session.execute(
            insert(AuditEvent),
            [
                {
                    "at": now,
                    "actor_user_id": user.id,
                    "actor_role": "client",
                    "registration_id": registration.id,
                    "object_type": "submission",
                    "object_id": str(s.id),
                    "action": "submit",
                    "outcome": "success",
                    "access_point": "web",
                }
                for s in submissions
            ],
        )
        return registration.public_id


def one_run(url: str, ledger: ErasureLedger) -> tuple[float, float, int]:
    database = Database(url, threads=2)
    try:
        migrate(database.engine)
        with database.session(write=True) as session:
            therapist = User(username="bench-therapist", password_hash=NO_PASSWORD, role=Role.therapist)
            session.add(therapist)
            session.flush()
            therapist_id = therapist.id
        assert therapist_id is not None
        public_id = seed_client(database, therapist_id, "erased")
        kept = seed_client(database, therapist_id, "kept")
        started = time.perf_counter()
        with database.session(write=True) as session:
            registration = session.exec(select(Registration).where(Registration.public_id == public_id)).one()
            receipt = erase_registration(session, Actor.system("bench"), registration, ledger)
        committed = time.perf_counter()
        anyio.run(empty_write_ahead_log, database)
        done = time.perf_counter()
        with database.session() as session:
            assert session.exec(select(Registration).where(Registration.public_id == public_id)).first() is None
            assert session.exec(select(Registration).where(Registration.public_id == kept)).first() is not None
        return committed - started, done - committed, receipt.total
    finally:
        database.dispose()


def bench(name: str, make_url: Callable[[], AbstractContextManager[str]], runs: int) -> list[str]:
    transaction, checkpoint, total = [], [], []
    rows = 0
    with tempfile.TemporaryDirectory() as folder:
        ledger = ErasureLedger(Path(folder) / "erasures")
        for _ in range(runs):
            with make_url() as url:
                spent, settled, rows = one_run(url, ledger)
            transaction.append(spent * 1000)
            checkpoint.append(settled * 1000)
            total.append((spent + settled) * 1000)
    return [
        f"{name:<11} {label:<12} {statistics.median(values):9.1f} {max(values):9.1f}"
        for label, values in (("transaction", transaction), ("checkpoint", checkpoint), ("total", total))
    ] + [f"{name:<11} rows removed per erasure: {rows}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    targets = database_targets()
    print(f"erasing a client with {SUBMISSIONS} submissions x {ANSWERS} answers ({args.runs} runs, ms)")
    print(f"{'database':<11} {'what':<12} {'median':>9} {'slowest':>9}")
    for name, make_url in targets:
        for line in bench(name, make_url, args.runs):
            print(line)
    print("target: total < 1000 ms on both databases")


if __name__ == "__main__":
    main()
