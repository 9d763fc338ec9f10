"""API cold start: from spawning ``healthqa serve`` to the first 200 from /readyz."""

from __future__ import annotations

import logging
import statistics
from pathlib import Path
from typing import Any

from eval.bench.server import rss_bytes, running_server

logger = logging.getLogger(__name__)


def measure_cold_start(index_dir: Path, *, runs: int, work_dir: Path) -> dict[str, Any]:
    """Start and stop the server ``runs`` times; the median is the figure to quote.

    The process is new each time (Python, the model and the index are loaded anew),
    but the operating system's file cache stays warm after the first run.
    """
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    seconds, rss = [], []
    for run in range(runs):
        with running_server(index_dir, log=work_dir / f"coldstart-{run}.log") as server:
            seconds.append(server.ready_seconds)
            rss.append(rss_bytes(server.pid) / 2**20)
        logger.info("cold start %d/%d: ready in %.2f s", run + 1, runs, seconds[-1])
    return {
        "runs": [round(s, 3) for s in seconds],
        "median_seconds": round(statistics.median(seconds), 3),
        "min_seconds": round(min(seconds), 3),
        "max_seconds": round(max(seconds), 3),
        "rss_mb_when_ready": round(statistics.median(rss), 1),
    }
