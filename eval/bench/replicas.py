"""Replicas behind nginx: throughput of one vs several, and how fast they follow a publish.

Starts ``replicas`` ``healthqa serve`` processes on one index folder (with the
configured ``HEALTHQA_INDEX_WATCH_S``), puts Debian's nginx in front (the shipped
``deploy/nginx/healthqa.conf``), and runs the load generator through nginx, first
with one replica behind it, then with all. Then it publishes new versions (one
article edited, an incremental ingest) and reads from each replica's ``/metrics``
how long it took from the publish (``CURRENT``'s mtime) to serving it.

On a 2-core machine the replicas, nginx and the load generator share the same two
cores, so more replicas add failover, not throughput: the figures show what this
machine can do, not what a cluster of bigger ones would.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from eval.bench.balancer import running_nginx
from eval.bench.ingestion import CORPUS_DIR
from eval.bench.load import ENDPOINTS, LOADGEN, write_payloads
from eval.bench.server import ROOT, running_server
from eval.bench.stats import summarize_ms
from index import Embedder, current_version
from ingest import ingest
from settings import BuildSettings, ChunkerSettings, Settings

logger = logging.getLogger(__name__)
FOLLOW_TIMEOUT_S = 120.0


def run_replicas(
    settings: Settings,
    embedder: Embedder,
    questions: Sequence[str],
    *,
    endpoints: Sequence[str],
    replicas: int,
    levels: Sequence[int],
    requests: int,
    duration: float,
    publishes: int,
    work_dir: Path,
) -> dict[str, Any]:
    """Throughput through nginx with 1 and ``replicas`` replicas, then the time to follow ``publishes`` publishes."""
    if replicas < 2:
        raise ValueError(f"the replicas part compares 1 with several replicas: --replicas must be >= 2, got {replicas}")
    base = work_dir / "replicas"
    corpus, index_dir = base / "corpus", base / "index"
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.copytree(CORPUS_DIR, corpus)
    chunker = settings.chunker_settings()
    build = settings.build_settings()
    ingest([corpus], index_dir=index_dir, embedder=embedder, chunker=chunker, build=build, progress=False)
    watch_s = settings.index_watch_s
    # The replicas use the model export this process uses, and follow publishes at the configured interval.
    env = {"HEALTHQA_INDEX_WATCH_S": str(watch_s), "HEALTHQA_MODEL_CACHE_DIR": str(settings.model_cache_dir)}
    results: dict[str, Any] = {"replicas": replicas, "watch_s": watch_s, "throughput": [], "follow": []}
    with ExitStack() as stack:
        servers = [
            stack.enter_context(running_server(index_dir, log=base / f"replica-{n}.log", env=env))
            for n in range(replicas)
        ]
        for count in (1, replicas):
            upstreams = [server.url.removeprefix("http://") for server in servers[:count]]
            with running_nginx(upstreams, work_dir=base / f"nginx-{count}") as nginx:
                for endpoint in endpoints:
                    payloads = write_payloads(questions, endpoint, base / f"payloads-{endpoint}.json")
                    for level in levels:
                        row = _load_through(nginx.url, ENDPOINTS[endpoint][0], payloads, level, requests, duration)
                        results["throughput"].append({"replicas": count, **row})
        if watch_s > 0:
            for number in range(1, publishes + 1):
                results["follow"].append(
                    _publish_and_follow(corpus, index_dir, embedder, chunker, build, servers, number)
                )
    return results


def _load_through(
    base_url: str, path: str, payloads: Path, level: int, requests: int, duration: float
) -> dict[str, Any]:
    url = base_url + path
    logger.info("replicas: %s at %d concurrent clients (≤ %d requests, ≤ %.0f s)", url, level, requests, duration)
    command = [sys.executable, "-P", str(LOADGEN), url, str(payloads), "--concurrency", str(level)]
    command += ["--requests", str(requests), "--duration", str(duration), "--warmup", str(min(level, 8))]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"the load generator failed ({completed.returncode}):\n{completed.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    figures.pop("server_samples_ms")
    figures["latency_ms"] = summarize_ms(figures.pop("latency_samples_ms"))
    figures["endpoint"] = path
    logger.info(
        "  %.1f req/s, p95 %.1f ms, %d errors",
        figures["requests_per_second"],
        figures["latency_ms"]["p95"],
        figures["error_count"],
    )
    return figures


def _publish_and_follow(
    corpus: Path,
    index_dir: Path,
    embedder: Embedder,
    chunker: ChunkerSettings,
    build: BuildSettings,
    servers: Sequence[Any],
    number: int,
) -> dict[str, Any]:
    """Edit one article, publish, and read each replica's own time from the publish to serving it."""
    article = sorted(corpus.glob("*.md"))[0]
    article.write_text(
        article.read_text(encoding="utf-8") + f"\nThis copy was republished for the replicas benchmark ({number}).\n",
        encoding="utf-8",
    )
    ingest([corpus], index_dir=index_dir, embedder=embedder, chunker=chunker, build=build, progress=False)
    version = current_version(index_dir)
    seconds = []
    with httpx.Client(timeout=5) as client:
        for server in servers:
            deadline = time.monotonic() + FOLLOW_TIMEOUT_S
            while client.get(f"{server.url}/readyz").json().get("index_version") != version:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{server.url} did not follow {version} within {FOLLOW_TIMEOUT_S:.0f} s")
                time.sleep(0.05)
            seconds.append(_metric(client.get(f"{server.url}/metrics").text, "healthqa_index_watch_follow_seconds"))
    logger.info("replicas: %s followed in %s s", version, seconds)
    return {"version": version, "seconds": seconds, "max_seconds": max(seconds)}


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise RuntimeError(f"{name} is missing from /metrics")
