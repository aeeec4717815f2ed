"""HTTP benchmark: the portal (2 workers, SQLite) against a bare Starlette + Jinja2 ceiling, in one run.

    python benchmarks/bench_http.py [--seconds 5] [--connections 32]

Starts each server, loads it from a second process on 127.0.0.1 (benchmarks/loadgen.py), and prints req/s,
p50/p99 and the ratio to the ceiling per scenario; also the time from start to the first answered request.
The filling-in scenarios use 64 clients made before their server starts (benchmarks/fill_data.py), each with
its own session and PHQ-9 assignment; after the autosave load the server is killed (SIGKILL) and every answer
the load generator saw acknowledged is looked up in the database.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, started: float, timeout: float = 60) -> float:
    while time.monotonic() - started < timeout:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:  # noqa: S310 (local)
                if answer.status == 200:
                    return time.monotonic() - started
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@contextmanager
def server(command: list[str], env: dict[str, str], probe: str, *, kill: bool = False) -> Iterator[float]:
    """A server process; ``kill`` ends it and its workers with SIGKILL (as a crash would) instead of SIGTERM."""
    started = time.monotonic()
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=kill
    )
    try:
        yield wait_until_up(probe, started)
    finally:
        if kill:
            os.killpg(process.pid, signal.SIGKILL)  # its own process group: the supervisor and its workers
        else:
            process.terminate()
        process.wait(timeout=20)


def _loadgen_command(url: str, seconds: float, connections: int, *extra: str) -> list[str]:
    script = str(ROOT / "benchmarks" / "loadgen.py")
    return [PYTHON, script, url, "--seconds", str(seconds), "--connections", str(connections), *extra]


def load(url: str, seconds: float, connections: int, *extra: str) -> dict[str, Any]:
    command = _loadgen_command(url, seconds, connections, *extra)
    completed = subprocess.run(command, capture_output=True, text=True, check=True)
    return dict(json.loads(completed.stdout))


def load_together(first: list[str], second: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """Two load generators at once, each its own process (e.g. logins while other pages are read)."""
    a = subprocess.Popen(first, stdout=subprocess.PIPE, text=True)
    b = subprocess.Popen(second, stdout=subprocess.PIPE, text=True)
    out_a, _ = a.communicate()
    out_b, _ = b.communicate()
    return json.loads(out_a), json.loads(out_b)


BENCH_USER = "bench-client"
BENCH_PASSWORD = "rustige middag aan zee"
_CREATE_CLIENT = """
from rom_portal.db import Database
from rom_portal.models import Role, User
from rom_portal.security.passwords import hash_password
from rom_portal.settings import load_settings

database = Database(load_settings().database_url)
with database.session(write=True) as session:
    session.add(User(username=USER, password_hash=hash_password(PASSWORD), role=Role.client, display_name="Bench"))
"""


def create_bench_client(env: dict[str, str]) -> None:
    """A client account (clients need no second factor) to log in with."""
    script = f"USER = {BENCH_USER!r}\nPASSWORD = {BENCH_PASSWORD!r}\n" + _CREATE_CLIENT
    subprocess.run([PYTHON, "-c", script], env=env, cwd=ROOT, check=True)


def failed_login_timing(base: str) -> tuple[float, float]:
    """Median time of a failed login for a real account and for an unknown one; they should match.

    Four rounds each, alternating, so the per-address lock (after 10 failures) is never reached.
    """
    import statistics

    times: dict[str, list[float]] = {BENCH_USER: [], "no-such-user": []}
    for _ in range(4):
        for username, bucket in times.items():
            token = re.search(r'name="csrf_token" value="([^"]+)"', _page(base + "/login"))
            assert token
            body = urlencode({"csrf_token": token.group(1), "username": username, "password": "wrong password here"})
            request = urllib.request.Request(base + "/login", data=body.encode(), method="POST")  # noqa: S310
            started = time.perf_counter()
            try:
                urllib.request.urlopen(request, timeout=5)  # noqa: S310 (local)
            except urllib.error.HTTPError as error:
                assert error.code == 400, error.code
            bucket.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[BENCH_USER]), statistics.median(times["no-such-user"])


def _page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (local)
        return str(answer.read().decode())


def login_form(base: str) -> str:
    """The login form's body, with a fresh anonymous CSRF token from the page."""
    with urllib.request.urlopen(base + "/login", timeout=5) as answer:  # noqa: S310 (local)
        page = answer.read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, "no CSRF token on the login page"
    return urlencode({"csrf_token": token.group(1), "username": BENCH_USER, "password": BENCH_PASSWORD})


