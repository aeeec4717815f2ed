"""The caseload of 500 clients on the therapist's start page (target < 150 ms median).

Run from the repository root: ``python -m benchmarks.bench_caseload [--runs 30]``. Measures on SQLite (a new file)
and, when ``ROM_PORTAL_BENCH_POSTGRESQL_URL`` (or ``ROM_PORTAL_TEST_POSTGRESQL_URL``) is set, on PostgreSQL (a new
schema, dropped afterwards). The therapist has 500 clients, each with 12 questionnaires over three months (most
sent, some overdue, 1 in 20 with an open alert); another therapist has 500 more, which must cost nothing. Prints the
median and p90 of ``caseload_of`` (the three queries) and of the whole GET /therapist in process.
``caseload_500(url, runs)`` is what ``bench_workspace`` calls.
"""

from __future__ import annotations

import argparse
import os
import random
from datetime import timedelta

from sqlalchemy import text
from starlette.testclient import TestClient

from benchmarks.bench_workspace import SECRET, _timed, postgresql_url, sqlite_url
from rom_portal.app import create_app
from rom_portal.db import Database
from rom_portal.models import Alert, Assignment, Registration, Respondent, Role, Submission, SubmissionStatus, User
from rom_portal.models.base import utcnow
from rom_portal.schema import migrate
from rom_portal.security import sessions
from rom_portal.services import caseload
from rom_portal.services.audit import Actor
from rom_portal.services.client_area import practice_today
from rom_portal.settings import load_settings
from rom_portal.web.session_middleware import cookie_name

CLIENTS = 500
QUESTIONNAIRES = 12
NO_LOGIN = "-"  # not a password hash: nobody logs in as these accounts through the login form


def seed_caseload(database: Database, clients: int = CLIENTS) -> int:
    """``clients`` clients for one therapist and as many for another; returns the first therapist's id."""
    rng = random.Random(11)
    now = utcnow()
    with database.session(write=True) as session:
        therapists = [
            User(username=f"bench-therapist-{n}", password_hash=NO_LOGIN, role=Role.therapist, display_name=f"T{n}")
            for n in (1, 2)
        ]
        session.add_all(therapists)
        session.flush()
        for therapist in therapists:
            for number in range(clients):
                user = User(
                    username=f"{therapist.username}-client-{number}",
                    password_hash=NO_LOGIN,
                    role=Role.client,
                    display_name=f"Cliënt {number:03d}",
                )
                session.add(user)
                session.flush()
                registration = Registration(user_id=user.id, therapist_id=therapist.id)
                session.add(registration)
                session.flush()
                assignments = [
                    Assignment(
                        registration_id=registration.id,
                        questionnaire_key=rng.choice(("phq9", "gad7", "who5")),
                        questionnaire_version=1,
                        respondent=Respondent.self,
                        due_on=(now - timedelta(weeks=QUESTIONNAIRES - week)).date(),
                    )
                    for week in range(QUESTIONNAIRES)
                ]
                session.add_all(assignments)
                session.flush()
                sent = [
                    Submission(
                        assignment_id=assignment.id,
                        registration_id=registration.id,
                        status=SubmissionStatus.submitted,
                        submitted_at=now - timedelta(weeks=QUESTIONNAIRES - week, hours=rng.randint(0, 48)),
                    )
                    for week, assignment in enumerate(assignments)
                    if week < QUESTIONNAIRES - 2 or rng.random() < 0.5
                ]
                session.add_all(sent)
                session.flush()
                if rng.random() < 0.05:
                    session.add(Alert(submission_id=sent[-1].id, registration_id=registration.id, item_id="9"))
        assert therapists[0].id is not None
        return therapists[0].id


def caseload_500(url: str, runs: int) -> list[tuple[str, float, float]]:
    database = Database(url, threads=2)
    migrate(database.engine)
    therapist_id = seed_caseload(database)
    if not database.is_sqlite:
        with database.engine.connect() as connection:  # as autovacuum would have done on a live server
            connection.execute(text("ANALYZE"))
            connection.commit()
    database.dispose()

    app = create_app(load_settings({}, database_url=url, secret_key=SECRET))
    figures = []
    with TestClient(app, base_url="https://testserver") as browser:
        db: Database = app.state.db
        with db.session(write=True) as session:
            therapist = session.get(User, therapist_id)
            assert therapist is not None
            token = sessions.start(session, therapist, mfa_ok=True, device="bench")
        browser.cookies.set(cookie_name(app.state.settings), token, domain="testserver.local")
        actor = Actor(therapist_id, Role.therapist.value, "bench")
        today = practice_today(app.state.settings.timezone)

        def service() -> None:
            with db.session(write=True) as session:
                overview = caseload.caseload_of(session, actor, today)
            assert len(overview.rows) == CLIENTS

        figures.append(("caseload_of, 500 clients", *_timed(runs, service)))

        def page(query: str = "") -> None:
            response = browser.get("/therapist" + query)
            assert response.status_code == 200, response.status_code

        figures.append(("page: GET /therapist", *_timed(runs, page)))
        figures.append(("page: sorted by last", *_timed(runs, lambda: page("?sort=last"))))
        figures.append(("page: search 'nt 04'", *_timed(runs, lambda: page("?q=nt+04"))))
    app.state.db.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    targets = [("SQLite", sqlite_url)]
    server = os.environ.get("ROM_PORTAL_BENCH_POSTGRESQL_URL") or os.environ.get("ROM_PORTAL_TEST_POSTGRESQL_URL")
    if server:
        targets.append(("PostgreSQL", lambda: postgresql_url(server)))  # type: ignore[arg-type,return-value]
    else:
        print("PostgreSQL skipped: set ROM_PORTAL_BENCH_POSTGRESQL_URL")
    print(f"caseload of {CLIENTS} clients x {QUESTIONNAIRES} questionnaires; median and p90 of {args.runs} runs")
    print(f"{'database':<11} {'what':<28} {'median ms':>10} {'p90 ms':>8}")
    for name, make in targets:
        with make() as url:
            for what, median, p90 in caseload_500(url, args.runs):
                print(f"{name:<11} {what:<28} {median:>10.1f} {p90:>8.1f}")
    print("target: page < 150 ms median on both databases")


if __name__ == "__main__":
    main()
