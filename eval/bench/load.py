"""Throughput under concurrency: one server process, a load generator in another, on loopback."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from eval.bench.server import ROOT, Server, rss_bytes
from eval.bench.stats import summarize_ms

logger = logging.getLogger(__name__)
LOADGEN = Path(__file__).with_name("loadgen.py")
ENDPOINTS = {"ask": ("/v1/ask", "question"), "search": ("/v1/search", "query")}


class _MemorySampler:
    """Samples a process's resident memory in a thread; keeps the peak."""

    def __init__(self, pid: int, *, every: float = 0.1) -> None:
        self.pid, self.every = pid, every
        self.peak = rss_bytes(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.peak = max(self.peak, rss_bytes(self.pid))
            except psutil.NoSuchProcess:
                return

    def __enter__(self) -> _MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def write_payloads(questions: Sequence[str], endpoint: str, path: Path) -> Path:
    """The request bodies for an endpoint (``ask`` or ``search``), one per question, as a JSON list."""
    _, field = ENDPOINTS[endpoint]
    path.write_text(json.dumps([{field: q} for q in questions]), encoding="utf-8")
    return path


def run_load(
    server: Server,
    questions: Sequence[str],
    *,
    endpoints: Sequence[str],
    levels: Sequence[int],
    requests: int,
    duration: float,
    work_dir: Path,
) -> list[dict[str, Any]]:
    """For each endpoint and concurrency level, run the load generator as a separate process.

    Returns:
        One record per (endpoint, level): the generator's figures plus the server's
        resident memory before and at peak, and the server's CPU seconds per request.
    """
    results = []
    process = psutil.Process(server.pid)
    for endpoint in endpoints:
        path, _ = ENDPOINTS[endpoint]
        payloads = write_payloads(questions, endpoint, work_dir / f"payloads-{endpoint}.json")
        for level in levels:
            logger.info("load: %s at %d concurrent clients (≤ %d requests, ≤ %.0f s)", path, level, requests, duration)
            before_rss = rss_bytes(server.pid)
            cpu_before = sum(process.cpu_times()[:2])
            # -P: the script's folder stays off sys.path, so its neighbours can't shadow a library.
            command = [sys.executable, "-P", str(LOADGEN), server.url + path, str(payloads)]
            command += ["--concurrency", str(level), "--requests", str(requests), "--duration", str(duration)]
            warmup = min(level, 8)
            command += ["--warmup", str(warmup)]
            started = time.perf_counter()
            with _MemorySampler(server.pid) as memory:
                completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
            if completed.returncode != 0:
                raise RuntimeError(f"the load generator failed ({completed.returncode}):\n{completed.stderr[-2000:]}")
            figures: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
            cpu = sum(process.cpu_times()[:2]) - cpu_before
            figures.update(
                latency_ms=summarize_ms(figures.pop("latency_samples_ms")),
                server_ms=summarize_ms(figures.pop("server_samples_ms")),
                endpoint=path,
                wall_seconds=round(time.perf_counter() - started, 3),
                server_rss_mb_before=round(before_rss / 2**20, 1),
                server_rss_mb_peak=round(memory.peak / 2**20, 1),
                # Warm-up requests are served too, so they count here.
                server_cpu_ms_per_request=round(cpu * 1000 / max(figures["ok"] + warmup, 1), 2),
            )
            logger.info(
                "  %.1f req/s, p50 %.1f ms, p95 %.1f ms, %d errors, server RSS %.0f MB",
                figures["requests_per_second"],
                figures["latency_ms"]["p50"],
                figures["latency_ms"]["p95"],
                figures["error_count"],
                figures["server_rss_mb_peak"],
            )
            results.append(figures)
    return results
