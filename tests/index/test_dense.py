from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from index.dense import (
    AUTO_HNSW_FROM,
    HNSWParams,
    all_vectors,
    build_dense,
    load_dense,
    resolve_dense_type,
    save_dense,
    search_dense,
    set_search_threads,
)
from settings import DenseType


def normalised(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    normalised_vectors: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return normalised_vectors


@pytest.mark.parametrize("dense_type", ["flat", "hnsw"])
def test_faiss_top_k_matches_numpy_brute_force(dense_type: DenseType) -> None:
    rng = np.random.default_rng(0)
    corpus, queries = normalised(rng, 2000, 32), normalised(rng, 20, 32)
    index, settings = build_dense(corpus, dense_type=dense_type)
    assert settings["type"] == dense_type
    recall = []
    for query in queries:
        exact = np.argsort(-(corpus @ query), kind="stable")[:10]
        rows, scores = search_dense(index, query[None, :], k=10)
        np.testing.assert_allclose(
            scores,
            np.sort(corpus @ query)[::-1][: len(scores)] if dense_type == "flat" else corpus[rows] @ query,
            rtol=1e-5,
            atol=1e-5,
        )
        recall.append(len(set(rows.tolist()) & set(exact.tolist())) / 10)
        if dense_type == "flat":
            # Ties can reorder equal scores; compare the score multiset, then the ids where scores differ.
            assert set(rows.tolist()) == set(exact.tolist()) or np.allclose(
                np.sort(corpus[rows] @ query), np.sort(corpus[exact] @ query)
            )
    assert np.mean(recall) >= (1.0 if dense_type == "flat" else 0.95)


def test_vectors_round_trip_and_empty_index() -> None:
    rng = np.random.default_rng(1)
    corpus = normalised(rng, 50, 8)
    index, _ = build_dense(corpus, dense_type="flat")
    np.testing.assert_array_equal(all_vectors(index), corpus)
    empty, _ = build_dense(np.zeros((0, 8), dtype=np.float32), dense_type="flat")
    rows, scores = search_dense(empty, corpus[:1], k=5)
    assert rows.size == 0 and scores.size == 0


def test_auto_picks_flat_for_small_corpora() -> None:
    _, settings = build_dense(np.eye(4, dtype=np.float32), dense_type="auto")
    assert settings["type"] == "flat"


def test_auto_switches_to_hnsw_exactly_at_the_threshold() -> None:
    assert resolve_dense_type("auto", AUTO_HNSW_FROM - 1) == "flat"
    assert resolve_dense_type("auto", AUTO_HNSW_FROM) == "hnsw"
    assert resolve_dense_type("flat", 10 * AUTO_HNSW_FROM) == "flat"


def test_load_dense_sets_the_search_time_parameter(tmp_path: Path) -> None:
    """The file keeps the efSearch it was built with; loading must apply the current one."""
    corpus = normalised(np.random.default_rng(2), 300, 16)
    index, _ = build_dense(corpus, dense_type="hnsw", hnsw=HNSWParams(ef_search=7))
    save_dense(index, tmp_path / "dense.faiss")
    default: Any = load_dense(tmp_path / "dense.faiss")  # FAISS's stubs don't know the HNSW members
    wider: Any = load_dense(tmp_path / "dense.faiss", ef_search=300)
    assert default.hnsw.efSearch == HNSWParams().ef_search
    assert wider.hnsw.efSearch == 300


def test_a_batched_build_with_progress_keeps_rows_and_recall() -> None:
    """Past one batch (20k vectors) the build adds in pieces; rows must keep their order."""
    rng = np.random.default_rng(3)
    corpus, queries = normalised(rng, 25_000, 16), normalised(rng, 20, 16)
    flat, _ = build_dense(corpus, dense_type="flat", progress=True)
    np.testing.assert_array_equal(all_vectors(flat), corpus)
    graph, settings = build_dense(corpus, dense_type="hnsw", hnsw=HNSWParams(m=16, ef_search=128), progress=True)
    assert settings == {"type": "hnsw", "metric": "inner_product", "M": 16, "ef_construction": 80}
    np.testing.assert_array_equal(all_vectors(graph), corpus)
    recall = [
        len(set(search_dense(graph, q[None, :], k=10)[0].tolist()) & set(np.argsort(-(corpus @ q))[:10].tolist())) / 10
        for q in queries
    ]
    assert np.mean(recall) >= 0.9


def test_hnsw_params_refuse_non_positive_values() -> None:
    with pytest.raises(ValueError, match="HNSW parameters must be >= 1"):
        HNSWParams(m=0)


def test_search_threads_are_set_and_zero_is_refused() -> None:
    import faiss

    before = faiss.omp_get_max_threads()
    try:
        set_search_threads(1)
        assert faiss.omp_get_max_threads() == 1
    finally:
        faiss.omp_set_num_threads(before)
    with pytest.raises(ValueError, match="threads must be >= 1"):
        set_search_threads(0)
