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


async def _one_connection(
    host: str, port: int, path: str, start: float, end: float, out: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: rom-portal-bench\r\n\r\n".encode()
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
    finally:
        writer.close()


async def run(url: str, connections: int, seconds: float, warmup: float) -> dict[str, float]:
    parsed = urlparse(url)
    path = parsed.path or "/"
    if parsed.query:
        path += "?" + parsed.query
    latencies: list[float] = []
    errors: list[int] = []
    start = time.perf_counter() + warmup
    end = start + seconds
    await asyncio.gather(
        *(
            _one_connection(parsed.hostname or "127.0.0.1", parsed.port or 80, path, start, end, latencies, errors)
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
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.url, args.connections, args.seconds, args.warmup))))


if __name__ == "__main__":
    main()
