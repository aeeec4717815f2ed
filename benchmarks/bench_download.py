"""Download all my data: a client with 1,000 submissions of 20 answers, streamed in bounded memory.

Run from the repository root: ``python -m benchmarks.bench_download [--runs 3]``. On SQLite (a new file) and, when
``ROM_PORTAL_BENCH_POSTGRESQL_URL`` (or ``ROM_PORTAL_TEST_POSTGRESQL_URL``) is set, on PostgreSQL (a new schema,
dropped afterwards), for a history of 250 and of 1,000 PCL-5 submissions (20 answers and 5 scores each, one audit
row each), it prints:

- the time of the whole GET /client/privacy/download through the ASGI app (middleware, session, the audit write,
  the read, the zip), median of ``--runs``; the body is taken chunk by chunk and thrown away, as a socket would;
- the size of the zip, and of the files in it once unpacked;
- the peak memory growth during one download: Python allocations in every thread (tracemalloc, in a separate
  run, since tracing slows everything down), and the process's resident memory sampled every 2 ms.

Bounded means: the peak does not grow with the history (1,000 against 250) and stays far below the unpacked size.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import threading
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import anyio
from sqlalchemy import insert

from benchmarks.bench_workspace import NO_PASSWORD, SECRET, database_targets
from rom_portal.app import Portal, create_app
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
from rom_portal.paths import resource_dir
from rom_portal.questionnaires import Catalogue, load_catalogue, score
from rom_portal.schema import migrate
from rom_portal.security import sessions
from rom_portal.settings import load_settings
from rom_portal.web.session_middleware import cookie_name

PATH = "/client/privacy/download"
KEY = "pcl5"  # 20 questions, 5 scales
HISTORIES = (250, 1000)


def seed_client(database: Database, catalogue: Catalogue, submissions: int) -> int:
    """A therapist and one client with ``submissions`` sent PCL-5s; returns the client's user id."""
    rng = random.Random(11)
    definition = catalogue[KEY]
    questions = [item for item in definition.items if item.type != "instruction"]
    assert len(questions) == 20
    with database.session(write=True) as session:
        therapist = User(
            username="bench-therapist", password_hash=NO_PASSWORD, role=Role.therapist, display_name="Bench"
        )
        client = User(username="bench-client", password_hash=NO_PASSWORD, role=Role.client, display_name="Client")
        session.add_all([therapist, client])
        session.flush()
        registration = Registration(user_id=client.id, therapist_id=therapist.id)
        session.add(registration)
        session.flush()
        start = utcnow() - timedelta(days=submissions)
        connection = session.connection()
        for number in range(submissions):
            assignment = Assignment(
                registration_id=registration.id,
                questionnaire_key=KEY,
                questionnaire_version=definition.version,
                respondent=Respondent.self,
            )
            session.add(assignment)
            session.flush()
            when = start + timedelta(days=number)
            submission = Submission(
                assignment_id=assignment.id,
                registration_id=registration.id,
                status=SubmissionStatus.submitted,
                submitted_at=when,
            )
            session.add(submission)
            session.flush()
            answers = {item.id: rng.choice(item.options).value for item in questions}
            connection.execute(
                insert(Answer),
                [
                    {"submission_id": submission.id, "item_id": item_id, "value": json.dumps(value), "updated_at": when}
                    for item_id, value in answers.items()
                ],
            )
            result = score(definition, answers)
            connection.execute(
                insert(Score),
                [
                    {
                        "submission_id": submission.id,
                        "registration_id": registration.id,
                        "scale_id": scale_id,
                        "value": None if one.score is None else float(one.score),
                        "band": one.band,
                        "complete": one.complete,
                        "prorated": one.prorated,
                        "answered": one.answered,
                    }
                    for scale_id, one in result.scales.items()
                ],
            )
            session.add(
                AuditEvent(
                    actor_user_id=therapist.id,
                    actor_role="therapist",
                    registration_id=registration.id,
                    object_type="submission",
                    object_id=str(submission.id),
                    action="read",
                    access_point="web:therapist_submission",
                )
            )
        assert client.id is not None
        return client.id


