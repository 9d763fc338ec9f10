"""Sequential query latency of /v1/ask and /v1/search: in process (ASGI, no socket) and over loopback HTTP.

Each question is sent once per endpoint, one at a time, so the figures are
single-request latencies with nothing queued. The client's clock covers the
whole request; the server's ``timings_ms`` (``/v1/ask`` only) splits its own
work into red flags, embedding, search and composition.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import httpx
from fastapi.testclient import TestClient

from eval.bench.load import ENDPOINTS
from eval.bench.server import without_limits
from eval.bench.stats import summarize_ms
from index import Embedder
from service.main import create_app
from settings import Settings

logger = logging.getLogger(__name__)
WARMUP = 3


def measure_latency(
    client: httpx.Client | TestClient, questions: Sequence[str], *, endpoints: Sequence[str]
) -> dict[str, Any]:
    """Send every question to every endpoint in turn through ``client`` (base URL set).

    Returns:
        Per endpoint path: ``client_ms`` and, where reported, ``server_ms`` per stage
        (percentile summaries), and ``errors`` (responses other than 200).
    """
    results: dict[str, Any] = {}
    for endpoint in endpoints:
        path, field = ENDPOINTS[endpoint]
        for question in questions[:WARMUP]:
            client.post(path, json={field: question})
        client_ms: list[float] = []
        stages: dict[str, list[float]] = {}
        errors: dict[str, int] = {}
        for question in questions:
            started = time.perf_counter()
            response = client.post(path, json={field: question})
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                errors[str(response.status_code)] = errors.get(str(response.status_code), 0) + 1
                continue
            client_ms.append(elapsed)
            for stage, value in response.json().get("timings_ms", {}).items():
                stages.setdefault(stage, []).append(float(value))
        results[path] = {
            "client_ms": summarize_ms(client_ms),
            "server_ms": {stage: summarize_ms(values) for stage, values in stages.items()},
            "errors": errors,
        }
        logger.info(
            "  %s: p50 %.1f ms, p95 %.1f ms, p99 %.1f ms over %d questions",
            path,
            results[path]["client_ms"]["p50"],
            results[path]["client_ms"]["p95"],
            results[path]["client_ms"]["p99"],
            len(client_ms),
        )
    return results


def measure_in_process(
    settings: Settings, embedder: Embedder, questions: Sequence[str], *, endpoints: Sequence[str]
) -> dict[str, Any]:
    """The app built by ``create_app`` and driven through ASGI in this process: no socket, no server."""
    logger.info("latency in process (ASGI)")
    app = create_app(without_limits(settings), embedder=embedder)
    with TestClient(app, raise_server_exceptions=False) as client:
        return measure_latency(client, questions, endpoints=endpoints)


def measure_http(url: str, questions: Sequence[str], *, endpoints: Sequence[str]) -> dict[str, Any]:
    """A real server over loopback HTTP, one keep-alive connection."""
    logger.info("latency over HTTP (%s)", url)
    with httpx.Client(base_url=url, timeout=120.0) as client:
        return measure_latency(client, questions, endpoints=endpoints)
