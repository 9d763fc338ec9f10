"""Dense search at 10k-1M chunks: exact (flat) vs approximate (HNSW, IVF) latency, recall, memory, build time.

The corpus comes from ``VectorMixture`` (real chunk vectors plus shaped noise);
queries are real questions and held-out mixture draws, never in the corpus.
Recall@k of an approximate index is measured against the exact top-k of the
same queries. Single-query latency is timed one query at a time with
``threads`` FAISS threads, as a server answering one question per request
would search.
"""

from __future__ import annotations

import gc
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, cast

import faiss
import numpy as np
import psutil

from eval.bench.stats import summarize_ms
from eval.bench.vectors import DEFAULT_NOISE, RealVectors, VectorMixture
from index import HNSWParams, build_dense

logger = logging.getLogger(__name__)
CANDIDATES = 50  # chunks the product's dense retriever passes to fusion (HEALTHQA_CANDIDATES)


@dataclass(frozen=True)
class ScaleOptions:
    """What the scale benchmark measures.

    Attributes:
        sizes: Corpus sizes in vectors.
        queries: Queries of each kind (real questions, held-out draws).
        k: Neighbours per query; Recall@k is against the exact top-k.
        methods: Any of ``flat``, ``hnsw``, ``ivf``.
        hnsw: HNSW graph settings (``ef_search`` is swept, see ``ef_search``).
        ef_search: HNSW efSearch values to sweep.
        nprobe: IVF nprobe values to sweep.
        noise: Noise scale of the vector mixture.
        threads: FAISS (OpenMP) threads while timing single queries.
        target_recall: The recall an approximate setting must reach to be chosen.
        seed: Seed of the synthetic corpus and queries.
    """

    sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    queries: int = 200
    k: int = 10
    methods: tuple[str, ...] = ("flat", "hnsw", "ivf")
    hnsw: HNSWParams = HNSWParams()
    ef_search: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
    nprobe: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256)
    noise: float = DEFAULT_NOISE
    threads: int = 1
    target_recall: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.methods) - {"flat", "hnsw", "ivf"}
        if unknown:
            raise ValueError(f"unknown index method(s) {sorted(unknown)}: choose flat, hnsw or ivf")
        if not self.sizes or min(self.sizes) < 2 * self.k:
            raise ValueError(f"sizes must be at least {2 * self.k} vectors, got {self.sizes}")
        if self.queries < 1 or self.k < 1 or self.threads < 1:
            raise ValueError("queries, k and threads must be >= 1")


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Per query, the share of the exact top-k among the found top-k: (q,) float64 in [0, 1]."""
    k = exact.shape[1]
    return np.array([len(set(f[f >= 0].tolist()) & set(e.tolist())) / k for f, e in zip(found, exact, strict=True)])


def single_query_ms(index: faiss.Index, queries: np.ndarray, *, k: int, threads: int) -> list[float]:
    """Milliseconds of each query searched alone, after a short warm-up."""
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        for query in queries[:10]:
            index.search(query[None, :], k)
        timings = []
        for query in queries:
            started = time.perf_counter()
            index.search(query[None, :], k)
            timings.append((time.perf_counter() - started) * 1000)
        return timings
    finally:
        faiss.omp_set_num_threads(previous)


def index_bytes(index: Any) -> int:
    """Memory the index's own arrays take: vectors, graph links or inverted lists."""
    index = cast(Any, faiss.downcast_index(index))
    if isinstance(index, faiss.IndexHNSW):
        graph: Any = index.hnsw  # FAISS's stubs lack these members
        links = graph.neighbors.size() * 4 + graph.offsets.size() * 8 + graph.levels.size() * 4
        return int(index_bytes(index.storage) + links)
    if isinstance(index, faiss.IndexIVF):
        lists: Any = index.invlists
        stored = sum(lists.list_size(i) for i in range(lists.nlist)) * (index.code_size + 8)
        return int(stored + index_bytes(index.quantizer))
    return int(index.ntotal * index.code_size)


