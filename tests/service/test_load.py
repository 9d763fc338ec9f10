"""Bounded load on the real server (``healthqa serve`` in a subprocess on loopback, the real index).

- Sustained: 64 concurrent clients, mixed /v1/ask and /v1/search: no 5xx, no socket errors, a p99
  within a few rounds of the crowd's work (P99_ROUNDS; a fairness bound, not a speed test), and the
  server's memory flat after warm-up.
- Overload: the same crowd against a tiny concurrency cap and rate limit: the only answers are 200,
  503 overloaded and 429 rate_limited, each with Retry-After; readiness still answers meanwhile.

Every run is bounded by a request count and a wall-clock deadline, and stops by itself.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import httpx
import psutil
import pytest

from tests.conftest import ROOT
from tests.ui.conftest import free_port, stop_process, wait_until_up

pytestmark = pytest.mark.slow

CONCURRENCY = 64
# With fair queueing a request waits about one round of the other clients' work, never many: the p99 is
# bounded by this many rounds of CONCURRENCY requests at the median time of one request sent alone (both
# # measured in this test, so a slower or busier machine scales both). Measured: 3.5 and 6.8 rounds on 2 cores
# at load average 13 (other jobs running); the wide margin is for such noise, and a starved request still fails.
P99_ROUNDS = 10
QUESTIONS = [
    "is it normal for my knees to ache after the gym?",
    "how should i sleep with sciatica",
    "what helps a stiff lower back in the morning",
    "whats a good recipe for lasagne",
    "my back hurts and i suddenly cant control my bladder",
    "is bed rest good for back pain",
    "when should i see a doctor about back pain",
    "does stretching help muscle soreness after exercise",
]
QUERIES = ["sciatica pain down one leg", "herniated disc", "posture at a desk", "joint pain after working out"]


class Outcome(NamedTuple):
    status: int | None  # None: no HTTP answer at all
    seconds: float
    code: str  # the error code, the exception's name, or "" for a 200
    retry_after: str | None


@contextmanager
def running_api(index_dir: Path, log: Path, **settings: object) -> Iterator[tuple[str, psutil.Process]]:
    """``healthqa serve`` on a free loopback port with ``HEALTHQA_<NAME>=value`` settings; stopped after."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **{f"HEALTHQA_{k.upper()}": str(v) for k, v in settings.items()}}
    command = [sys.executable, "-m", "cli", "serve", "--port", str(port), "--index", str(index_dir)]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, env=env)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_up(f"{url}/readyz", process, log, timeout=180)
            yield url, psutil.Process(process.pid)
        finally:
            stop_process(process, timeout=30)


async def drive(url: str, *, requests: int, deadline_s: float, concurrency: int = CONCURRENCY) -> list[Outcome]:
    """``requests`` mixed asks and searches from ``concurrency`` clients at once, stopping at the deadline."""
    outcomes: list[Outcome] = []
    numbers = itertools.count()
    stop_at = time.monotonic() + deadline_s
    # A client must drop idle connections before the server does (uvicorn: 5 s, httpx's default: also 5 s),
    # or a request sent as the server closes the connection is reset: a client bug, not the server's.
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(60), limits=limits) as client:

        async def worker() -> None:
            while time.monotonic() < stop_at and (n := next(numbers)) < requests:
                if n % 2:
                    call = client.post("/v1/ask", json={"question": QUESTIONS[n % len(QUESTIONS)]})
                else:
                    call = client.post("/v1/search", json={"query": QUERIES[n % len(QUERIES)], "k": 5})
                began = time.perf_counter()
                try:
                    response = await call
                except httpx.HTTPError as exc:
                    outcomes.append(Outcome(None, time.perf_counter() - began, f"{exc!r} ({exc.__cause__!r})", None))
                    continue
                code = "" if response.status_code == 200 else response.json()["error"]["code"]
                outcomes.append(
                    Outcome(
                        response.status_code, time.perf_counter() - began, code, response.headers.get("retry-after")
                    )
                )

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes


