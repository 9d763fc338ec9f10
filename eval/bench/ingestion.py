"""Ingestion throughput into a fresh index, the cost of incremental re-ingests, and the model's own ceiling.

A fresh ingest is measured beside the embedder alone on the same chunk texts, in the same run (so
load on the machine weighs on both): the fraction of that ceiling ingest reaches, and the seconds of
every other stage (loading, chunking, SQLite, BM25, hashing, ...), show where the rest goes.
"""

from __future__ import annotations

import gzip
import logging
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

from index import Embedder, version_path
from ingest import ingest
from settings import BuildSettings, ChunkerSettings, Settings

logger = logging.getLogger(__name__)
CORPUS_DIR = Path(__file__).resolve().parents[2] / "corpus" / "articles"
CHANGE = "\n\nThis sentence was added by the benchmark so that the article differs from its indexed version.\n"


def medquad_subset(source: Path, records: int, target: Path) -> Path:
    """The first ``records`` lines of the MedQuAD file, as a .jsonl.gz of their own."""
    with gzip.open(source, "rt", encoding="utf-8") as reader, gzip.open(target, "wt", encoding="utf-8") as writer:
        for number, line in enumerate(reader):
            if number == records:
                break
            writer.write(line)
    return target


def _timed_ingest(
    sources: list[Path],
    index_dir: Path,
    embedder: Embedder,
    chunker: ChunkerSettings,
    build: BuildSettings,
    *,
    ceiling: bool = False,
) -> dict[str, Any]:
    """One timed ``ingest``, its stages, and (``ceiling``) the embedder alone on the same chunk texts."""
    started = time.perf_counter()
    result = ingest(sources, index_dir=index_dir, embedder=embedder, chunker=chunker, build=build, progress=False)
    seconds = time.perf_counter() - started
    report = result.build
    stages = {"loading": result.load_seconds, **report.timings}
    stages["other"] = round(max(seconds - sum(stages.values()), 0.0), 4)
    measured: dict[str, Any] = {}
    if ceiling and report.chunks_embedded:
        measured = embedder_ceiling(
            index_dir, embedder, batch_size=build.embed_batch_size, chunks=report.chunks_embedded
        )
        measured["fraction_of_ceiling"] = round(measured["embedder_alone_seconds"] / seconds, 3)
    return {
        "seconds": round(seconds, 3),
        "published": report.published,
        "documents": report.documents,
        "chunks": report.chunks,
        "sentences": report.sentences,
        "chunks_embedded": report.chunks_embedded,
        "sentences_embedded": report.sentences_embedded,
        "chunks_per_second": round(report.chunks_embedded / seconds, 2) if report.chunks_embedded else None,
        "sentences_per_second": round(report.sentences_embedded / seconds, 2) if report.sentences_embedded else None,
        "bytes_on_disk": report.bytes_on_disk,
        "sentence_vectors": report.sentence_vectors,
        "sentences_standalone": report.sentences_standalone,
        "stages_seconds": stages,
        **measured,
    }


def embedder_ceiling(index_dir: Path, embedder: Embedder, *, batch_size: int, chunks: int) -> dict[str, Any]:
    """The model's own speed here: the embedder alone on the chunk texts the ingest just embedded.

    The texts are read back from the published version (each distinct text once, as ingest embeds
    them) and embedded with the same batch size; ``chunks`` (the ingest's count) over the seconds
    is the most chunks per second any ingest could reach with this model on this machine.
    """
    with sqlite3.connect(f"file:{version_path(index_dir) / 'meta.sqlite'}?mode=ro", uri=True) as db:
        texts = list(dict.fromkeys(text for (text,) in db.execute("SELECT embed_text FROM chunks ORDER BY row")))
    started = time.perf_counter()
    embedder.embed_documents(texts, batch_size=batch_size)
    seconds = time.perf_counter() - started
    return {
        "embedder_alone_texts": len(texts),
        "embedder_alone_seconds": round(seconds, 3),
        "ceiling_chunks_per_second": round(chunks / seconds, 2),
    }


def measure_ingestion(
    settings: Settings, embedder: Embedder, *, work_dir: Path, medquad_file: Path | None, medquad_records: int
) -> dict[str, Any]:
    """Fresh ingest of the shipped corpus, unchanged and one-changed re-ingests, and a fresh MedQuAD subset.

    Every index is new, under ``work_dir/ingest``; the model is loaded (and timed) first,
    so the throughputs are chunking, embedding and publishing only.
    """
    root = work_dir / "ingest"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    chunker = settings.chunker_settings()
    build = settings.build_settings()
    started = time.perf_counter()
    embedder.embed_documents(["load the model"])
    results: dict[str, Any] = {"model_load_seconds": round(time.perf_counter() - started, 3)}
    articles = root / "articles"
    shutil.copytree(CORPUS_DIR, articles)
    logger.info("ingest: shipped corpus into a fresh index")
    results["corpus_fresh"] = _timed_ingest([articles], root / "index-corpus", embedder, chunker, build, ceiling=True)
    logger.info("ingest: unchanged re-ingest")
    results["corpus_unchanged"] = _timed_ingest([articles], root / "index-corpus", embedder, chunker, build)
    changed = sorted(articles.glob("*.md"))[0]
    changed.write_text(changed.read_text(encoding="utf-8") + CHANGE, encoding="utf-8")
    logger.info("ingest: re-ingest with one changed article (%s)", changed.name)
    results["corpus_one_changed"] = {
        "article": changed.stem,
        **_timed_ingest([articles], root / "index-corpus", embedder, chunker, build),
    }
    if medquad_file is not None and medquad_records > 0:
        subset = medquad_subset(medquad_file, medquad_records, root / f"medquad-first-{medquad_records}.jsonl.gz")
        logger.info("ingest: first %d MedQuAD records into a fresh index", medquad_records)
        results["medquad_subset_fresh"] = {
            "records": medquad_records,
            **_timed_ingest([subset], root / "index-medquad", embedder, chunker, build, ceiling=True),
        }
    return results