FILL_CLIENTS = 64
PHQ9_ITEMS = [str(number) for number in range(1, 10)]


def prepare_fill_clients(env: dict[str, str], clients: int) -> list[dict[str, str]]:
    """Clients with a session and a half-answered PHQ-9 each, made in the bench database (fill_data.py)."""
    command = [PYTHON, "-m", "benchmarks.fill_data", "setup", "--clients", str(clients)]
    completed = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return list(json.loads(completed.stdout))


def _browser_headers(client: dict[str, str]) -> list[str]:
    return [f"Cookie: rom_session={client['token']}", "Sec-Fetch-Site: same-origin"]


def page_plan(clients: list[dict[str, str]]) -> list[dict[str, object]]:
    """Each connection opens the fill-in page of its own client."""
    return [{"method": "GET", "path": one["page"], "headers": _browser_headers(one)} for one in clients]


def autosave_plan(clients: list[dict[str, str]]) -> list[dict[str, object]]:
    """Each connection answers its own client's PHQ-9 over and over, as htmx posts it: one item per request.

    Items go round in order and each round gives every item another value, so a lost write leaves an old one.
    """
    plan: list[dict[str, object]] = []
    for offset, one in enumerate(clients):
        headers = [*_browser_headers(one), f"X-CSRF-Token: {one['csrf']}", "HX-Request: true"]
        bodies, marks = [], []
        for round_number in range(4):
            for item in PHQ9_ITEMS:
                value = str((round_number + offset) % 4)
                bodies.append(urlencode({"item": item, f"item-{item}": value}))
                marks.append([f"{one['public_id']}:{item}", value])
        plan.append(
            {"method": "POST", "path": one["page"] + "/answer", "headers": headers, "bodies": bodies, "marks": marks}
        )
    return plan


def load_plan(
    base: str, seconds: float, connections: int, plan: list[dict[str, object]], workdir: Path
) -> dict[str, Any]:
    path = workdir / f"plan-{connections}.json"
    path.write_text(json.dumps(plan), encoding="utf-8")
    return load(base + "/", seconds, connections, "--plan", str(path))


def verify_acknowledged(env: dict[str, str], acknowledged: dict[str, str]) -> tuple[int, list[str]]:
    command = [PYTHON, "-m", "benchmarks.fill_data", "verify"]
    completed = subprocess.run(
        command, env=env, cwd=ROOT, input=json.dumps(acknowledged), capture_output=True, text=True, check=True
    )
    result = json.loads(completed.stdout)
    return int(result["present"]), list(result["missing"])


