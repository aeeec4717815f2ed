"""The research export of one instrument over 100,000 clients with 10 PHQ-9s each (target < 10 s, < 500 MB).

Run from the repository root: ``python -m benchmarks.bench_research [--clients 100000] [--submissions 10]``.
On SQLite (a file) and, when ``ROM_PORTAL_BENCH_POSTGRESQL_URL`` (or ``ROM_PORTAL_TEST_POSTGRESQL_URL``) is set,
on PostgreSQL (a schema), it fills the database with ``fill_research`` (new ones, dropped afterwards; with
``--reuse`` a file in the temporary folder and a schema named after the size, made once and kept) and then, in a
fresh Python process per run (``--runs``, default 3; the run with the median time is shown, with the highest
peak of all), so that the peak memory is that of the export alone:

- ``compute``: ``compute_export`` for PHQ-9 with the occasions first, last, the 2nd and 3rd measurement and weeks
  since the first in bins of 4 up to 52, by age band, sex and respondent, in one read transaction;
- ``files``: ``csv_zip_bytes`` and ``json_bytes`` of the result;
- the peak resident memory of that process (VmHWM, see ``_megabytes_peak``; imports and catalogue included), and,
  with ``--trace``, in a second process, the peak of Python's own allocations during both steps (``tracemalloc``;
  it slows the export down two to three times, so that run is not timed).

``--profile`` adds a third process per database that prints where the time of ``compute`` goes (cProfile).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from benchmarks.bench_workspace import SECRET, database_targets
from benchmarks.fill_research import VERSION, Counts, counts, drop_schema, fill, remove_sqlite, schema_url
from rom_portal.db import Database
from rom_portal.paths import resource_dir
from rom_portal.questionnaires import load_catalogue
from rom_portal.settings import load_settings

SECONDS = 10.0
MEGABYTES = 500.0
REQUEST = {
    "questionnaires": ["phq9"],
    "occasions": ["first", "last", "nth", "weeks"],
    "nth": "2, 3",  # weeks: the portal's fixed periods, 4 weeks wide up to week 52 (checked in measure)
    "strata": ["age", "sex", "respondent"],
}


# --- In the measuring process -------------------------------------------------------------------------------------


def _megabytes_peak() -> float:
    """This process's peak resident memory so far: VmHWM. Not ``getrusage``'s ``ru_maxrss``: on Linux that keeps
    the parent's peak across fork and exec, so a child of the process that filled the database reports its peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


def _first_n(export: Any) -> int | None:
    """The published n of the first measurement over everyone: every consenting client with a PHQ-9."""
    from rom_portal.services.research.export import ALL, DISTRIBUTION

    for table in export.tables:
        if table.kind != DISTRIBUTION or "n" not in table.statistics:
            continue
        for row in table.rows:
            if row.occasion == "first" and row.age_band == row.sex == row.respondent == ALL:
                value = row.cells[table.statistics.index("n")].value
                return None if value is None else int(value)
    return None


