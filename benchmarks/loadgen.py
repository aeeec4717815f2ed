"""A small HTTP/1.1 keep-alive load generator, run as its own process so it never shares the server's.

    python benchmarks/loadgen.py URL [--connections 32] [--seconds 5] [--warmup 1]

Prints one JSON line: requests, errors, req_per_s, p50_ms, p99_ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from urllib.parse import urlparse


def build_request(method: str, host: str, port: int, path: str, data: str, headers: list[str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "User-Agent: rom-portal-bench", *headers]
    body = data.encode()
    if method != "GET":
        lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _one_connection(
    host: str,
    port: int,
    request: bytes,
    start: float,
    end: float,
    out: list[float],
    errors: list[int],
    interval: float = 0.0,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            began = time.perf_counter()
            if began >= end:
                return
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
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
) -> dict[str, float]:
    parsed = urlparse(url)
    path = parsed.path or "/"
    if parsed.query:
        path += "?" + parsed.query
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    request = build_request(method, host, port, path, data, headers or [])
    latencies: list[float] = []
    errors: list[int] = []
    start = time.perf_counter() + warmup
    end = start + seconds
    await asyncio.gather(
        *(
            _one_connection(host, port, request, start, end, latencies, errors, connections / rate if rate else 0.0)
            for _ in range(connections)
        )
    )
    latencies.sort()
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "req_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(quantiles[49] * 1000, 2),
        "p99_ms": round(quantiles[98] * 1000, 2),
    }


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
    args = parser.parse_args()
    figures = run(args.url, args.connections, args.seconds, args.warmup, args.method, args.data, args.header, args.rate)
    print(json.dumps(asyncio.run(figures)))


if __name__ == "__main__":
    main()
