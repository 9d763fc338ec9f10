"""Chunk vectors in FAISS: exact inner product by default, HNSW for large corpora (``auto``: from 50k).

Vectors are L2-normalised, so inner product is cosine similarity.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np
from tqdm.auto import tqdm

from index.embedding import Vectors
from settings import DenseType

# Below this an exact scan is cheap next to embedding the question (about 5 ms): single-query p50 on 2 cores
# was 0.3 ms at 10k, 6.3 ms at 100k and 61 ms at 1M vectors, so about 3 ms here; the full MedQuAD stays exact.
AUTO_HNSW_FROM = 50_000
_ADD_BATCH = 20_000


@dataclass(frozen=True)
class HNSWParams:
    """HNSW graph settings; the defaults are the ones ``healthqa bench -p scale`` chose.

    Measured on 2 cores with corpora drawn around the 36,782 real MedQuAD chunk vectors
    (``--real-index``): at 1M vectors M=32, efConstruction=80 builds in about 2 minutes,
    and efSearch=256 is the cheapest setting with Recall@10 >= 0.95 for real questions
    (0.97; held-out 0.99) at 0.7 ms p50, against 61 ms for the exact scan; at the
    product's depth of 50 candidates Recall@50 is 0.98.

    Attributes:
        m: Graph degree; memory, build time and recall grow with it.
        ef_construction: Candidate list while building.
        ef_search: Candidate list while searching (at least ``k`` is used); set again by ``load_dense``.
    """

    m: int = 32
    ef_construction: int = 80
    ef_search: int = 256

    def __post_init__(self) -> None:
        if min(self.m, self.ef_construction, self.ef_search) < 1:
            raise ValueError(f"HNSW parameters must be >= 1, got {self}")


def resolve_dense_type(dense_type: DenseType, n_vectors: int) -> Literal["flat", "hnsw"]:
    if dense_type == "auto":
        return "hnsw" if n_vectors >= AUTO_HNSW_FROM else "flat"
    return dense_type


def build_dense(
    vectors: Vectors,
    *,
    dense_type: DenseType,
    hnsw: HNSWParams = HNSWParams(),
    progress: bool = False,
) -> tuple[faiss.Index, dict[str, Any]]:
    """Index (n, d) float32 L2-normalised vectors; rows keep their order.

    Args:
        vectors: The chunk vectors.
        dense_type: ``flat``, ``hnsw``, or ``auto`` (HNSW from ``AUTO_HNSW_FROM`` vectors).
        hnsw: Graph settings when the index is HNSW.
        progress: Show a progress bar while adding (an HNSW build of 1M vectors takes minutes).

    Returns:
        The FAISS index and its settings for the manifest.
    """
    n, dim = vectors.shape
    kind = resolve_dense_type(dense_type, n)
    index: faiss.Index
    if kind == "hnsw":
        graph = faiss.IndexHNSWFlat(dim, hnsw.m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = hnsw.ef_construction
        graph.hnsw.efSearch = hnsw.ef_search
        index = graph
        settings: dict[str, Any] = {
            "type": "hnsw",
            "metric": "inner_product",
            "M": hnsw.m,
            "ef_construction": hnsw.ef_construction,
        }
    else:
        index = faiss.IndexFlatIP(dim)
        settings = {"type": "flat", "metric": "inner_product"}
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    # Batches let the bar move; HNSW inserts one vector at a time anyway, so the graph is as good.
    batch = _ADD_BATCH if progress else max(n, 1)
    with tqdm(total=n, desc=f"{kind} index", unit="vec", disable=not progress or n == 0) as bar:
        for start in range(0, n, batch):
            index.add(matrix[start : start + batch])
            bar.update(min(batch, n - start))
    return index, settings


def save_dense(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def load_dense(path: Path, *, ef_search: int = HNSWParams.ef_search) -> faiss.Index:
    """Read an index; an HNSW index gets ``ef_search`` (the file may hold an older value)."""
    index = faiss.read_index(str(path))
    hnsw = getattr(index, "hnsw", None)
    if hnsw is not None:
        hnsw.efSearch = ef_search
    return index


def set_search_threads(threads: int) -> None:
    """Set the OpenMP threads FAISS uses in this process (all indexes, searches and builds).

    A server should use 1: a single query gains nothing from a team of threads, and
    when requests run side by side the teams fight over the cores. On a busy 2-core
    machine (load 3-5) an exact search of the 36,782 MedQuAD chunk vectors took
    10 ms at p50 with 2 threads and 2.5 ms with 1, and /v1/search over HTTP 30-65 ms
    against 10 ms. Builds want every core, so ingest leaves the default.

    Raises:
        ValueError: ``threads`` < 1.
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    faiss.omp_set_num_threads(threads)


def all_vectors(index: faiss.Index) -> Vectors:
    """Every stored vector, (n, d) float32, in row order."""
    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    return np.asarray(index.reconstruct_n(0, index.ntotal), dtype=np.float32)


def search_dense(index: faiss.Index, query: Vectors, *, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k rows for one (1, d) query vector, best first; (m,) int64 and (m,) float32."""
    if index.ntotal == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    scores, rows = index.search(np.ascontiguousarray(query, dtype=np.float32), min(k, index.ntotal))
    keep = rows[0] >= 0
    return rows[0][keep].astype(np.int64), scores[0][keep].astype(np.float32)
