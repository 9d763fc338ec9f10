"""A bounded HTTP load from its own process: ``python -P eval/bench/loadgen.py URL PAYLOADS [options]``.

Runs ``--concurrency`` clients (asyncio tasks sharing one httpx connection pool),
each sending the next payload as soon as its previous response arrives, until
``--requests`` have been sent or ``--duration`` seconds have passed. Prints one
JSON object on stdout: the raw client latencies, the server's own
``timings_ms.total`` when the endpoint reports it, errors by status or
exception, and the elapsed time. Run apart from the server so that the client's
CPU is not the server's, as with any real client (on a 2-core machine they still
share cores). It imports only httpx, so it starts in a fraction of a second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx


async def generate_load(
    url: str,
    payloads: list[dict[str, Any]],
    *,
    concurrency: int,
    requests: int,
    duration: float,
    warmup: int = 0,
) -> dict[str, Any]:
    """Send the payloads (cycled) with ``concurrency`` clients.

    Returns:
        ``concurrency``, ``sent``, ``ok``, ``errors`` (count by cause), ``error_count``,
        ``seconds`` (first request to last response), ``requests_per_second``, and the
        raw samples ``latency_samples_ms`` and ``server_samples_ms``.
    """
    if concurrency < 1 or requests < 1 or duration <= 0:
        raise ValueError(
            f"concurrency, requests and duration must be positive, got {concurrency}, {requests}, {duration}"
        )
    if not payloads:
        raise ValueError("no payloads to send")
    latencies: list[float] = []
    server_ms: list[float] = []
    errors: Counter[str] = Counter()
    sent = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=120.0) as client:
        # Warm-up opens the connections and wakes the server's threads; not counted.
        await asyncio.gather(*(client.post(url, json=payloads[i % len(payloads)]) for i in range(warmup)))
        started = time.perf_counter()
        deadline = started + duration

        async def worker() -> None:
            nonlocal sent
            while sent < requests and time.perf_counter() < deadline:
                payload = payloads[sent % len(payloads)]
                sent += 1
                before = time.perf_counter()
                try:
                    response = await client.post(url, json=payload)
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] += 1
                    continue
                latencies.append((time.perf_counter() - before) * 1000)
                if response.status_code != 200:
                    errors[f"HTTP {response.status_code}"] += 1
                    continue
                total = response.json().get("timings_ms", {}).get("total")
                if isinstance(total, int | float):
                    server_ms.append(float(total))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    completed = len(latencies) - sum(v for k, v in errors.items() if k.startswith("HTTP "))
    return {
        "concurrency": concurrency,
        "sent": sent,
        "ok": completed,
        "errors": dict(errors),
        "error_count": sum(errors.values()),
        "seconds": round(elapsed, 3),
        "requests_per_second": round(completed / elapsed, 2) if elapsed > 0 else 0.0,
        "latency_samples_ms": [round(v, 3) for v in latencies],
        "server_samples_ms": server_ms,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadgen.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="full endpoint URL, e.g. http://127.0.0.1:8000/v1/ask")
    parser.add_argument("payloads", type=Path, help="JSON file: a list of request bodies, sent in turn")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int, default=100, help="stop after this many requests")
    parser.add_argument("--duration", type=float, default=30.0, help="or after this many seconds")
    parser.add_argument("--warmup", type=int, default=0, help="requests sent first and not counted")
    args = parser.parse_args(argv)
    payloads = json.loads(args.payloads.read_text(encoding="utf-8"))
    result = asyncio.run(
        generate_load(
            args.url,
            payloads,
            concurrency=args.concurrency,
            requests=args.requests,
            duration=args.duration,
            warmup=args.warmup,
        )
    )
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
