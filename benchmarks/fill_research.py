"""Data for the research-export benchmark: many clients with a year of submitted PHQ-9s each (issue 8).

    python -m benchmarks.fill_research --database-url URL [--clients 100000] [--submissions 10] [--keep]

The database is new and made with the portal's migrations: for a SQLite URL the file (which must not exist yet),
for a PostgreSQL URL a new schema on that server. Without ``--keep`` it is removed again afterwards (the point is
then the timing); with ``--keep`` the URL to use it is printed. ``bench_research`` calls ``fill`` itself.

What is made, row for row as the portal stores it:

- a few therapists, and per client a user account and a registration (birth year and sex varied, some unknown),
  the privacy-statement consent, and for about 80 % an open research consent (3 % given again after an earlier
  withdrawal, a few of them this month, which an export this month leaves out); 8 % withdrew theirs and 12 %
  never gave one;
- per client ``--submissions`` submitted PHQ-9s over about a year, 3 to 7 weeks apart, the last at least two
  weeks before the start of the current month; each with its assignment, its answers (items 1-9, and item 10 when
  it is shown), its score row and, for item 9 above 0, an alert (acknowledged). Totals follow a course per client
  (most improve, some stay, some get worse) and are turned into answers from a set of answer patterns scored once
  by the portal's own scoring (``score`` and ``filling.score_rows``), never by hand.

Rows go in by bulk, with the ids given: ``executemany`` in one transaction per batch of clients on SQLite, ``COPY``
on PostgreSQL (without the per-row foreign-key checks when connected as a superuser; then the id sequences are
moved on and ``ANALYZE`` runs, as autovacuum would). 100,000 clients x 10 (13 million rows) take about 2.5 minutes on
SQLite and 2 on PostgreSQL on the reference machine.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import secrets
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, create_engine, func, select, text
from sqlalchemy.engine import Engine, make_url

from rom_portal.db import Database
from rom_portal.models import (
    Alert,
    Answer,
    Assignment,
    Consent,
    ConsentKind,
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
from rom_portal.questionnaires import Questionnaire, load_catalogue, score
from rom_portal.schema import migrate
from rom_portal.services.consent import PRIVACY_STATEMENT_VERSION, RESEARCH_STATEMENT_VERSION, research_consented
from rom_portal.services.filling import score_rows
from rom_portal.settings import sqlite_path

KEY = "phq9"
VERSION = 2  # of what is made: bench_research --reuse names its kept databases after it
NO_LOGIN = "!"  # not a password hash: nobody logs in as these accounts
THERAPISTS = 25
BATCH = 2_000  # clients per transaction (SQLite) or per round of COPY (PostgreSQL)
PATTERNS_PER_TOTAL = 16
# After COPY with the ids given: the table's id sequence goes on past the highest (a name from the metadata).
NEXT_ID = "SELECT setval(pg_get_serial_sequence('{0}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {0}"
MARGIN = timedelta(days=14)  # the last measurement lies at least this long before the first of the month


def _table(model: Any) -> Table:
    return model.__table__  # type: ignore[no-any-return]


# --- Answer patterns, scored once ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pattern:
    answers: tuple[tuple[str, str], ...]  # (item id, the value as stored: JSON)
    scores: tuple[tuple[Any, ...], ...]  # (scale_id, value, band, complete, prorated, answered) per scale
    alerts: tuple[str, ...]  # item ids of the critical rules that fire


def answer_patterns(definition: Questionnaire, rng: random.Random) -> list[list[Pattern]]:
    """``PATTERNS_PER_TOTAL`` answer sets per PHQ-9 total 0-27, each scored by the portal's scoring code.

    Points go to random items, item 9 (thoughts of death or self-harm) seven times less often than the others, as
    it is the rarest complaint; item 10 (how difficult) rises with the total and is left out when it is hidden.
    """
    scored = [str(n) for n in range(1, 10)]
    weights = [1.0] * 8 + [0.15]
    by_total: list[list[Pattern]] = []
    for total in range(28):
        patterns = []
        for _ in range(PATTERNS_PER_TOTAL):
            values = dict.fromkeys(scored, 0)
            while sum(values.values()) < total:
                item = rng.choices(scored, weights)[0]
                if values[item] < 3:
                    values[item] += 1
            answers: dict[str, int] = dict(values)
            if total > 0:
                answers["10"] = min(3, max(0, round(total / 7 + rng.gauss(0, 0.6))))
            result = score(definition, answers)
            assert result.scales["total"].score == total, (total, result.scales["total"])
            rows = score_rows(0, 0, result)
            patterns.append(
                Pattern(
                    answers=tuple((item_id, json.dumps(value)) for item_id, value in answers.items()),
                    scores=tuple((s.scale_id, s.value, s.band, s.complete, s.prorated, s.answered) for s in rows),
                    alerts=tuple(alert.item_id for alert in result.alerts),
                )
            )
        by_total.append(patterns)
    return by_total


def course(rng: random.Random, count: int) -> list[int]:
    """PHQ-9 totals of one client over ``count`` measurements: a start, a change that comes early, and noise."""
    start = min(27.0, max(3.0, rng.gauss(15, 5)))
    kind = rng.random()
    if kind < 0.45:
        change = -rng.uniform(6, 14)  # much better
    elif kind < 0.75:
        change = -rng.uniform(1, 6)  # somewhat better
    elif kind < 0.93:
        change = rng.uniform(-1, 2)  # the same
    else:
        change = rng.uniform(4, 9)  # worse
    totals = []
    for index in range(count):
        reached = 1 - math.exp(-3 * index / max(1, count - 1))
        totals.append(round(min(27.0, max(0.0, start + change * reached + rng.gauss(0, 2)))))
    return totals


# --- Bulk loading ----------------------------------------------------------------------------------------------


class Loader:
    """Inserts ready-made rows: ``executemany`` on SQLite, ``COPY`` on PostgreSQL, in one transaction per batch.

    Values go in as the portal's column types would bind them (``bind``): dates and times to UTC in the format
    SQLite holds them, enums by name.
    """

    def __init__(self, engine: Engine) -> None:
        self.dialect = engine.dialect
        self.sqlite = engine.dialect.name == "sqlite"
        self.raw = engine.raw_connection()
        if self.sqlite:
            self.raw.driver_connection.execute("PRAGMA cache_size=-262144")  # 256 MiB: the unique indexes
        else:
            self._skip_foreign_key_checks()

    def _skip_foreign_key_checks(self) -> None:
        """PostgreSQL checks every foreign key of every row copied, one lookup each: most of the time of COPY.
        A superuser can turn those triggers off for this session (the same rows go in on SQLite with the checks
        on); the constraints and indexes stay. Without the right, the checks run."""
        connection = self.raw.driver_connection
        try:
            connection.execute("SET session_replication_role = replica")
        except Exception:  # not a superuser
            connection.rollback()
        else:
            connection.commit()

    def bind(self, table: Table, column: str) -> Callable[[Any], Any]:
        processor = table.c[column].type.dialect_impl(self.dialect).bind_processor(self.dialect)
        return processor if processor is not None else (lambda value: value)

    def begin(self) -> None:
        if self.sqlite:
            self.raw.driver_connection.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        if self.sqlite:
            self.raw.driver_connection.execute("COMMIT")
        else:
            self.raw.commit()

    def insert(self, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        names = ", ".join(f'"{name}"' for name in columns)
        cursor = self.raw.driver_connection.cursor()
        try:
            if self.sqlite:
                marks = ", ".join("?" * len(columns))
                # Table and column names come from the portal's own metadata.
                cursor.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', rows)  # noqa: S608
            else:
                with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
                    for row in rows:
                        copy.write_row(row)
        finally:
            cursor.close()

    def after(self, tables: Sequence[Table]) -> None:
        """PostgreSQL: move the id sequences past the ids given here, and gather statistics (as autovacuum would)."""
        if self.sqlite:
            return
        cursor = self.raw.driver_connection.cursor()
        for table in tables:
            cursor.execute(NEXT_ID.format(table.name))
        self.raw.commit()
        self.raw.driver_connection.autocommit = True
        cursor.execute("ANALYZE")
        self.raw.driver_connection.autocommit = False
        cursor.close()

    def close(self) -> None:
        if not self.sqlite:
            self.raw.rollback()
            self.raw.driver_connection.execute("RESET session_replication_role")
            self.raw.commit()
        self.raw.close()


# --- The rows ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    clients: int
    submissions: int
    consenting: int  # clients with an open research consent


USER = ("id", "username", "password_hash", "role", "display_name", "created_at", "password_changed_at")
REGISTRATION = (
    "id",
    "public_id",
    "user_id",
    "therapist_id",
    "created_at",
    "birth_year",
    "sex",
    "results_visible",
    "show_name_to_informants",
)
CONSENT = ("id", "registration_id", "kind", "statement_version", "given_at", "withdrawn_at")
ASSIGNMENT = (
    "id",
    "public_id",
    "registration_id",
    "questionnaire_key",
    "questionnaire_version",
    "respondent",
    "informant_label",
    "due_on",
    "created_at",
    "created_by",
)
SUBMISSION = ("id", "assignment_id", "registration_id", "status", "started_at", "updated_at", "submitted_at", "page")
ANSWER = ("id", "submission_id", "item_id", "value", "updated_at")
SCORE = ("id", "submission_id", "registration_id", "scale_id", "value", "band", "complete", "prorated", "answered")
ALERT = ("id", "submission_id", "registration_id", "item_id", "created_at", "acknowledged_by", "acknowledged_at")


def _birth_year(rng: random.Random, year: int) -> int | None:
    if rng.random() < 0.04:
        return None
    age = 12 + rng.random() * 6 if rng.random() < 0.03 else min(90.0, max(18.0, rng.gauss(40, 14)))
    return year - int(age)


def _sex(rng: random.Random) -> str | None:
    return rng.choices(("female", "male", "other", None), (58, 37, 1, 4))[0]


def fill(url: str, clients: int, submissions: int, *, seed: int = 8, now: datetime | None = None) -> Counts:
    """Migrate the (empty) database at ``url`` and fill it; prints progress to stderr."""
    started = time.perf_counter()
    database = Database(url, threads=1)
    try:
        migrate(database.engine)
        with database.engine.connect() as connection:
            if connection.execute(select(func.count()).select_from(_table(User))).scalar_one():
                raise SystemExit(f"{url}: not empty; the research data goes into a new database")
        rng = random.Random(seed)
        definition = load_catalogue(resource_dir("questionnaires"))[KEY]
        patterns = answer_patterns(definition, rng)
        loader = Loader(database.engine)
        try:
            _fill(loader, definition, patterns, rng, clients, submissions, now or utcnow())
        finally:
            loader.close()
        found = counts(url)
    finally:
        database.dispose()
    print(f"filled in {time.perf_counter() - started:.0f} s: {found}", file=sys.stderr)
    return found


def _fill(
    loader: Loader,
    definition: Questionnaire,
    patterns: list[list[Pattern]],
    rng: random.Random,
    clients: int,
    submissions: int,
    now: datetime,
) -> None:
    users, registrations, consents = _table(User), _table(Registration), _table(Consent)
    assignments, sent, answers, scores, alerts = (
        _table(Assignment),
        _table(Submission),
        _table(Answer),
        _table(Score),
        _table(Alert),
    )
    stamp = loader.bind(sent, "submitted_at")  # every UTCDateTime column binds alike
    day = loader.bind(assignments, "due_on")
    role, kind, respondent, status = (
        loader.bind(users, "role"),
        loader.bind(consents, "kind"),
        loader.bind(assignments, "respondent"),
        loader.bind(sent, "status"),
    )
    client_role, therapist_role = role(Role.client), role(Role.therapist)
    privacy, research = kind(ConsentKind.privacy_statement), kind(ConsentKind.research)
    self_report, submitted = respondent(Respondent.self), status(SubmissionStatus.submitted)
    version = RESEARCH_STATEMENT_VERSION

    month_start = datetime(now.year, now.month, 1, tzinfo=UTC)
    loader.begin()
    loader.insert(
        users,
        USER,
        [
            (n, f"research-therapist-{n}", NO_LOGIN, therapist_role, f"T{n}", stamp(now), stamp(now))
            for n in range(1, THERAPISTS + 1)
        ],
    )
    loader.commit()
    ids = {"consent": 0, "answer": 0, "score": 0, "alert": 0, "submission": 0}
    loaded = 0
    for first in range(0, clients, BATCH):
        rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in ("u", "r", "c", "a", "s", "an", "sc", "al")}
        for number in range(first, min(clients, first + BATCH)):
            user_id = THERAPISTS + 1 + number
            registration_id = number + 1
            therapist_id = rng.randint(1, THERAPISTS)
            # The course in time: the last measurement 2 weeks to 4 months before the month, 3-7 weeks apart.
            last = month_start - MARGIN - timedelta(days=rng.uniform(0, 120))
            gaps = [timedelta(days=rng.randint(21, 49), hours=rng.uniform(-6, 6)) for _ in range(submissions - 1)]
            when = [last - sum(gaps[index:], timedelta()) for index in range(submissions)]
            registered = when[0] - timedelta(days=rng.uniform(1, 14))
            at = stamp(registered)
            rows["u"].append((user_id, f"research-client-{number:07d}", NO_LOGIN, client_role, f"C{number}", at, at))
            rows["r"].append(
                (
                    registration_id,
                    secrets.token_urlsafe(12),
                    user_id,
                    therapist_id,
                    at,
                    _birth_year(rng, registered.year),
                    _sex(rng),
                    False,
                    True,
                )
            )
            ids["consent"] += 1
            rows["c"].append((ids["consent"], registration_id, privacy, PRIVACY_STATEMENT_VERSION, at, None))
            choice = rng.random()
            if choice < 0.88:  # gave research consent at registration; some withdrew it, a few gave it again later
                stopped = registered + (now - registered) * rng.uniform(0.1, 0.6)  # some time between then and now
                withdrawn = stamp(stopped) if choice >= 0.77 else None
                ids["consent"] += 1
                rows["c"].append((ids["consent"], registration_id, research, version, at, withdrawn))
                if 0.77 <= choice < 0.80:
                    ids["consent"] += 1
                    again = stamp(stopped + (now - stopped) * rng.uniform(0.2, 0.95))  # a few this month
                    rows["c"].append((ids["consent"], registration_id, research, version, again, None))
            for total, moment in zip(course(rng, submissions), when, strict=True):
                ids["submission"] += 1
                submission_id = ids["submission"]
                assigned = moment - timedelta(days=rng.uniform(1, 6))
                done = stamp(moment)
                rows["a"].append(
                    (
                        submission_id,
                        secrets.token_urlsafe(12),
                        registration_id,
                        KEY,
                        definition.version,
                        self_report,
                        "",
                        day((assigned + timedelta(days=7)).date()),
                        stamp(assigned),
                        therapist_id,
                    )
                )
                begun = stamp(moment - timedelta(minutes=rng.uniform(2, 15)))
                rows["s"].append((submission_id, submission_id, registration_id, submitted, begun, done, done, 0))
                pattern = rng.choice(patterns[total])
                for item_id, value in pattern.answers:
                    ids["answer"] += 1
                    rows["an"].append((ids["answer"], submission_id, item_id, value, done))
                for one in pattern.scores:
                    ids["score"] += 1
                    rows["sc"].append((ids["score"], submission_id, registration_id, *one))
                for item_id in pattern.alerts:
                    ids["alert"] += 1
                    seen = stamp(moment + timedelta(hours=rng.uniform(1, 48)))
                    rows["al"].append((ids["alert"], submission_id, registration_id, item_id, done, therapist_id, seen))
        loader.begin()
        for table, columns, name in (
            (users, USER, "u"),
            (registrations, REGISTRATION, "r"),
            (consents, CONSENT, "c"),
            (assignments, ASSIGNMENT, "a"),
            (sent, SUBMISSION, "s"),
            (answers, ANSWER, "an"),
            (scores, SCORE, "sc"),
            (alerts, ALERT, "al"),
        ):
            loader.insert(table, columns, rows[name])
        loader.commit()
        loaded = min(clients, first + BATCH)
        if loaded % (BATCH * 10) == 0 or loaded == clients:
            print(f"  {loaded:,} clients, {ids['answer']:,} answers", file=sys.stderr)
    loader.after([users, registrations, consents, assignments, sent, answers, scores, alerts])


# --- Counting, and the database to fill --------------------------------------------------------------------------


def counts(url: str, consented_before: datetime | None = None) -> Counts:
    """Clients, submitted PHQ-9s, and clients with an open research consent (given before ``consented_before``,
    as the export counts them when given its cut-off)."""
    database = Database(url, threads=1)
    try:
        with database.session() as session:
            clients = session.execute(select(func.count()).select_from(_table(Registration))).scalar_one()
            submitted = session.execute(
                select(func.count())
                .select_from(_table(Submission))
                .where(_table(Submission).c.submitted_at.is_not(None))
            ).scalar_one()
            consenting = session.execute(
                select(func.count(func.distinct(_table(Consent).c.registration_id))).where(
                    _table(Consent).c.registration_id.in_(research_consented(given_before=consented_before))
                )
            ).scalar_one()
    finally:
        database.dispose()
    return Counts(clients, submitted, consenting)


def schema_url(server: str, schema: str) -> str:
    """The URL of ``schema`` on the PostgreSQL ``server`` (as ``bench_workspace.postgresql_url`` makes it)."""
    url = (
        make_url(server).set(drivername="postgresql+psycopg").update_query_dict({"options": f"-csearch_path={schema}"})
    )
    return url.render_as_string(hide_password=False)


def drop_schema(server: str, schema: str, *, create: bool = False) -> None:
    """Drop ``schema`` if it is there (and make it anew when ``create``)."""
    admin = create_engine(make_url(server).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            if create:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    finally:
        admin.dispose()


def remove_sqlite(path: Path) -> None:
    for name in ("", "-wal", "-shm", "-journal", ".writelock", ".checkpoint-owed"):
        path.with_name(path.name + name).unlink(missing_ok=True)


@contextmanager
def new_database(url: str, *, keep: bool) -> Iterator[str]:
    """A new SQLite file or PostgreSQL schema for ``url``; removed afterwards unless ``keep``."""
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is None or path.name in ("", ":memory:"):
            raise SystemExit("give a SQLite file: sqlite:///path/to/research.db")
        if path.exists():
            raise SystemExit(f"{path} exists; the research data goes into a new file")
        try:
            yield url
        finally:
            if not keep:
                remove_sqlite(path)
        return
    schema = f"research_{uuid.uuid4().hex[:12]}"
    drop_schema(url, schema, create=True)
    try:
        yield schema_url(url, schema)
    finally:
        if not keep:
            drop_schema(url, schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="sqlite:///FILE (a new file) or a PostgreSQL server")
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--submissions", type=int, default=10, help="submitted PHQ-9s per client")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the database and print its URL")
    args = parser.parse_args()
    if args.clients < 1 or args.submissions < 1:
        parser.error("--clients and --submissions must be at least 1")
    with new_database(args.database_url, keep=args.keep) as url:
        fill(url, args.clients, args.submissions, seed=args.seed)
        if args.keep:
            print(url)


if __name__ == "__main__":
    main()
