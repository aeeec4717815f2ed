"""HTTP benchmark: the portal (2 workers, SQLite) against a bare Starlette + Jinja2 ceiling, in one run.

    python benchmarks/bench_http.py [--seconds 5] [--connections 32]

Starts each server, loads it from a second process on 127.0.0.1 (benchmarks/loadgen.py), and prints req/s,
p50/p99 and the ratio to the ceiling per scenario; also the time from start to the first answered request.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


def load(url: str, seconds: float, connections: int) -> dict[str, float]:
    completed = subprocess.run(
        [
            PYTHON,
            str(ROOT / "benchmarks" / "loadgen.py"),
            url,
            "--seconds",
            str(seconds),
            "--connections",
            str(connections),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout)


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


if __name__ == "__main__":
    main()
