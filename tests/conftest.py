"""Shared fixtures: a deterministic fake embedder for unit tests, the real model and real indexes for the rest."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from index import Embedder, SentenceTransformerEmbedder, load_embedder
from index.embedding import Vectors
from ingest import ingest
from settings import DEFAULT_MODEL, ChunkerSettings
from tests.switches import skip_unless_required

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus" / "articles"
SHARED = ROOT.parent / "shared"
MEDQUAD = SHARED / "datasets" / "medquad" / "medquad.jsonl.gz"
SEED = SHARED / "seeds" / "joint-pain-after-working-out.txt"
MEDQUAD_SLICE = 80  # records: real answers of every length, enough for the 30 questions the slice test asks


class FakeEmbedder:
    """Bag-of-words hashing embedder: deterministic, instant, and similar texts get similar vectors.

    Counts every call so tests can assert what was (not) re-embedded.
    """

    def __init__(self, *, dim: int = 64, fingerprint: str = "fake-1", max_tokens: int = 64) -> None:
        self.name = "fake"
        self.dim = dim
        self.fingerprint = fingerprint
        self.max_tokens = max_tokens
        self.embedded: list[str] = []

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(re.findall(r"\w+|[^\w\s]", t)) + 2 for t in texts]

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return np.stack([self._vector(t) for t in texts]).astype(np.float32)

    def embed_documents(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False, desc: str = ""
    ) -> Vectors:
        self.embedded.extend(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts]).astype(np.float32)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first (in their modules' order): spread over workers, the long ones then never run alone at the
    end while the other workers wait."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's model cache (ONNX export, red-flag banks): every test, server and CLI run shares it, so each
    is made once per session and no test writes into the checkout's var/models."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, model_cache: Path) -> None:
    """No HEALTHQA_* setting or .env of the developer leaks into a test; the model cache is the session's."""
    for name in list(os.environ):
        if name.startswith("HEALTHQA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HEALTHQA_MODEL_CACHE_DIR", str(model_cache))
    from settings import get_settings

    get_settings.cache_clear()


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


def remember_query_vectors(embedder: Embedder) -> Embedder:
    """``embedder`` with its query vectors kept per text: the same object (its class and every other method as
    they were), so the many tests that embed the same questions and bank texts again pay once. The model is
    deterministic (``test_remembered_query_vectors_are_the_models``)."""
    compute = embedder.embed_queries
    remembered: dict[str, Vectors] = {}
    lock = threading.Lock()

    def embed_queries(texts: Sequence[str]) -> Vectors:
        missing = list(dict.fromkeys(t for t in texts if t not in remembered))
        if missing:
            fresh = compute(missing)
            with lock:
                remembered.update(zip(missing, fresh, strict=True))
        if not texts:
            return compute(texts)
        return np.stack([remembered[t] for t in texts])

    embedder.embed_queries = embed_queries  # type: ignore[method-assign]
    return embedder


@pytest.fixture(scope="session")
def embedder(onnx_cache: Path) -> Embedder:
    """The real bundled model on the backend the product uses by default (ONNX Runtime), loaded once, its query
    vectors remembered per text."""
    return remember_query_vectors(load_embedder(DEFAULT_MODEL, backend="onnx", cache_dir=onnx_cache))


@pytest.fixture(scope="session")
def torch_embedder() -> SentenceTransformerEmbedder:
    """The real bundled model on sentence-transformers (torch): the reference the ONNX export must match."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    return SentenceTransformerEmbedder.from_name(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """A real index of the shipped corpus, built once per session."""
    index_dir = tmp_path_factory.mktemp("corpus-index")
    ingest([CORPUS], index_dir=index_dir, embedder=embedder, chunker=ChunkerSettings(), progress=False)
    return index_dir


def require_shared(path: Path) -> Path:
    """Skip with a clear reason when ../shared is absent; fail instead when CI demands it."""
    if path.exists():
        return path
    message = f"{path} is absent (the shared data beside the project root)"
    skip_unless_required("SHARED", message)


@pytest.fixture(scope="session")
def medquad_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first ``MEDQUAD_SLICE`` MedQuAD records as a .jsonl.gz of their own."""
    source = require_shared(MEDQUAD)
    target = tmp_path_factory.mktemp("medquad") / "medquad-slice.jsonl.gz"
    with gzip.open(source, "rt", encoding="utf-8") as reader, gzip.open(target, "wt", encoding="utf-8") as writer:
        for number, line in enumerate(reader):
            if number == MEDQUAD_SLICE:
                break
            writer.write(line)
    return target


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Iterator[Path]:
    """A writable copy of the shipped articles."""
    target = tmp_path / "articles"
    shutil.copytree(CORPUS, target)
    yield target


@pytest.fixture(scope="session")
def onnx_cache(model_cache: Path) -> Path:
    """The session's model cache with an ONNX export of the bundled model in it, made once per session."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    load_embedder(DEFAULT_MODEL, backend="onnx", cache_dir=model_cache).embed_queries(["export once"])
    return model_cache
