"""The therapist's workspace: one client's record with 8 questionnaires x 50 measurements (target < 100 ms median).

Run from the repository root: ``python -m benchmarks.bench_workspace [--runs 30]``. Measures on SQLite (a new
file) and, when ``ROM_PORTAL_BENCH_POSTGRESQL_URL`` (or ``ROM_PORTAL_TEST_POSTGRESQL_URL``) is set, on PostgreSQL
(a new schema, dropped afterwards). Per database it prints the median and p90 of:

- ``record``: loading the record (``client_record.record_of``, one read transaction);
- ``words+render``: turning it into words and eight SVG charts, and rendering the page template;
- ``page``: the whole GET /therapist/clients/{id} in process (middleware, session, the audit write, all of it).

Then the caseload of 500 clients on the start page (target < 150 ms median), from ``bench_caseload``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from rom_portal.app import create_app
from rom_portal.db import Database
from rom_portal.i18n import current_language
from rom_portal.models import (
    Alert,
    Assignment,
    Registration,
    Respondent,
    Role,
    Submission,
    SubmissionStatus,
    User,
)
from rom_portal.models.base import utcnow
from rom_portal.paths import resource_dir
from rom_portal.questionnaires import Catalogue, Questionnaire, load_catalogue, score
from rom_portal.schema import migrate
from rom_portal.security import sessions
from rom_portal.services import client_record
from rom_portal.services.filling import score_rows
from rom_portal.settings import load_settings
from rom_portal.web.record_words import RecordWords
from rom_portal.web.session_middleware import cookie_name

MEASUREMENTS = 50
SECRET = "bench-secret-key-0123456789abcdefghijklmnop"
NO_PASSWORD = "!"  # not a hash any password matches: these accounts log in through a made session only


def _answers(definition: Questionnaire, rng: random.Random) -> dict[str, object]:
    answers: dict[str, object] = {}
    for item in definition.items:
        options = getattr(item, "options", None)
        if item.type == "single_choice" and options:
            answers[item.id] = rng.choice(options).value
    return answers


def seed_client(database: Database, catalogue: Catalogue) -> tuple[int, str]:
    """A therapist with one client who filled in every questionnaire 50 times (informant forms by "moeder")."""
    rng = random.Random(7)
    with database.session(write=True) as session:
        therapist = User(
            username="bench-therapist", password_hash=NO_PASSWORD, role=Role.therapist, display_name="Bench"
        )
        client = User(username="bench-client", password_hash=NO_PASSWORD, role=Role.client, display_name="Client")
        session.add(therapist)
        session.add(client)
        session.flush()
        registration = Registration(user_id=client.id, therapist_id=therapist.id)
        session.add(registration)
        session.flush()
        start = utcnow() - timedelta(weeks=MEASUREMENTS + 1)
        for key in list(catalogue)[:8]:
            definition = catalogue[key]
            informant = definition.respondent.kind == "informant"
            for week in range(MEASUREMENTS):
                assignment = Assignment(
                    registration_id=registration.id,
                    questionnaire_key=key,
                    questionnaire_version=definition.version,
                    respondent=Respondent.informant if informant else Respondent.self,
                    informant_label="moeder" if informant else "",
                )
                session.add(assignment)
                session.flush()
                when = start + timedelta(weeks=week, hours=rng.randint(0, 72))
                submission = Submission(
                    assignment_id=assignment.id,
                    registration_id=registration.id,
                    status=SubmissionStatus.submitted,
                    submitted_at=when,
                )
                session.add(submission)
                session.flush()
                result = score(definition, _answers(definition, rng))
                assert submission.id is not None and registration.id is not None
                session.add_all(score_rows(submission.id, registration.id, result))
                for alert in result.alerts[:1] if week % 10 == 0 else ():
                    session.add(
                        Alert(submission_id=submission.id, registration_id=registration.id, item_id=alert.item_id)
                    )
        assert therapist.id is not None
        return therapist.id, registration.public_id


def _timed(runs: int, work: Callable[[], object]) -> tuple[float, float]:
    work()  # warm caches (templates, catalogue lookups, statement cache)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9) - 1]


def bench_client_record(url: str, runs: int) -> list[tuple[str, float, float]]:
    database = Database(url, threads=2)
    migrate(database.engine)
    catalogue = load_catalogue(resource_dir("questionnaires"))
    therapist_id, public_id = seed_client(database, catalogue)
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

        def load() -> client_record.ClientRecord:
            with db.session() as session:
                return client_record.record_of(session, app.state.catalogue, therapist_id, public_id)

        record = load()
        figures.append(("record (4 queries)", *_timed(runs, load)))
        env = app.state.templates.env

        def words_and_render() -> str:
            words = RecordWords("nl", app.state.settings.timezone)
            instruments = [words.instrument(one) for one in record.instruments]
            # Rendering outside a request: the url() and csrf globals need one, so only the instrument partial.
            partial = env.get_template("therapist/_client_instrument.html")
            return "".join(
                partial.render(instrument=one, client=record.client, report=True, lang="nl") for one in instruments
            )

        token_lang = current_language.set("nl")
        try:
            figures.append(("words + charts + tables", *_timed(runs, words_and_render)))
        finally:
            current_language.reset(token_lang)

        def page() -> None:
            response = browser.get(f"/therapist/clients/{public_id}")
            assert response.status_code == 200, response.status_code
            assert response.text.count('class="card instrument"') == 8

        figures.append(("page: GET in process", *_timed(runs, page)))
    app.state.db.dispose()
    return figures


def caseload_500(url: str, runs: int) -> list[tuple[str, float, float]]:
    """The caseload page with 500 clients (target < 150 ms median), measured by ``bench_caseload``."""
    from benchmarks.bench_caseload import caseload_500 as run  # that module imports this one

    return run(url, runs)


@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as directory:
        yield f"sqlite:///{Path(directory) / 'bench.db'}"


@contextmanager
def postgresql_url(server: str) -> Iterator[str]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(make_url(server).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = (
        make_url(server).set(drivername="postgresql+psycopg").update_query_dict({"options": f"-csearch_path={schema}"})
    )
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def database_targets() -> list[tuple[str, Callable[[], AbstractContextManager[str]]]]:
    """A new SQLite file; a new PostgreSQL schema when ROM_PORTAL_BENCH_POSTGRESQL_URL (or the tests' URL) is set."""
    targets: list[tuple[str, Callable[[], AbstractContextManager[str]]]] = [("SQLite", sqlite_url)]
    server = os.environ.get("ROM_PORTAL_BENCH_POSTGRESQL_URL") or os.environ.get("ROM_PORTAL_TEST_POSTGRESQL_URL")
    if server:
        targets.append(("PostgreSQL", lambda: postgresql_url(server)))
    else:
        print("PostgreSQL skipped: set ROM_PORTAL_BENCH_POSTGRESQL_URL")
    return targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    targets = database_targets()
    print(f"client record, 8 questionnaires x {MEASUREMENTS} measurements; median and p90 of {args.runs} runs")
    print(f"{'database':<11} {'what':<28} {'median ms':>10} {'p90 ms':>8}")
    for name, make in targets:
        with make() as url:
            for what, median, p90 in bench_client_record(url, args.runs) + caseload_500(url, args.runs):
                print(f"{name:<11} {what:<28} {median:>10.1f} {p90:>8.1f}")
    print("targets: client page < 100 ms median, caseload page < 150 ms median, on both databases")


if __name__ == "__main__":
    main()
