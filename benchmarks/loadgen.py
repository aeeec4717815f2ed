"""A small HTTP/1.1 keep-alive load generator, run as its own process so it never shares the server's.

    python benchmarks/loadgen.py URL [--connections 32] [--seconds 5] [--warmup 1] [--plan PLAN.json]

Prints one JSON line: requests, errors, req_per_s, p50_ms, p99_ms.

Without a plan every connection sends the same request. A plan (a JSON list) gives each connection its own:
``{"method": "POST", "path": "/...", "headers": ["Cookie: ..."], "bodies": ["a=1", "a=2"], "marks": [["k", "1"],
["k", "2"]]}``; connection *i* follows plan entry *i* modulo the list's length and sends its bodies in turn
(a GET without bodies sends the same request each time). ``marks`` name what each body says: for every
response with status 200 the load generator remembers ``mark value`` under ``mark key``, so the output's
``acknowledged`` holds the last acknowledged value per key (for a check that nothing acknowledged was lost).
Keys must not be shared between connections (their order would be undefined), so a plan with marks needs at
least as many entries as connections.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse


def build_request(method: str, host: str, port: int, path: str, data: str, headers: list[str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "User-Agent: rom-portal-bench", *headers]
    body = data.encode()
    if method != "GET":
        lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


CONNECT_GAP = 0.005  # seconds between opening two connections


@dataclass
class Plan:
    """What one connection sends: its requests in turn, and what each acknowledges (key, value) if anything."""

    requests: list[bytes]
    marks: list[tuple[str, str]] = field(default_factory=list)


def plans_from(entries: list[dict[str, object]], host: str, port: int) -> list[Plan]:
    plans = []
    for entry in entries:
        method = str(entry.get("method", "GET"))
        headers = [str(header) for header in entry.get("headers", [])]  # type: ignore[attr-defined]
        bodies = [str(body) for body in entry.get("bodies", [])] or [""]  # type: ignore[attr-defined]
        requests = [build_request(method, host, port, str(entry["path"]), body, headers) for body in bodies]
        marks = [(str(key), str(value)) for key, value in entry.get("marks", [])]  # type: ignore[attr-defined]
        if marks and len(marks) != len(requests):
            raise SystemExit("a plan entry needs one mark per body")
        plans.append(Plan(requests, marks))
    return plans


async def _one_connection(
    streams: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    plan: Plan,
    start: float,
    end: float,
    out: list[float],
    errors: list[int],
    interval: float = 0.0,
    acknowledged: dict[str, str] | None = None,
) -> None:
    reader, writer = streams
    sent = 0
    try:
        while True:
            began = time.perf_counter()
            if began >= end:
                return
            turn = sent % len(plan.requests)
            sent += 1
            writer.write(plan.requests[turn])
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            if plan.marks and status == 200 and acknowledged is not None:
                key, value = plan.marks[turn]
                acknowledged[key] = value
            if began >= start:
                if status >= 400:
                    errors.append(status)
                out.append(time.perf_counter() - began)
            if interval:  # a steady pace (like people browsing) instead of as fast as possible
                await asyncio.sleep(max(0.0, began + interval - time.perf_counter()))
    finally:
        writer.close()


async def run(
    url: str,
    connections: int,
    seconds: float,
    warmup: float,
    method: str = "GET",
    data: str = "",
    headers: list[str] | None = None,
    rate: float = 0.0,
    plan: list[dict[str, object]] | None = None,
) -> dict[str, object]:
    parsed = urlparse(url)
    path = parsed.path or "/"
    if parsed.query:
        path += "?" + parsed.query
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    if plan:
        plans = plans_from(plan, host, port)
        if any(one.marks for one in plans) and connections > len(plans):
            raise SystemExit("a plan with marks needs an entry per connection")
    else:
        plans = [Plan([build_request(method, host, port, path, data, headers or [])])]
    latencies: list[float] = []
    errors: list[int] = []
    acknowledged: dict[str, str] = {}
    # One at a time, a moment apart: opened all at once, a single server worker tends to accept every one
    # (asyncio accepts all waiting connections when it wakes) and the other workers sit idle all run long.
    streams = []
    for _ in range(connections):
        streams.append(await asyncio.open_connection(host, port))
        await asyncio.sleep(CONNECT_GAP)
    start = time.perf_counter() + warmup
    end = start + seconds
    interval = connections / rate if rate else 0.0
    await asyncio.gather(
        *(
            _one_connection(
                streams[number], plans[number % len(plans)], start, end, latencies, errors, interval, acknowledged
            )
            for number in range(connections)
        )
    )
    latencies.sort()
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    figures: dict[str, object] = {
        "requests": len(latencies),
        "errors": len(errors),
        "req_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(quantiles[49] * 1000, 2),
        "p99_ms": round(quantiles[98] * 1000, 2),
    }
    if any(one.marks for one in plans):
        figures["acknowledged"] = acknowledged
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--data", default="", help="form body for POST")
    parser.add_argument("--header", action="append", default=[], help="extra header, 'Name: value'")
    parser.add_argument("--rate", type=float, default=0.0, help="requests per second in all (0: as fast as possible)")
    parser.add_argument("--plan", help="JSON file: a request plan per connection (see above); URL gives the server")
    args = parser.parse_args()
    plan = None
    if args.plan:
        with open(args.plan, encoding="utf-8") as file:
            plan = json.load(file)
    figures = run(
        args.url, args.connections, args.seconds, args.warmup, args.method, args.data, args.header, args.rate, plan
    )
    print(json.dumps(asyncio.run(figures)))


if __name__ == "__main__":
    main()