def p99(outcomes: list[Outcome]) -> float:
    seconds = sorted(o.seconds for o in outcomes)
    return seconds[min(len(seconds) - 1, int(len(seconds) * 0.99))]


def test_sustained_load_has_no_errors_and_flat_memory(corpus_index: Path, tmp_path: Path) -> None:
    # Generous limits: this is about the server holding up, not about shedding (the next test).
    settings = {"rate_limit": "1000000/minute", "max_queue": 1000, "queue_wait_s": 60, "request_timeout_s": 60}
    settings["answer_cache"] = 0  # the same few questions over and over: the pipeline under load, not the cache
    with running_api(corpus_index, tmp_path / "server.log", **settings) as (url, server):
        warm_up = asyncio.run(drive(url, requests=400, deadline_s=30))
        alone = asyncio.run(drive(url, requests=100, deadline_s=30, concurrency=1))
        before = server.memory_info().rss
        outcomes = asyncio.run(drive(url, requests=1600, deadline_s=45))
        after = server.memory_info().rss
    statuses = {(o.status, o.code) for o in warm_up + alone + outcomes}
    assert statuses == {(200, "")}, statuses
    assert len(outcomes) >= 200, f"only {len(outcomes)} requests in the deadline"
    one_request_s = sorted(o.seconds for o in alone)[len(alone) // 2]
    rounds = p99(outcomes) / (CONCURRENCY * one_request_s)
    print(f"\np99 {p99(outcomes):.3f} s = {rounds:.2f} rounds of {CONCURRENCY} x {one_request_s * 1000:.1f} ms")  # noqa: T201
    assert rounds <= P99_ROUNDS, (
        f"p99 {p99(outcomes):.2f} s over {len(outcomes)} requests is {rounds:.1f} rounds of {CONCURRENCY} clients "
        f"at {one_request_s * 1000:.1f} ms each (bound {P99_ROUNDS})"
    )
    growth_mb = (after - before) / 2**20
    assert growth_mb < 50, f"server RSS grew {growth_mb:.1f} MB over {len(outcomes)} requests after warm-up"


def test_overload_sheds_with_503_and_429_only(corpus_index: Path, tmp_path: Path) -> None:
    settings = {
        "rate_limit": "300/minute",
        "max_concurrent": 2,
        "max_queue": 2,
        "queue_wait_s": 0.05,
        "answer_cache": 0,
    }
    with running_api(corpus_index, tmp_path / "server.log", **settings) as (url, _):

        async def crowd_and_probes() -> tuple[list[Outcome], list[int]]:
            async def probe() -> list[int]:
                statuses = []
                async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                    for _ in range(10):
                        statuses += [(await client.get(path)).status_code for path in ("/readyz", "/healthz")]
                        await asyncio.sleep(0.1)
                return statuses

            crowd, probes = await asyncio.gather(drive(url, requests=800, deadline_s=45), probe())
            return crowd, probes

        outcomes, probes = asyncio.run(crowd_and_probes())
        after = httpx.post(f"{url}/v1/search", json={"query": "sciatica"}, timeout=30)
        # uvicorn believes X-Forwarded-For from loopback by default; 'healthqa serve' must not.
        spoofed = httpx.post(
            f"{url}/v1/search", json={"query": "sciatica"}, headers={"X-Forwarded-For": "203.0.113.99"}, timeout=30
        )
    assert set(probes) == {200}, probes
    kinds = {(o.status, o.code) for o in outcomes}
    assert kinds <= {(200, ""), (503, "overloaded"), (429, "rate_limited")}, kinds
    assert kinds == {(200, ""), (503, "overloaded"), (429, "rate_limited")}, "every kind of answer shows up"
    assert all(o.retry_after and int(o.retry_after) >= 1 for o in outcomes if o.status != 200)
    assert after.status_code == 429  # the budget is spent, and the server still answers
    assert spoofed.status_code == 429
