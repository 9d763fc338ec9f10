from __future__ import annotations

import numpy as np
import pytest

from index.dense import DenseType, all_vectors, build_dense, search_dense


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
