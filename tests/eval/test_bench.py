"""The benchmark's code paths at tiny sizes: structure and sanity, never timings (machines are noisy)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app
from eval.bench import ScaleOptions, write_bench_report
from eval.bench.latency import measure_http, measure_in_process
from eval.bench.load import run_load
from eval.bench.report import error_lines, summary_lines
from eval.bench.scale import index_bytes, recall_at_k, run_scale
from eval.bench.server import ServerError, running_server
from eval.bench.stats import summarize_ms
from eval.bench.vectors import RealVectors, VectorMixture, index_vectors
from index import HNSWParams, SearchIndex, build_dense
from settings import Settings
from tests.conftest import MEDQUAD, ROOT, require_shared

QUESTIONS = [
    "is it normal for my knees to ache after the gym?",
    "sciatica self care at home",
    "what is the capital of france",
    "numb around my bum and cant pee, back agony",
    "how long does muscle soreness last",
]


def clustered(rng: np.random.Generator, n: int, dim: int = 32, centres: int = 40) -> np.ndarray:
    """Unit vectors in clusters, a stand-in for real embeddings in unit tests."""
    middle = rng.standard_normal((centres, dim)).astype(np.float32)
    points = middle[rng.integers(0, centres, n)] + 0.3 * rng.standard_normal((n, dim)).astype(np.float32)
    normalised: np.ndarray = points / np.linalg.norm(points, axis=1, keepdims=True)
    return normalised


@pytest.fixture(scope="module")
def tiny_real() -> RealVectors:
    rng = np.random.default_rng(0)
    return RealVectors(chunks=clustered(rng, 300), questions=clustered(rng, 30))


@pytest.fixture(scope="module")
def tiny_scale(tiny_real: RealVectors) -> dict:
    options = ScaleOptions(
        sizes=(1_000, 2_000),
        queries=20,
        methods=("flat", "hnsw", "ivf"),
        hnsw=HNSWParams(m=16, ef_construction=40),
        ef_search=(1, 256),
        nprobe=(1, 16),
    )
    return run_scale(tiny_real, options)


def test_summary_percentiles_follow_numpy() -> None:
    summary = summarize_ms([float(v) for v in range(1, 101)])
    assert summary["n"] == 100 and summary["max"] == 100.0
    assert summary["p50"] == pytest.approx(50.5) and summary["p95"] == pytest.approx(95.05)
    assert summarize_ms([])["n"] == 0


def test_mixture_draws_unit_vectors_near_real_ones_and_repeats_with_its_seed(tiny_real: RealVectors) -> None:
    mixture = VectorMixture(tiny_real.chunks, noise=0.6)
    first, again, other = mixture.sample(500, seed=3), mixture.sample(500, seed=3), mixture.sample(500, seed=4)
    assert first.shape == (500, 32) and first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    # Each draw lies closer to some real vector than unrelated unit vectors do.
    nearest = (first @ tiny_real.chunks.T).max(axis=1)
    assert nearest.mean() > 0.8
    exact_copies = VectorMixture(tiny_real.chunks, noise=0.0).sample(50, seed=1)
    assert np.isclose((exact_copies @ tiny_real.chunks.T).max(axis=1), 1.0, atol=1e-5).all()


def test_mixture_refuses_too_few_centres_and_negative_noise() -> None:
    with pytest.raises(ValueError, match="at least two"):
        VectorMixture(np.ones((1, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="noise must be >= 0"):
        VectorMixture(np.eye(4, dtype=np.float32), noise=-1)


def test_recall_counts_the_exact_neighbours_found_and_ignores_padding() -> None:
    exact = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    found = np.array([[4, 3, 9, -1], [5, 6, 7, 8]])
    np.testing.assert_allclose(recall_at_k(found, exact), [0.5, 1.0])


def test_index_bytes_counts_vectors_and_graph_links() -> None:
    vectors = clustered(np.random.default_rng(1), 500)
    flat, _ = build_dense(vectors, dense_type="flat")
    graph, _ = build_dense(vectors, dense_type="hnsw", hnsw=HNSWParams(m=8))
    assert index_bytes(flat) == 500 * 32 * 4
    assert index_bytes(graph) > index_bytes(flat)


def test_scale_measures_each_size_and_index_with_sane_recall(tiny_scale: dict) -> None:
    assert [s["n"] for s in tiny_scale["sizes"]] == [1_000, 2_000]
    assert tiny_scale["options"]["queries"] == {"question": 20, "held_out": 20}
    for size in tiny_scale["sizes"]:
        assert size["flat"]["recall"] == 1.0 and size["flat"]["latency_ms"]["n"] == 40
        assert size["flat"]["index_mb"] == pytest.approx(size["n"] * 32 * 4 / 2**20, abs=0.1)
        for method, name in (("hnsw", "ef_search"), ("ivf", "nprobe")):
            sweep = size[method]["sweep"]
            assert [row[name] for row in sweep] == ([1, 256] if method == "hnsw" else [1, 16])
            for row in sweep:
                # 20 queries of each kind: the overall recall is the mean of the two kinds'.
                assert set(row["recall_by_kind"]) == {"question", "held_out"}
                assert row["recall"] == pytest.approx(sum(row["recall_by_kind"].values()) / 2, abs=1e-3)
                assert row["latency_ms"]["n"] == 40 and row["latency_ms"]["p50"] > 0
            # A wide search of a tiny corpus is exact or nearly so; the narrowest one really misses
            # neighbours (measured 0.47-0.79), so the sweep measures something.
            assert sweep[-1]["recall"] >= 0.95 and sweep[0]["recall"] < 0.9
            chosen = size[method]["chosen"]
            assert chosen is not None and chosen[name] in (1, 16, 256)
            # The chosen setting keeps the target at the product's depth too (measured 0.988-0.9995).
            assert chosen["at_candidates"]["k"] == 50 and chosen["at_candidates"]["recall"] >= 0.95
        # The draws cluster as real embeddings do: nearest-neighbour cosine 0.87-0.88 measured, where
        # uniformly random unit vectors in 32 dimensions give about 0.56.
        assert 0.75 <= size["shape"]["corpus_nn_cosine"] <= 1.0
        assert size["shape"]["query_top1_cosine"] >= size["shape"]["query_topk_cosine"]


def test_scale_options_refuse_unknown_methods_and_tiny_sizes() -> None:
    with pytest.raises(ValueError, match="unknown index method"):
        ScaleOptions(methods=("flat", "annoy"))
    with pytest.raises(ValueError, match="sizes must be at least"):
        ScaleOptions(sizes=(5,))


def test_report_writes_json_markdown_and_plots(tiny_scale: dict, tmp_path: Path) -> None:
    results = {
        "run_at": "2026-11-25T00:00:00+00:00",
        "machine": {
            "cpu": "test cpu",
            "logical_cores": 2,
            "ram_gib": 1.0,
            "python": "3.11",
            "platform": "linux",
            "packages": {"faiss-cpu": "1"},
            "load_average_at_start": [0.0, 0.0, 0.0],
            "embed_backend": "torch",
            "model": "m",
            "dense_type": "flat",
        },
        "scale": tiny_scale,
    }
    report = write_bench_report(results, tmp_path)
    text = report.read_text(encoding="utf-8")
    assert json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))["scale"]["sizes"][0]["n"] == 1_000
    assert (tmp_path / "scale.png").stat().st_size > 0
    assert "| 2,000 | flat (exact) |" in text and "Embedding backend** `torch`" in text
    assert any(line.startswith("scale 1,000: flat p50") for line in summary_lines(results))
    assert error_lines(results) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--part", "speed"], "unknown part(s) ['speed']"),
        (["--sizes", "10k,lots"], "--sizes takes whole numbers"),
        (["-p", "scale", "--methods", "flat,annoy"], "unknown index method(s) ['annoy']"),
        (["-p", "load", "--concurrency", "0"], "--concurrency values must be >= 1"),
    ],
)
def test_bench_rejects_bad_options_with_a_message(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["bench", *args])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())


def test_bench_rejects_an_unknown_corpus_as_wrong_usage() -> None:
    result = CliRunner().invoke(app, ["bench", "--corpus", "pubmed"])
    assert result.exit_code == 2  # a choice Typer checks: wrong usage, like every unknown option value
    assert "'pubmed' is not one of" in result.output and "'medquad'" in result.output


@pytest.mark.slow
@pytest.mark.parametrize(
    ("env", "message"),
    [({"HEALTHQA_PORT": "not-a-port"}, "exited with code"), ({}, "started without an index: .*no index in")],
)
def test_a_server_that_cannot_serve_is_a_clear_error(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with (
        pytest.raises(ServerError, match=message),
        running_server(tmp_path / "no-index", log=tmp_path / "server.log", env=env, timeout=120),
    ):
        pass


@pytest.mark.slow
def test_index_vectors_are_every_chunk_vector_of_the_index_and_real_questions(corpus_index: Path, embedder) -> None:
    real = index_vectors(embedder, corpus_index, medquad_file=require_shared(MEDQUAD), questions=12)
    chunks = SearchIndex.load(corpus_index, embedder=embedder).manifest.counts["chunks"]
    assert real.chunks.shape == (chunks, embedder.dim) and real.questions.shape == (12, embedder.dim)
    np.testing.assert_allclose(np.linalg.norm(real.questions, axis=1), 1.0, rtol=1e-4)
    # Questions are not chunks: none is already in the corpus.
    assert (real.questions @ real.chunks.T).max() < 0.99


@pytest.mark.slow
def test_latency_and_load_against_a_real_server(corpus_index: Path, embedder, tmp_path: Path) -> None:
    in_process = measure_in_process(Settings(index_dir=corpus_index), embedder, QUESTIONS, endpoints=("ask", "search"))
    with running_server(corpus_index, log=tmp_path / "server.log") as server:
        assert server.ready_seconds > 0
        http = measure_http(server.url, QUESTIONS, endpoints=("ask", "search"))
        load = run_load(
            server, QUESTIONS, endpoints=("ask", "search"), levels=(1, 2), requests=5, duration=60, work_dir=tmp_path
        )
    for latency in (in_process, http):
        assert set(latency) == {"/v1/ask", "/v1/search"}
        assert all(body["errors"] == {} and body["client_ms"]["n"] == len(QUESTIONS) for body in latency.values())
        ask = latency["/v1/ask"]["server_ms"]
        assert {"embed", "search", "total"} <= set(ask) and ask["total"]["n"] == len(QUESTIONS)
        assert latency["/v1/search"]["server_ms"] == {}
    assert [(row["endpoint"], row["concurrency"]) for row in load] == [
        ("/v1/ask", 1),
        ("/v1/ask", 2),
        ("/v1/search", 1),
        ("/v1/search", 2),
    ]
    for row in load:
        assert row["error_count"] == 0 and row["ok"] == row["sent"] == 5
        assert row["requests_per_second"] > 0 and row["latency_ms"]["n"] == 5
        assert row["server_rss_mb_peak"] >= row["server_rss_mb_before"] > 50
    assert load[0]["server_ms"]["n"] == 5 and load[2]["server_ms"]["n"] == 0


@pytest.mark.slow
def test_bench_command_runs_every_part_and_writes_the_report(corpus_index: Path, tmp_path: Path) -> None:
    require_shared(MEDQUAD)
    out, work = tmp_path / "out", tmp_path / "work"
    command = [sys.executable, "-m", "cli", "bench", "--index", str(corpus_index), "--out", str(out)]
    command += ["--work-dir", str(work), "--questions", "3", "--requests", "4", "--concurrency", "1,2"]
    command += ["--coldstart-runs", "1", "--ingest-records", "5", "--sizes", "1k", "--scale-queries", "10"]
    command += ["--real-records", "40", "--ef-search", "32,128", "--nprobe", "4,16"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((out / "latest" / "results.json").read_text(encoding="utf-8"))
    assert {"latency", "load", "ingest", "coldstart", "scale", "machine"} <= set(results)
    assert results["machine"]["embed_backend"] and results["machine"]["logical_cores"] >= 1
    assert all(row["error_count"] == 0 for row in results["load"])
    ingest = results["ingest"]
    assert ingest["corpus_fresh"]["chunks_embedded"] == ingest["corpus_fresh"]["chunks"] > 0
    assert ingest["corpus_unchanged"]["published"] is False and ingest["corpus_unchanged"]["chunks_embedded"] == 0
    changed = ingest["corpus_one_changed"]
    assert changed["published"] and 0 < changed["chunks_embedded"] < ingest["corpus_fresh"]["chunks"]
    assert ingest["medquad_subset_fresh"]["documents"] == 5
    for fresh in (ingest["corpus_fresh"], ingest["medquad_subset_fresh"]):  # the model's own speed, same run
        assert fresh["fraction_of_ceiling"] > 0 and fresh["embedder_alone_texts"] <= fresh["chunks_embedded"]
        assert {"loading", "chunking", "embedding", "sqlite", "bm25", "hashing and publishing"} <= set(
            fresh["stages_seconds"]
        )
    assert len(results["coldstart"]["runs"]) == 1 and results["coldstart"]["median_seconds"] > 0
    assert results["scale"]["sizes"][0]["n"] == 1_000
    report = (out / "latest" / "report.md").read_text(encoding="utf-8")
    for heading in ("## Query latency", "## Throughput", "## Ingestion", "## API cold start", "## Dense search"):
        assert heading in report
    assert "of the ceiling" in report
    assert {p.name for p in (out / "latest").glob("*.png")} == {"latency.png", "load.png", "scale.png"}
    assert "Report:" in result.stdout
