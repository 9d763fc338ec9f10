"""Latency summaries: percentiles of timings in milliseconds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def summarize_ms(samples: Sequence[float]) -> dict[str, float]:
    """Count, mean, p50, p95, p99 and max of timings in milliseconds (NaN-free; empty gives zeros).

    Percentiles use numpy's default linear interpolation, so with fewer than 100
    samples p99 lies between the two slowest.
    """
    if not samples:
        return {"n": 0, "mean": 0.0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    values = np.asarray(samples, dtype=np.float64)
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "n": int(values.size),
        "mean": round(float(values.mean()), 3),
        "p50": round(float(p50), 3),
        "p95": round(float(p95), 3),
        "p99": round(float(p99), 3),
        "max": round(float(values.max()), 3),
    }
