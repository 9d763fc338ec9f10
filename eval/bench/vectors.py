"""Realistic vectors for the scale benchmark: real embeddings as centres, noise shaped like the real spread.

Uniform random high-dimensional vectors are far harder for approximate search
than text embeddings, which lie near a low-dimensional surface. So the synthetic
corpus is drawn from a mixture around real chunk vectors: a vector is a real one
(picked at random) plus Gaussian noise along the real vectors' own principal
axes, scaled by ``noise``, L2-normalised. Queries are never in the corpus: real
questions (embedded as the service embeds a question) and held-out draws.

Calibration on MedQuAD (36,782 real chunk vectors, 200 real questions, Recall@10):

| corpus of 36,782 | HNSW ef 64 / 256 | IVF-512 nprobe 4 / 16 |
| --- | --- | --- |
| the real vectors | 0.94 / 0.97 | 0.57 / 0.77 |
| mixture, noise 0.5, the 36,782 real vectors as centres | 0.96 / 0.99 | 0.55 / 0.77 |
| mixture, noise 0.5, 1,937 centres (19 draws each) | 0.94 / 0.99 | 0.83 / 0.92 |
| mixture, noise 0.5, 70 centres (525 draws each) | 0.87 / 0.98 | 0.78 / 0.98 |

So the mixture is realistic when centres are many and each is drawn a few times;
with few centres the corpus turns into tight clusters, which flatter IVF and can
trap HNSW. Use as many real vectors as there are: ``index_vectors`` takes all the
chunk vectors of a built index (e.g. the MedQuAD evaluation index), while
``real_vectors`` embeds a sample of MedQuAD answers (quicker, clumpier at 1M).
"""

from __future__ import annotations

import gzip
import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from index import Document, Embedder, SearchIndex
from ingest import chunk_document, clean_text
from settings import ChunkerSettings

logger = logging.getLogger(__name__)
DEFAULT_NOISE = 0.5
_BATCH = 65_536


@dataclass(frozen=True)
class RealVectors:
    """Embeddings of real text: the centres of the synthetic mixture and the real queries.

    Attributes:
        chunks: (n, d) float32, L2-normalised vectors of MedQuAD answer chunks (no titles).
        questions: (q, d) float32, L2-normalised vectors of MedQuAD questions about those answers.
    """

    chunks: np.ndarray
    questions: np.ndarray


