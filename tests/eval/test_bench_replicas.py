"""``healthqa bench -p replicas``: 1 vs 3 replicas through Debian's nginx, and the time to follow a publish."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.bench.machine import describe_machine
from eval.bench.replicas import run_replicas
from eval.bench.report import error_lines, summary_lines, write_bench_report
from settings import Settings
from tests.service.test_replicas import require_nginx

pytestmark = pytest.mark.slow


def test_replicas_part_measures_one_and_three_through_nginx_and_each_replica_following(
    embedder, onnx_cache: Path, tmp_path: Path
) -> None:
    require_nginx()
    settings = Settings(model_cache_dir=onnx_cache, index_watch_s=0.5)
    questions = ["is bed rest good for back pain", "herniated disc", "sciatica pain down one leg"]
    results = run_replicas(
        settings,
        embedder,
        questions,
        endpoints=("search",),
        replicas=3,
        levels=(2,),
        requests=12,
        duration=60,
        publishes=1,
        work_dir=tmp_path,
    )
    assert [(row["replicas"], row["endpoint"], row["concurrency"]) for row in results["throughput"]] == [
        (1, "/v1/search", 2),
        (3, "/v1/search", 2),
    ]
    assert all(
        row["error_count"] == 0 and row["ok"] == 12 and row["requests_per_second"] > 0 for row in results["throughput"]
    )
    (follow,) = results["follow"]
    assert follow["version"] == "v000002" and len(follow["seconds"]) == 3
    assert 0 < follow["max_seconds"] <= settings.index_watch_s + 2
    record = {"run_at": "now", "machine": describe_machine(settings), "replicas": results}
    report = write_bench_report(record, tmp_path / "report").read_text(encoding="utf-8")
    assert "## Replicas behind nginx (1 vs 3, shipped corpus)" in report and "| v000002 |" in report
    assert any(line.startswith("replicas 3 /v1/search x2:") for line in summary_lines(record))
    assert any(line.startswith("replicas followed v000002 within") for line in summary_lines(record))
    assert error_lines(record) == []
