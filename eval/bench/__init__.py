"""Benchmarks of healthqa's speed and scale (``healthqa bench``).

Parts: query latency in process and over HTTP (``latency``), throughput under
concurrency from a separate process (``load``), ingestion throughput and
incremental re-ingests (``ingest``), API cold start (``coldstart``), and dense
search at 10k-1M chunks, exact vs approximate (``scale``).
"""

from eval.bench.report import write_bench_report
from eval.bench.run import PARTS, BenchOptions, run_bench
from eval.bench.scale import ScaleOptions

__all__ = ["PARTS", "BenchOptions", "ScaleOptions", "run_bench", "write_bench_report"]
