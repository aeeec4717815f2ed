"""HTTP benchmark: the portal (2 workers, SQLite) against a bare Starlette + Jinja2 ceiling, in one run.

    python benchmarks/bench_http.py [--seconds 5] [--connections 32]

Starts each server, loads it from a second process on 127.0.0.1 (benchmarks/loadgen.py), and prints req/s,
p50/p99 and the ratio to the ceiling per scenario; also the time from start to the first answered request.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
def server(command: list[str], env: dict[str, str], probe: str) -> Iterator[float]:
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield wait_until_up(probe, started)
    finally:
        process.terminate()
        process.wait(timeout=20)


def _loadgen_command(url: str, seconds: float, connections: int, *extra: str) -> list[str]:
    script = str(ROOT / "benchmarks" / "loadgen.py")
    return [PYTHON, script, url, "--seconds", str(seconds), "--connections", str(connections), *extra]


def load(url: str, seconds: float, connections: int, *extra: str) -> dict[str, float]:
    command = _loadgen_command(url, seconds, connections, *extra)
    completed = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(completed.stdout)


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
    rows: list[tuple[str, dict[str, float]]] = []

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


if __name__ == "__main__":
    main()
