"""Run the evaluation suites with the product's own pipeline and collect one results dict."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from answer import LearnedModels, load_models
from eval.corpus import run_corpus_suite
from eval.mediqa import MEDIQA_DIR, index_passages, load_triage_labels, run_mediqa_suite
from eval.medquad import MEDQUAD_FILE, load_benchmark
from eval.metrics import recall_curve, retrieval_metrics
from eval.questions import QUESTIONS_FILE
from eval.retrieval import run_queries
from index import SEARCH_MODES, Document, Embedder, SearchIndex, build_index
from ingest import chunk_document, chunker_config, ingest
from settings import BuildSettings, ChunkerSettings, SearchSettings, Settings

logger = logging.getLogger(__name__)
Suite = Literal["corpus", "mediqa", "medquad", "medquad-quick"]
SUITES: tuple[Suite, ...] = ("corpus", "mediqa", "medquad-quick", "medquad")
CORPUS_DIR = Path(__file__).resolve().parents[1] / "corpus" / "articles"


def run_eval(
    suites: list[Suite],
    *,
    settings: Settings,
    embedder: Embedder,
    work_dir: Path,
    medquad_file: Path = MEDQUAD_FILE,
    questions_file: Path = QUESTIONS_FILE,
    mediqa_dir: Path = MEDIQA_DIR,
    models: LearnedModels | None = None,
) -> dict[str, Any]:
    """Build (incrementally) the indexes each suite needs under ``work_dir`` and run the suites.

    ``models`` are the shipped ones (``settings.models_dir``) unless given; a caller embedding with another
    model than the backstop was trained on must give its own.

    Returns:
        Results keyed by suite (``corpus.tune``, ``corpus.heldout``, ``mediqa.tune``, ``mediqa.heldout``,
        ``mediqa.all``, ``medquad``, ``medquad-quick``),
        plus the run's model and settings.
    """
    chunker = settings.chunker_settings()
    search = settings.search_settings()
    models = models or load_models(
        settings.models_dir,
        embedder=embedder,
        cache_dir=settings.model_cache_dir,
        catalogue_path=settings.redflag_catalogue,
    )
    threshold = settings.abstain_threshold
    results: dict[str, Any] = {
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": embedder.name,
        "settings": {
            "chunker": asdict(chunker),
            "search": asdict(search),
            "abstain_threshold": models.abstention.threshold if threshold is None else threshold,
        },
    }
    if "corpus" in suites:
        index_dir = work_dir / "index-corpus"
        build = settings.build_settings()
        ingest([CORPUS_DIR], index_dir=index_dir, embedder=embedder, chunker=chunker, build=build, progress=False)
        index = SearchIndex.load(index_dir, embedder=embedder, settings=search)
        qa = settings.answer_settings()
        for split in ("tune", "heldout"):
            logger.info("corpus suite, %s split", split)
            results[f"corpus.{split}"] = run_corpus_suite(index, models, qa, split=split, questions_file=questions_file)
        results["index_version"] = index.version
        results["questions_file"] = str(questions_file)
    if "mediqa" in suites:
        index_dir = index_passages(
            work_dir, embedder=embedder, chunker=chunker, build=settings.build_settings(), data_dir=mediqa_dir
        )
        index = SearchIndex.load(index_dir, embedder=embedder, settings=search)
        logger.info("mediqa suite: consumer questions over judged passages")
        labels = load_triage_labels() if mediqa_dir == MEDIQA_DIR else None  # the labels are of the shared dataset
        results |= run_mediqa_suite(
            index, settings.answer_settings(), models, data_dir=mediqa_dir, triage_labels=labels
        )
    for suite in [s for s in suites if s.startswith("medquad")]:
        results[suite] = _run_medquad(
            suite == "medquad-quick", chunker, search, embedder, work_dir, medquad_file, settings.build_settings()
        )
    return results


def build_search_only_index(
    documents: Sequence[Document],
    index_dir: Path,
    *,
    embedder: Embedder,
    chunker: ChunkerSettings,
    build: BuildSettings | None = None,
) -> None:
    """Build or update a retrieval benchmark's index: chunks only, no sentence vectors (nothing is answered).

    ``build`` is the configured build (dense type, batch size); its sentence vectors are turned off.
    """
    build_index(
        documents,
        index_dir=index_dir,
        embedder=embedder,
        prepare=lambda d: chunk_document(d, count_tokens=embedder.count_tokens, settings=chunker),
        chunker_config=chunker_config(embedder, chunker),
        settings=replace(build or BuildSettings(), sentence_vectors="none"),
    )


def _run_medquad(
    quick: bool,
    chunker: ChunkerSettings,
    search: SearchSettings,
    embedder: Embedder,
    work_dir: Path,
    path: Path,
    build: BuildSettings,
) -> dict[str, Any]:
    benchmark = load_benchmark(path, quick=quick)
    index_dir = work_dir / f"index-{benchmark.name}"
    logger.info(
        "%s: indexing %d documents (only new or changed ones are embedded)", benchmark.name, len(benchmark.documents)
    )
    build_search_only_index(benchmark.documents, index_dir, embedder=embedder, chunker=chunker, build=build)
    index = SearchIndex.load(index_dir, embedder=embedder, settings=search)
    retrieval, curves = {}, {}
    for mode in SEARCH_MODES:
        logger.info("%s: %d queries, %s", benchmark.name, len(benchmark.queries), mode)
        run = run_queries(index, benchmark.queries, mode=mode)
        retrieval[mode] = retrieval_metrics(benchmark.qrels, run)
        curves[mode] = recall_curve(benchmark.qrels, run)
    return {
        "documents": len(benchmark.documents),
        "queries": len(benchmark.queries),
        "chunks": index.manifest.counts["chunks"],
        "retrieval": retrieval,
        "recall_curves": curves,
    }