def measure(url: str, how: str) -> dict[str, Any]:
    """Run the export once in this process: ``how`` is "time", "trace" (tracemalloc) or "profile" (cProfile)."""
    from rom_portal.services.research.export import compute_export
    from rom_portal.services.research.files import csv_zip_bytes, json_bytes
    from rom_portal.services.research.request import parse_request

    settings = load_settings({}, database_url=url, secret_key=SECRET)
    catalogue = load_catalogue(resource_dir("questionnaires"))
    request, problems = parse_request(catalogue, **REQUEST)  # type: ignore[arg-type]
    assert request is not None, problems
    weeks = request.occasions.weeks
    assert weeks is not None and (weeks.width, weeks.until) == (4, 52), weeks
    database = Database(url, threads=1)
    found: dict[str, Any] = {"rss_before_mb": _megabytes_peak()}
    profiler = cProfile.Profile() if how == "profile" else None
    if how == "trace":
        tracemalloc.start()
    try:
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        with database.session() as session:
            export = compute_export(
                session, catalogue, request, k=settings.research_min_clients, timezone=settings.timezone
            )
        if profiler:
            profiler.disable()
        computed = time.perf_counter()
        packed, written = csv_zip_bytes(export), json_bytes(export)
        done = time.perf_counter()
    finally:
        database.dispose()
    if how == "trace":
        found["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    if profiler:
        for order in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(25)
            print(out.getvalue())
    found.update(
        compute_s=computed - started,
        files_s=done - computed,
        peak_rss_mb=_megabytes_peak(),
        zip_bytes=len(packed),
        json_bytes=len(written),
        tables=len(export.tables),
        rows=sum(len(table.rows) for table in export.tables),
        figures=sum(1 for _ in export.figures()),
        suppressed=sum(1 for figure in export.figures() if figure.suppressed),
        first_n=_first_n(export),
        k=export.k,
    )
    return found


def in_fresh_process(url: str, how: str) -> dict[str, Any]:
    """``measure`` in a new interpreter; what it prints besides its figures (a profile) is passed on."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_research", "--measure", url, "--how", how],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the measuring process failed:\n{done.stderr}")
    *printed, last = done.stdout.rstrip("\n").split("\n")
    if printed:
        print("\n".join(printed))
    return json.loads(last)  # type: ignore[no-any-return]


# --- The databases ------------------------------------------------------------------------------------------------


@contextmanager
def kept_database(name: str, clients: int, submissions: int, now: datetime) -> Iterator[tuple[str, float | None]]:
    """A SQLite file or PostgreSQL schema named after the size, filled unless it already holds that data; kept."""
    size = f"v{VERSION}_{clients}x{submissions}"
    if name == "SQLite":
        path = Path(tempfile.gettempdir()) / f"rom-portal-research-{size}.db"
        url = f"sqlite:///{path}"

        def clear() -> None:
            remove_sqlite(path)
    else:
        server = os.environ.get("ROM_PORTAL_BENCH_POSTGRESQL_URL") or os.environ.get("ROM_PORTAL_TEST_POSTGRESQL_URL")
        assert server is not None
        schema = f"bench_research_{size}"
        url = schema_url(server, schema)

        def clear() -> None:
            drop_schema(server, schema, create=True)

    try:
        there = counts(url)
    except Exception:  # no such file, schema or table: fill it
        there = None
    if there is not None and (there.clients, there.submissions) == (clients, clients * submissions):
        yield url, None
        return
    clear()
    started = time.perf_counter()
    fill(url, clients, submissions, now=now)
    yield url, time.perf_counter() - started


@contextmanager
def new_filled(
    make: Callable[[], AbstractContextManager[str]], clients: int, submissions: int, now: datetime
) -> Iterator[tuple[str, float | None]]:
    with make() as url:
        started = time.perf_counter()
        fill(url, clients, submissions, now=now)
        yield url, time.perf_counter() - started


def median_run(runs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median total time, with the highest peak memory of all runs."""
    found = sorted(runs, key=lambda run: run["compute_s"] + run["files_s"])
    return {**found[(len(found) - 1) // 2], "peak_rss_mb": max(run["peak_rss_mb"] for run in found), "runs": found}


def cut_off() -> datetime:
    """As ``compute_export`` takes it: the first of this month in the practice's time zone."""
    zone = ZoneInfo(load_settings({}, secret_key=SECRET).timezone)
    return datetime.combine(datetime.now(zone).date().replace(day=1), datetime.min.time(), tzinfo=zone)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(name: str, there: Counts, timed: dict[str, Any], traced: dict[str, Any] | None) -> str:
    total = timed["compute_s"] + timed["files_s"]
    traced_mb = f"{traced['traced_peak_mb']:.1f}" if traced else "-"
    return (
        f"{name:<11} {there.clients:>8,} {there.submissions:>11,} {there.consenting:>10,} "
        f"{timed['compute_s']:>9.2f} {timed['files_s']:>7.2f} {total:>7.2f} {_verdict(total < SECONDS):>4} "
        f"{timed['peak_rss_mb']:>11.1f} {_verdict(timed['peak_rss_mb'] < MEGABYTES):>4} {traced_mb:>9}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--submissions", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per database, each a new process")
    parser.add_argument("--reuse", action="store_true", help="keep the filled databases and use them next time")
    parser.add_argument("--trace", action="store_true", help="also measure the tracemalloc peak (a slower run)")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top entries of compute_export")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # in the child process: the database URL
    parser.add_argument("--how", default="time", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.how)))
        return

    lines, notes = [], []
    now = datetime.now(UTC)  # the same data on both databases: consents are dated up to now
    for name, make in database_targets():
        prepared = (
            kept_database(name, args.clients, args.submissions, now)
            if args.reuse
            else new_filled(make, args.clients, args.submissions, now)
        )
        with prepared as (url, fill_seconds):
            there = counts(url, consented_before=cut_off())
            if args.profile:
                print(f"--- {name}: cProfile of compute_export")
                in_fresh_process(url, "profile")
            timed = median_run(in_fresh_process(url, "time") for _ in range(args.runs))
            traced = in_fresh_process(url, "trace") if args.trace else None
        lines.append(report(name, there, timed, traced))
        filled = "reused" if fill_seconds is None else f"filled in {fill_seconds:.0f} s"
        first_n = "suppressed" if timed["first_n"] is None else f"{timed['first_n']:,}"
        check = "" if timed["first_n"] in (None, there.consenting) else f" (consenting clients: {there.consenting:,}!)"
        notes.append(
            f"{name}: {filled}; {timed['tables']} tables, {timed['rows']:,} rows, {timed['figures']:,} figures "
            f"({timed['suppressed']:,} suppressed, k={timed['k']}); n at the first measurement {first_n}"
            f"{check}; zip {timed['zip_bytes'] / 1024:.0f} KiB, JSON {timed['json_bytes'] / 1024:.0f} KiB; "
            f"RSS before the export {timed['rss_before_mb']:.0f} MB; compute + files per run: "
            + ", ".join(f"{run['compute_s'] + run['files_s']:.2f} s" for run in timed["runs"])
        )
    print("research export: PHQ-9; first, last, 2nd and 3rd, weeks 4 x 52; by age band, sex and respondent")
    print(
        f"{'database':<11} {'clients':>8} {'submissions':>11} {'consenting':>10} {'compute s':>9} {'files s':>7} "
        f"{'total s':>7} {'':>4} {'peak RSS MB':>11} {'':>4} {'traced MB':>9}"
    )
    print("\n".join(lines))
    print(f"targets: compute + files < {SECONDS:.0f} s, peak RSS < {MEGABYTES:.0f} MB, on both databases")
    print("\n".join(notes))


if __name__ == "__main__":
    main()