def stream(app: Portal, cookie: str, *, keep: bool = False) -> tuple[int, int, bytes]:
    """GET the download through the ASGI app, taking the body chunk by chunk and (unless ``keep``) dropping it.

    Returns the number of chunks, of bytes, and the body if kept.
    """
    kept = io.BytesIO()
    got = {"chunks": 0, "status": 0, "bytes": 0}

    async def main() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                got["status"] = message["status"]
            elif message.get("body"):
                got["chunks"] += 1
                got["bytes"] += len(message["body"])
                if keep:
                    kept.write(message["body"])

        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "https",
            "path": PATH,
            "raw_path": PATH.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"testserver"), (b"cookie", cookie.encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 443),
        }
        await app(scope, receive, send)

    anyio.run(main)
    assert got["status"] == 200, got
    return got["chunks"], got["bytes"], kept.getvalue()


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def rss_peak() -> Iterator[dict[str, int]]:
    """The highest resident memory while the block runs, minus that before it, sampled every 2 ms."""
    found = {"growth": 0}
    before = _rss()
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            found["growth"] = max(found["growth"], _rss() - before)
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield found
    finally:
        done.set()
        sampler.join()


def bench_history(url: str, submissions: int, runs: int) -> dict[str, float]:
    database = Database(url, threads=2)
    migrate(database.engine)
    catalogue = load_catalogue(resource_dir("questionnaires"))
    user_id = seed_client(database, catalogue, submissions)
    database.dispose()

    app = create_app(load_settings({}, database_url=url, secret_key=SECRET))
    try:
        with app.state.db.session(write=True) as session:
            user = session.get(User, user_id)
            assert user is not None
            token = sessions.start(session, user, mfa_ok=True, device="bench")
        cookie = f"{cookie_name(app.state.settings)}={token}"

        chunks, size, body = stream(app, cookie, keep=True)  # warm up, and check the zip
        archive = zipfile.ZipFile(io.BytesIO(body))
        unpacked = sum(info.file_size for info in archive.infolist())
        answers = json.loads(archive.read("antwoorden.json"))
        assert len(answers) == submissions * 20, len(answers)
        del archive, answers, body

        times = []
        for _ in range(runs):
            started = time.perf_counter()
            stream(app, cookie)
            times.append(time.perf_counter() - started)

        with rss_peak() as rss:
            stream(app, cookie)

        tracemalloc.start()
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        stream(app, cookie)
        traced_peak = tracemalloc.get_traced_memory()[1] - baseline
        tracemalloc.stop()
    finally:
        app.state.db.dispose()
    return {
        "median_s": statistics.median(times),
        "zip_bytes": size,
        "unpacked_bytes": unpacked,
        "chunks": chunks,
        "traced_peak": traced_peak,
        "rss_growth": rss["growth"],
    }


def _mib(value: float) -> str:
    return f"{value / 2**20:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    targets = database_targets()
    print(f"download of all data, PCL-5 submissions of 20 answers; time: median of {args.runs} runs")
    print(
        f"{'database':<11} {'submissions':>11} {'answers':>8} {'time s':>7} {'zip MiB':>8} {'unpacked MiB':>13} "
        f"{'chunks':>7} {'traced peak MiB':>16} {'RSS growth MiB':>15}"
    )
    for name, make in targets:
        for submissions in HISTORIES:
            with make() as url:
                found = bench_history(url, submissions, args.runs)
            print(
                f"{name:<11} {submissions:>11,} {submissions * 20:>8,} {found['median_s']:>7.2f} "
                f"{_mib(found['zip_bytes']):>8} {_mib(found['unpacked_bytes']):>13} {found['chunks']:>7} "
                f"{_mib(found['traced_peak']):>16} {_mib(found['rss_growth']):>15}"
            )
    print("target: the peak does not grow with the history (1,000 against 250) and stays below the unpacked size")


if __name__ == "__main__":
    main()