def ivf_lists(n: int) -> int:
    """Inverted lists for ``n`` vectors: the power of two nearest 4 * sqrt(n) (FAISS's rule of thumb)."""
    return int(2 ** round(math.log2(4 * math.sqrt(n))))


def build_ivf(vectors: np.ndarray, *, nlist: int, seed: int) -> Any:
    """IVF-Flat (inner product) trained on at most 64 vectors per list, then filled."""
    quantizer = faiss.IndexFlatIP(vectors.shape[1])
    index = faiss.IndexIVFFlat(quantizer, vectors.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    sample = np.random.default_rng(seed).choice(len(vectors), min(len(vectors), 64 * nlist), replace=False)
    index.cp.seed = seed
    started = time.perf_counter()
    index.train(vectors[np.sort(sample)])
    logger.info(
        "  ivf: trained %d lists on %d vectors in %.1f s; adding", nlist, len(sample), time.perf_counter() - started
    )
    index.add(vectors)
    return index


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


def _sweep(
    index: Any,
    queries: np.ndarray,
    kinds: np.ndarray,
    exact: np.ndarray,
    *,
    name: str,
    values: tuple[int, ...],
    options: ScaleOptions,
) -> list[dict[str, Any]]:
    """Recall@k and single-query latency for each search-time setting (efSearch or nprobe)."""
    rows = []
    for value in values:
        if isinstance(index, faiss.IndexHNSW):
            index.hnsw.efSearch = value
        else:
            index.nprobe = value
        _, found = index.search(queries, options.k)
        recall = recall_at_k(found, exact[:, : options.k])
        latency = summarize_ms(single_query_ms(index, queries, k=options.k, threads=options.threads))
        by_kind = {str(kind): round(float(recall[kinds == kind].mean()), 4) for kind in np.unique(kinds)}
        rows.append(
            {name: value, "recall": round(float(recall.mean()), 4), "recall_by_kind": by_kind, "latency_ms": latency}
        )
        logger.info(
            "    %s=%d: Recall@%d %.3f %s, p50 %.3f ms", name, value, options.k, recall.mean(), by_kind, latency["p50"]
        )
    return rows


def _choose(rows: list[dict[str, Any]], name: str, target: float) -> dict[str, Any] | None:
    """The cheapest setting whose recall reaches the target for every kind of query."""
    for row in rows:
        if min(row["recall_by_kind"].values()) >= target:
            return {name: row[name], "recall": row["recall"], "p50_ms": row["latency_ms"]["p50"]}
    return None


def _at_candidates(index: faiss.Index, queries: np.ndarray, exact: np.ndarray, options: ScaleOptions) -> dict[str, Any]:
    """Recall@50 and latency at the product's depth: the dense retriever asks for 50 candidates."""
    depth = exact.shape[1]
    _, found = index.search(queries, depth)
    latency = summarize_ms(single_query_ms(index, queries, k=depth, threads=options.threads))
    return {"k": depth, "recall": round(float(recall_at_k(found, exact).mean()), 4), "latency_ms": latency}


def _measure_size(
    mixture: VectorMixture, n: int, queries: np.ndarray, kinds: np.ndarray, options: ScaleOptions
) -> dict[str, Any]:
    logger.info("scale: %d vectors", n)
    vectors = mixture.sample(n, seed=options.seed + 2)
    result: dict[str, Any] = {"n": n, "dim": int(vectors.shape[1])}
    started, rss = time.perf_counter(), _rss()
    flat, _ = build_dense(vectors, dense_type="flat")
    built = {"build_seconds": round(time.perf_counter() - started, 3), "rss_delta_mb": round((_rss() - rss) / 2**20, 1)}
    scores, exact = flat.search(queries, max(options.k, CANDIDATES))  # the exact answers, batched
    # How the synthetic corpus looks: nearest-neighbour cosine inside it, and top-1 / top-k cosine of queries.
    probe = vectors[np.random.default_rng(options.seed).choice(n, min(n, 500), replace=False)]
    neighbour, _ = flat.search(probe, 2)
    result["shape"] = {
        "draws_per_centre": round(n / len(mixture.centres), 1),
        "corpus_nn_cosine": round(float(neighbour[:, 1].mean()), 4),
        "query_top1_cosine": round(float(scores[:, 0].mean()), 4),
        "query_topk_cosine": round(float(scores[:, options.k - 1].mean()), 4),
    }
    if "flat" in options.methods:
        latency = summarize_ms(single_query_ms(flat, queries, k=options.k, threads=options.threads))
        result["flat"] = {
            **built,
            "index_mb": round(index_bytes(flat) / 2**20, 1),
            "latency_ms": latency,
            "recall": 1.0,
        }
        logger.info("  flat: p50 %.3f ms", latency["p50"])
    del flat
    gc.collect()
    if "hnsw" in options.methods:
        result["hnsw"] = _measure_approximate("hnsw", vectors, queries, kinds, exact, options)
    if "ivf" in options.methods:
        result["ivf"] = _measure_approximate("ivf", vectors, queries, kinds, exact, options)
    return result


def _measure_approximate(
    method: str, vectors: np.ndarray, queries: np.ndarray, kinds: np.ndarray, exact: np.ndarray, options: ScaleOptions
) -> dict[str, Any]:
    """Build one approximate index, sweep its search-time setting, and pick the cheapest good one."""
    rss, started = _rss(), time.perf_counter()
    index: Any  # FAISS's stubs don't know the HNSW and IVF members
    if method == "hnsw":
        index, params = build_dense(vectors, dense_type="hnsw", hnsw=options.hnsw, progress=True)
        name, values = "ef_search", options.ef_search
    else:
        nlist = min(ivf_lists(len(vectors)), len(vectors) // 39)  # FAISS wants >= 39 training vectors per list
        logger.info("  ivf: %d lists for %d vectors", nlist, len(vectors))
        index = build_ivf(vectors, nlist=nlist, seed=options.seed)
        params = {"type": "ivf_flat", "nlist": nlist, "metric": "inner_product"}
        name, values = "nprobe", tuple(v for v in options.nprobe if v <= nlist)
    built = time.perf_counter() - started
    logger.info("  %s %s: built in %.1f s", method, params, built)
    sweep = _sweep(index, queries, kinds, exact, name=name, values=values, options=options)
    chosen = _choose(sweep, name, options.target_recall)
    if chosen is not None:
        if method == "hnsw":
            index.hnsw.efSearch = chosen[name]
        else:
            index.nprobe = chosen[name]
        chosen["at_candidates"] = _at_candidates(index, queries, exact, options)
    measured = {
        "params": params,
        "build_seconds": round(built, 3),
        "index_mb": round(index_bytes(index) / 2**20, 1),
        "rss_delta_mb": round((_rss() - rss) / 2**20, 1),
        "sweep": sweep,
        "chosen": chosen,
    }
    del index
    gc.collect()
    return measured


def run_scale(real: RealVectors, options: ScaleOptions) -> dict[str, Any]:
    """Measure every size in ``options.sizes``; the corpus of each is drawn anew from the mixture."""
    mixture = VectorMixture(real.chunks, noise=options.noise)
    asked = real.questions[: options.queries]
    held_out = mixture.sample(options.queries, seed=options.seed + 1)
    queries = np.ascontiguousarray(np.vstack([asked, held_out]), dtype=np.float32)
    kinds = np.array(["question"] * len(asked) + ["held_out"] * len(held_out))
    return {
        "options": {
            "sizes": list(options.sizes),
            "queries": {"question": len(asked), "held_out": len(held_out)},
            "k": options.k,
            "methods": list(options.methods),
            "hnsw": {"M": options.hnsw.m, "ef_construction": options.hnsw.ef_construction},
            "noise": options.noise,
            "threads": options.threads,
            "target_recall": options.target_recall,
            "real_vectors": {"chunks": int(len(real.chunks)), "questions": int(len(real.questions))},
        },
        "sizes": [_measure_size(mixture, n, queries, kinds, options) for n in options.sizes],
    }
