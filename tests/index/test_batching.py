"""Concurrent single queries are embedded in batches, each caller gets its own vector, errors reach everyone."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from index import BatchingEmbedder
from index.embedding import Vectors
from tests.conftest import FakeEmbedder


class SlowEmbedder(FakeEmbedder):
    """A fake whose model call takes a while, recording the size of every query batch."""

    def __init__(self, *, delay: float = 0.02, fail_on: str | None = None) -> None:
        super().__init__()
        self.delay = delay
        self.fail_on = fail_on
        self.batch_sizes: list[int] = []
        self.in_model = 0
        self.most_in_model = 0
        self._count = threading.Lock()

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        with self._count:
            self.in_model += 1
            self.most_in_model = max(self.most_in_model, self.in_model)
        try:
            self.batch_sizes.append(len(texts))
            time.sleep(self.delay)
            if self.fail_on is not None and self.fail_on in texts:
                raise RuntimeError("model failed")
            return super().embed_queries(texts)
        finally:
            with self._count:
                self.in_model -= 1


def _ask_all(embedder: BatchingEmbedder, texts: list[str], workers: int) -> list[Vectors]:
    barrier = threading.Barrier(workers)

    def one(text: str) -> Vectors:
        barrier.wait()
        return embedder.embed_queries([text])

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, texts))


def test_concurrent_queries_share_batches_and_each_gets_its_own_vector() -> None:
    inner = SlowEmbedder()
    batching = BatchingEmbedder(inner, max_batch=8)
    texts = [f"question number {i} about back pain" for i in range(32)]
    vectors = _ask_all(batching, texts, workers=32)
    for text, vector in zip(texts, vectors, strict=True):
        assert vector.shape == (1, inner.dim)
        assert np.allclose(vector, inner.embed_queries([text]))
    assert max(inner.batch_sizes) > 1  # they really were batched
    assert max(inner.batch_sizes) <= 8  # and never beyond the cap
    assert inner.most_in_model == 1  # one model call at a time
    assert batching.batches < 32


def test_a_lone_query_runs_at_once_without_waiting_for_company() -> None:
    inner = SlowEmbedder(delay=0.0)
    batching = BatchingEmbedder(inner)
    assert np.allclose(batching.embed_queries(["knee pain"]), inner.embed_queries(["knee pain"]))
    assert inner.batch_sizes[0] == 1 and batching.batches == 1


def test_a_model_error_reaches_every_caller_of_the_batch_and_the_batcher_recovers() -> None:
    inner = SlowEmbedder(delay=0.3, fail_on="poison")
    batching = BatchingEmbedder(inner, max_batch=64)
    texts = ["poison"] + [f"fine {i}" for i in range(7)]

    def one(text: str) -> Vectors | RuntimeError:
        try:
            return batching.embed_queries([text])
        except RuntimeError as exc:
            return exc

    with ThreadPoolExecutor(len(texts) + 1) as pool:
        # A first query holds the model, so the eight that follow all wait and then share one batch.
        holder = pool.submit(one, "hold the model")
        deadline = time.monotonic() + 5
        while not inner.batch_sizes and time.monotonic() < deadline:
            time.sleep(0.005)
        futures = [pool.submit(one, text) for text in texts]
        # A hang would block forever: every caller must return within a few seconds.
        outcomes = [future.result(timeout=10) for future in futures]
        assert isinstance(holder.result(timeout=10), np.ndarray)
    assert inner.batch_sizes == [1, len(texts)]  # the eight really were one batch
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes), outcomes
    # Afterwards the batcher works again.
    assert batching.embed_queries(["fine again"]).shape == (1, inner.dim)


def test_many_texts_and_documents_bypass_the_batcher() -> None:
    inner = SlowEmbedder(delay=0.0)
    batching = BatchingEmbedder(inner)
    assert batching.embed_queries(["a", "b"]).shape == (2, inner.dim)
    assert batching.embed_documents(["a", "b", "c"]).shape == (3, inner.dim)
    assert batching.batches == 0
    assert batching.fingerprint == inner.fingerprint and batching.dim == inner.dim


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_batch must be >= 1, got 0"):
        BatchingEmbedder(FakeEmbedder(), max_batch=0)