def _sampled_records(path: Path, count: int) -> list[dict[str, str]]:
    """``count`` records drawn with ``random.Random(0)`` from the whole file, so that every source is in."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        lines = [line for line in handle if line.strip()]
    chosen = sorted(random.Random(0).sample(range(len(lines)), min(count, len(lines))))
    return [json.loads(lines[i]) for i in chosen]


def real_vectors(
    embedder: Embedder,
    *,
    medquad_file: Path,
    records: int,
    questions: int,
    chunker: ChunkerSettings,
    cache_dir: Path,
) -> RealVectors:
    """Chunk vectors of ``records`` MedQuAD answers and vectors of ``questions`` of their questions.

    Records are drawn at random over the file (MedQuAD is ordered by source, so its
    first lines would all be about one topic family), chunked as the product chunks,
    embedded once and cached in ``cache_dir`` per model and sizes.

    Raises:
        FileNotFoundError: the MedQuAD file is absent.
        ValueError: more questions than records.
    """
    if questions > records:
        raise ValueError(f"the scale part asks {questions} questions of only {records} MedQuAD records")
    if not medquad_file.is_file():
        raise FileNotFoundError(f"MedQuAD not found at {medquad_file} (needed for the scale benchmark's vectors)")
    cache = cache_dir / f"medquad-vectors-{embedder.fingerprint[:12]}-{records}-{questions}-{chunker.chunk_tokens}.npz"
    if cache.is_file():
        with np.load(cache) as stored:
            return RealVectors(chunks=stored["chunks"], questions=stored["questions"])
    rows = _sampled_records(medquad_file, records)
    answers = sorted({clean_text(r["answer"].strip(), collapse_spaces=True) for r in rows if r["answer"].strip()})
    documents = [Document(doc_id=f"answer-{i}", title="", text=text) for i, text in enumerate(answers)]
    texts = [
        chunk.embed_text
        for document in documents
        for chunk in chunk_document(document, count_tokens=embedder.count_tokens, settings=chunker).chunks
    ]
    logger.info("scale: embedding %d chunks of %d MedQuAD answers (once; cached)", len(texts), len(answers))
    chunks = embedder.embed_documents(texts, progress=True, desc="real chunk vectors")
    asked = [" ".join(rows[i]["question"].split()) for i in random.Random(1).sample(range(len(rows)), questions)]
    question_vectors = embedder.embed_queries(asked)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.savez(cache, chunks=chunks, questions=question_vectors)
    return RealVectors(chunks=chunks, questions=question_vectors)


def _questions(embedder: Embedder, medquad_file: Path, count: int) -> np.ndarray:
    """(count, d) vectors of MedQuAD questions drawn with ``random.Random(1)`` over the whole file."""
    with gzip.open(medquad_file, "rt", encoding="utf-8") as handle:
        every = [" ".join(json.loads(line)["question"].split()) for line in handle if line.strip()]
    return embedder.embed_queries(random.Random(1).sample(every, min(count, len(every))))


def index_vectors(embedder: Embedder, index_dir: Path, *, medquad_file: Path, questions: int) -> RealVectors:
    """Every chunk vector of the index published in ``index_dir``, and ``questions`` real MedQuAD questions.

    Raises:
        IndexNotBuiltError, EmbeddingMismatchError: no index there, or one from another model.
        FileNotFoundError: the MedQuAD file is absent.
    """
    if not medquad_file.is_file():
        raise FileNotFoundError(f"MedQuAD not found at {medquad_file} (needed for the scale benchmark's questions)")
    version = SearchIndex.load(index_dir, embedder=embedder, verify=False)  # checks the model
    dense = faiss.read_index(str(version.path / "dense.faiss"))  # the layout README's "The index" documents
    chunks = np.asarray(dense.reconstruct_n(0, dense.ntotal), dtype=np.float32)
    logger.info("scale: %d chunk vectors of %s as centres", len(chunks), version.path)
    return RealVectors(chunks=chunks, questions=_questions(embedder, medquad_file, questions))


class VectorMixture:
    """Draws L2-normalised vectors around real ones, with noise along their principal axes.

    Usage example::

        mixture = VectorMixture(real.chunks, noise=0.5)
        corpus = mixture.sample(1_000_000, seed=2)   # (1_000_000, 384) float32
    """

    def __init__(self, centres: np.ndarray, *, noise: float = DEFAULT_NOISE) -> None:
        if centres.ndim != 2 or len(centres) < 2:
            raise ValueError(f"need at least two (n, d) centres, got shape {centres.shape}")
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        self.centres = np.ascontiguousarray(centres, dtype=np.float32)
        centred = self.centres - self.centres.mean(axis=0)
        _, singular, axes = np.linalg.svd(centred, full_matrices=False)
        self._axes = axes.astype(np.float32)  # (r, d), the principal directions
        self._scales = (singular / np.sqrt(len(centres)) * noise).astype(np.float32)  # (r,) std per axis

    @property
    def dim(self) -> int:
        return int(self.centres.shape[1])

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        """(n, d) float32, L2-normalised; the same seed gives the same vectors."""
        rng = np.random.default_rng(seed)
        out = np.empty((n, self.dim), dtype=np.float32)
        for start in range(0, n, _BATCH):
            stop = min(start + _BATCH, n)
            parents = rng.integers(0, len(self.centres), stop - start)
            noise = rng.standard_normal((stop - start, len(self._scales)), dtype=np.float32) * self._scales
            block = self.centres[parents] + noise @ self._axes
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            out[start:stop] = block
        return out