def portal_env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROM_PORTAL_")}
    env.update(
        ROM_PORTAL_DATABASE_URL=f"sqlite:///{workdir}/bench.db",
        ROM_PORTAL_INSECURE_HTTP="true",
        ROM_PORTAL_LOG_LEVEL="warning",
    )
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    rows: list[tuple[str, dict[str, Any]]] = []

    port = free_port()
    ceiling_cmd = [
        PYTHON,
        "-m",
        "uvicorn",
        "benchmarks.ceiling_app:app",
        "--port",
        str(port),
        "--workers",
        "2",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with server(ceiling_cmd, dict(os.environ), f"http://127.0.0.1:{port}/"):
        ceiling = load(f"http://127.0.0.1:{port}/", args.seconds, args.connections)
    rows.append(("ceiling: bare Starlette+Jinja2, 20 radio questions", ceiling))

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env = portal_env(workdir)
        subprocess.run([PYTHON, "-m", "rom_portal", "migrate"], env=env, cwd=ROOT, check=True, capture_output=True)
        create_bench_client(env)
        port = free_port()
        one_worker = [PYTHON, "-m", "rom_portal", "serve", "--port", str(port), "--workers", "1"]
        with server(one_worker, env, f"http://127.0.0.1:{port}/healthz") as startup_one:
            pass
        port = free_port()
        two_workers = [PYTHON, "-m", "rom_portal", "serve", "--port", str(port), "--workers", "2"]
        with server(two_workers, env, f"http://127.0.0.1:{port}/healthz") as startup_two:
            for name, path in (
                ("portal: login page (layout, i18n)", "/login"),
                ("portal: /healthz (one SQLite read)", "/healthz"),
            ):
                rows.append((name, load(f"http://127.0.0.1:{port}{path}", args.seconds, args.connections)))
            base = f"http://127.0.0.1:{port}"
            form = login_form(base)
            login_command = _loadgen_command(base + "/login", args.seconds, 8, "--method", "POST", "--data", form)
            alone = load(base + "/login", args.seconds, 8, "--method", "POST", "--data", form)
            rows.append(("portal: logins alone (argon2id m=19MiB t=2)", alone))
            # Other visitors browse at a steady 100 pages/s while logins run as fast as they can.
            logins, pages = load_together(
                login_command, _loadgen_command(base + "/login", args.seconds, 4, "--rate", "100")
            )
            rows.append(("portal: logins, while others browse", logins))
            timing = failed_login_timing(base)
            rows.append(("portal: pages at 100/s while logins run", pages))

        clients = prepare_fill_clients(env, FILL_CLIENTS)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        fill_server = [PYTHON, "-m", "rom_portal", "serve", "--port", str(port), "--workers", "2"]
        with server(fill_server, env, base + "/healthz", kill=True):
            fill_page = load_plan(base, args.seconds, args.connections, page_plan(clients), workdir)
            rows.append(("portal: fill-in page, client logged in (PHQ-9)", fill_page))
            autosave = load_plan(base, args.seconds, FILL_CLIENTS, autosave_plan(clients), workdir)
            rows.append((f"portal: autosave POST, {FILL_CLIENTS} connections", autosave))
        # The server was killed, not stopped: what it acknowledged must be in the file all the same.
        acknowledged = autosave.pop("acknowledged")
        present, missing = verify_acknowledged(env, acknowledged)

    print(f"{'scenario':<52} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'ratio':>6}")
    for name, figures in rows:
        ratio = figures["req_per_s"] / ceiling["req_per_s"] if ceiling["req_per_s"] else 0.0
        print(
            f"{name:<52} {figures['req_per_s']:>9.0f} {figures['p50_ms']:>8.2f} {figures['p99_ms']:>8.2f} "
            f"{figures['errors']:>7} {ratio:>6.2f}"
        )
    print(
        f"startup to first answered request (SQLite): 1 worker {startup_one:.2f} s, 2 workers {startup_two:.2f} s"
        f" (target < 2 s)"
    )
    print(f"failed login, median of 4: known user {timing[0]:.1f} ms, unknown user {timing[1]:.1f} ms (should match)")
    print(
        f"logins: {logins['req_per_s']:.0f}/s (target >= 60/s); other pages meanwhile p99 {pages['p99_ms']:.0f} ms "
        "(target < 200 ms)"
    )
    print(
        f"fill-in page: {fill_page['req_per_s']:.0f}/s = {fill_page['req_per_s'] / ceiling['req_per_s']:.2f} of the"
        " ceiling (target >= 0.50)"
    )
    print(f"autosave: {autosave['req_per_s']:.0f}/s, p99 {autosave['p99_ms']:.0f} ms (target >= 800/s, p99 < 150 ms)")
    print(f"acknowledged answers present: {present}/{len(acknowledged)} (after SIGKILL of the server)")
    for line in missing[:10]:
        print(f"  missing: {line}")


if __name__ == "__main__":
    main()
