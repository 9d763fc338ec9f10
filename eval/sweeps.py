"""Re-run the sweeps that chose the ranking settings, on tuning splits only, and return their tables.

Each sweep varies one ``SearchSettings`` field over the product's own hybrid search and scores
every value on the tuning sets:

- ``corpus``: the corpus suite's tuning split (relevant articles; MRR@10, Recall@10);
- ``mediqa``: the MEDIQA tuning split (``eval/mediqa.py``; MRR@10, graded nDCG@10);
- ``medquad``: the 500-question MedQuAD tuning draw (``random.Random(7)``, disjoint from the
  benchmark's 1,000; ``eval/medquad.py``) over the full MedQuAD index (MRR@10, Recall@10).

Held-out splits and benchmark questions are never loaded here. The indexes are built (or updated)
exactly as ``healthqa eval`` builds them, under the same work folder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from eval.corpus import RETRIEVAL_KINDS
from eval.mediqa import MEDIQA_DIR, index_passages, mediqa_metrics
from eval.mediqa import load_questions as load_mediqa_questions
from eval.medquad import MEDQUAD_FILE, load_benchmark
from eval.metrics import retrieval_metrics
from eval.questions import load_questions
from eval.retrieval import run_queries
from eval.run import build_search_only_index
from index import Embedder, SearchIndex
from ingest import ingest
from settings import BuildSettings, ChunkerSettings, SearchSettings

logger = logging.getLogger(__name__)

TuningSet = Literal["corpus", "mediqa", "medquad"]
TUNING_SETS: tuple[TuningSet, ...] = ("corpus", "mediqa", "medquad")
CORPUS_DIR = Path(__file__).resolve().parents[1] / "corpus" / "articles"


@dataclass(frozen=True)
class Sweep:
    """One ``SearchSettings`` field and the values tried for it."""

    field: str
    values: tuple[Any, ...]
    why: str


SWEEPS: dict[str, Sweep] = {
    "fusion": Sweep("fusion", ("convex", "rrf"), "how hybrid search fuses dense and BM25 scores"),
    "alpha": Sweep(
        "convex_alpha", (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5), "weight of the scaled BM25 score in convex fusion"
    ),
    "doc-score": Sweep(
        "lead_weight",
        (0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
        "share of a document's lead chunk in each of its chunks' scores (0: a document is its best chunk)",
    ),
    "title": Sweep(
        "title_weight",
        (0.0, 0.25, 0.5, 0.75, 1.0, 1.5),
        "weight of the question's BM25 match on a document's title, relative to the chunk's BM25 share",
    ),
}


@dataclass(frozen=True)
class _TuningData:
    index: SearchIndex
    queries: dict[str, str]
    score: Callable[[Mapping[str, Mapping[str, float]]], dict[str, float]]
    columns: tuple[str, str]


class _RememberingEmbedder:
    """The product's embedder, with each query embedded once across the sweep's values."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self._seen: dict[str, npt.NDArray[np.float32]] = {}
        self.name, self.dim, self.fingerprint, self.max_tokens = (
            inner.name,
            inner.dim,
            inner.fingerprint,
            inner.max_tokens,
        )

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._inner.count_tokens(texts)

    def embed_queries(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._seen]
        if missing:
            self._seen |= dict(zip(missing, self._inner.embed_queries(missing), strict=True))
        return np.stack([self._seen[t] for t in texts])

    def embed_documents(self, texts: Sequence[str], **kwargs: Any) -> npt.NDArray[np.float32]:
        return self._inner.embed_documents(texts, **kwargs)


def _load_set(
    name: TuningSet,
    *,
    embedder: Embedder,
    chunker: ChunkerSettings,
    build: BuildSettings,
    work_dir: Path,
    mediqa_dir: Path,
    medquad_file: Path,
) -> _TuningData:
    if name == "corpus":
        index_dir = work_dir / "index-corpus"
        ingest([CORPUS_DIR], index_dir=index_dir, embedder=embedder, chunker=chunker, build=build, progress=False)
        questions = [q for q in load_questions(split="tune") if q.kind in RETRIEVAL_KINDS and q.relevant]
        qrels = {q.id: dict.fromkeys(q.relevant, 1) for q in questions}
        return _TuningData(
            SearchIndex.load(index_dir, embedder=embedder),
            {q.id: q.question for q in questions},
            lambda run: retrieval_metrics(qrels, run),
            ("mrr@10", "recall@10"),
        )
    if name == "mediqa":
        index_dir = index_passages(work_dir, embedder=embedder, chunker=chunker, build=build, data_dir=mediqa_dir)
        tune = load_mediqa_questions(mediqa_dir, split="tune")
        return _TuningData(
            SearchIndex.load(index_dir, embedder=embedder),
            {q.id: q.question for q in tune},
            lambda run: mediqa_metrics(tune, run),
            ("mrr@10", "ndcg@10"),
        )
    benchmark = load_benchmark(medquad_file, tuning=True)
    index_dir = work_dir / "index-medquad"
    logger.info("medquad: updating the full index (about 15 minutes the first time)")
    build_search_only_index(benchmark.documents, index_dir, embedder=embedder, chunker=chunker, build=build)
    qrels = benchmark.qrels
    return _TuningData(
        SearchIndex.load(index_dir, embedder=embedder),
        benchmark.queries,
        lambda run: retrieval_metrics(qrels, run),
        ("mrr@10", "recall@10"),
    )


def run_sweep(
    name: str,
    *,
    embedder: Embedder,
    base: SearchSettings,
    chunker: ChunkerSettings,
    work_dir: Path,
    build: BuildSettings | None = None,
    sets: Sequence[TuningSet] = TUNING_SETS,
    mediqa_dir: Path = MEDIQA_DIR,
    medquad_file: Path = MEDQUAD_FILE,
) -> dict[str, Any]:
    """Score every value of one sweep on the tuning sets (hybrid mode, documents by the product's ranking).

    Returns:
        ``{"sweep", "field", "why", "default", "columns": [(set, metric)...], "rows": [(value, [figures])...]}``.

    Raises:
        KeyError: an unknown sweep name.
        FileNotFoundError: a tuning set's data is absent.
    """
    sweep = SWEEPS[name]
    remembering = _RememberingEmbedder(embedder)
    loaded = {
        s: _load_set(
            s,
            embedder=remembering,
            chunker=chunker,
            build=build or BuildSettings(),
            work_dir=work_dir,
            mediqa_dir=mediqa_dir,
            medquad_file=medquad_file,
        )
        for s in sets
    }
    columns = [(s, metric) for s in sets for metric in loaded[s].columns]
    rows = []
    for value in sweep.values:
        settings = replace(base, **{sweep.field: value})
        figures = []
        for s in sets:
            data = loaded[s]
            data.index.settings = settings
            logger.info("sweep %s: %s=%s on %s (%d queries)", name, sweep.field, value, s, len(data.queries))
            metrics = data.score(run_queries(data.index, data.queries, mode="hybrid"))
            figures += [metrics[column] for column in data.columns]
        rows.append((value, figures))
    return {
        "sweep": name,
        "field": sweep.field,
        "why": sweep.why,
        "default": getattr(base, sweep.field),
        "columns": columns,
        "rows": rows,
    }
