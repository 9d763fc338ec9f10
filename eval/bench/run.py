"""Run the chosen benchmark parts and collect one results dict (``healthqa bench`` is the front door)."""

from __future__ import annotations

import gzip
import json
import logging
import random
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from eval.bench.coldstart import measure_cold_start
from eval.bench.ingestion import CORPUS_DIR, measure_ingestion
from eval.bench.latency import measure_http, measure_in_process
from eval.bench.load import run_load
from eval.bench.machine import describe_machine, load_average
from eval.bench.replicas import run_replicas
from eval.bench.scale import ScaleOptions, run_scale
from eval.bench.server import LIFTED_LIMITS, running_server
from eval.bench.vectors import index_vectors, real_vectors
from eval.medquad import MEDQUAD_FILE
from eval.questions import load_questions
from index import Embedder, SearchIndex, open_embedder
from ingest import ingest
from settings import Settings

logger = logging.getLogger(__name__)
PARTS = ("latency", "load", "ingest", "coldstart", "scale", "replicas")
CorpusName = Literal["shipped", "medquad"]
MEDQUAD_QUESTIONS = 500


@dataclass(frozen=True)
class BenchOptions:
    """What to measure and how much.

    Attributes:
        parts: Any of ``PARTS``.
        corpus: The index the query parts (latency, load, coldstart) run on.
        index_dir: A built index to use as is; default: build (incrementally) one under ``work_dir``.
        work_dir: Where indexes, caches and server logs of the bench live.
        questions: How many questions the query parts send (0: all labelled questions of
            the shipped corpus, or 500 MedQuAD questions).
        endpoints: ``ask`` and/or ``search``.
        concurrency: Concurrent clients of the load part.
        requests: Most requests per load level.
        duration: Most seconds per load level.
        coldstart_runs: Server starts to take the median of.
        ingest_records: MedQuAD records of the ingestion part's subset (0: skip it).
        real_records: MedQuAD records whose chunk vectors seed the scale part's vectors.
        real_index: A built index whose chunk vectors seed them instead (more centres, more realistic).
        medquad_file: The MedQuAD JSONL.gz.
        scale: The scale part's options.
        replicas: Replicas behind nginx in the replicas part (compared with one).
        publishes: Versions the replicas part publishes to time how fast every replica follows.
    """

    parts: tuple[str, ...] = PARTS
    corpus: CorpusName = "shipped"
    index_dir: Path | None = None
    work_dir: Path = Path("var/bench/work")
    questions: int = 0
    endpoints: tuple[str, ...] = ("ask", "search")
    concurrency: tuple[int, ...] = (1, 4, 16, 64)
    requests: int = 1000
    duration: float = 30.0
    coldstart_runs: int = 5
    ingest_records: int = 1000
    real_records: int = 800
    real_index: Path | None = None
    medquad_file: Path = MEDQUAD_FILE
    scale: ScaleOptions = field(default_factory=ScaleOptions)
    replicas: int = 3
    publishes: int = 3

    def __post_init__(self) -> None:
        unknown = set(self.parts) - set(PARTS)
        if unknown:
            raise ValueError(f"unknown part(s) {sorted(unknown)}: choose from {', '.join(PARTS)}")
        if set(self.endpoints) - {"ask", "search"} or not self.endpoints:
            raise ValueError(f"endpoints must be ask and/or search, got {list(self.endpoints)}")
        if not self.concurrency or min(self.concurrency) < 1:
            raise ValueError(f"concurrency levels must be >= 1, got {list(self.concurrency)}")
        if self.requests < 1 or self.duration <= 0 or self.coldstart_runs < 1 or self.questions < 0:
            raise ValueError("requests, duration and coldstart runs must be positive, questions >= 0")


@dataclass(frozen=True)
class QueryCorpus:
    """An index to query and the real questions to send it."""

    name: str
    index_dir: Path
    questions: list[str]
    endpoints: tuple[str, ...]
    chunks: int
    version: str
    note: str = ""


def _medquad_questions(path: Path, count: int) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        questions = [" ".join(json.loads(line)["question"].split()) for line in handle if line.strip()]
    return random.Random(0).sample(questions, min(count, len(questions)))


def prepare_corpus(options: BenchOptions, settings: Settings, embedder: Embedder) -> QueryCorpus:
    """The index to query: the given one, or one built (incrementally) under the work dir, and its questions."""
    index_dir = options.index_dir or options.work_dir / f"index-{options.corpus}"
    if options.index_dir is None:
        source = CORPUS_DIR if options.corpus == "shipped" else options.medquad_file
        if not source.exists():
            raise FileNotFoundError(f"{source} not found (needed for --corpus {options.corpus})")
        logger.info(
            "index of the %s corpus in %s (only new or changed documents are embedded)", options.corpus, index_dir
        )
        chunker = settings.chunker_settings()
        ingest([source], index_dir=index_dir, embedder=embedder, chunker=chunker, build=settings.build_settings())
    index = SearchIndex.load(index_dir, embedder=embedder, verify=False)
    if options.corpus == "shipped":
        questions = [q.question for q in load_questions()]
        questions = questions[: options.questions] if options.questions else questions
    else:
        questions = _medquad_questions(options.medquad_file, options.questions or MEDQUAD_QUESTIONS)
    endpoints, note = options.endpoints, ""
    if "ask" in endpoints and index.manifest.sentence_vectors == "none":
        endpoints = tuple(e for e in endpoints if e != "ask")
        note = f"{index_dir} has no sentence vectors (a search-only index): /v1/ask is not measured"
        logger.warning(note)
    return QueryCorpus(
        name=options.corpus,
        index_dir=index_dir,
        questions=questions,
        endpoints=endpoints,
        chunks=index.manifest.counts["chunks"],
        version=index.version,
        note=note,
    )


def run_bench(options: BenchOptions, settings: Settings) -> dict[str, Any]:
    """Run the chosen parts in order; each part's figures go under its name."""
    options.work_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": describe_machine(settings),
        "options": json.loads(json.dumps(asdict(options), default=str)),
        "limits_lifted": LIFTED_LIMITS,
    }
    embedder = open_embedder(settings.embedder_settings())
    chunker = settings.chunker_settings()
    corpus = None
    if {"latency", "load", "coldstart"} & set(options.parts):
        corpus = prepare_corpus(options, settings, embedder)
        results["corpus"] = {
            "name": corpus.name,
            "index_dir": str(corpus.index_dir),
            "index_version": corpus.version,
            "chunks": corpus.chunks,
            "questions": len(corpus.questions),
            "note": corpus.note,
        }
    if corpus is not None and "latency" in options.parts:
        served = settings.model_copy(update={"index_dir": corpus.index_dir})
        results["latency"] = {
            "in_process": measure_in_process(served, embedder, corpus.questions, endpoints=corpus.endpoints)
        }
    if corpus is not None and {"latency", "load"} & set(options.parts):
        with running_server(corpus.index_dir, log=options.work_dir / "server.log") as server:
            if "latency" in options.parts:
                results["latency"]["http"] = measure_http(server.url, corpus.questions, endpoints=corpus.endpoints)
            if "load" in options.parts:
                results["load"] = run_load(
                    server,
                    corpus.questions,
                    endpoints=corpus.endpoints,
                    levels=options.concurrency,
                    requests=options.requests,
                    duration=options.duration,
                    work_dir=options.work_dir,
                )
    if "ingest" in options.parts:
        medquad = options.medquad_file if options.medquad_file.is_file() else None
        results["ingest"] = measure_ingestion(
            settings, embedder, work_dir=options.work_dir, medquad_file=medquad, medquad_records=options.ingest_records
        )
    if corpus is not None and "coldstart" in options.parts:
        results["coldstart"] = measure_cold_start(
            corpus.index_dir, runs=options.coldstart_runs, work_dir=options.work_dir
        )
    if "scale" in options.parts:
        if options.real_index is not None:
            real = index_vectors(
                embedder, options.real_index, medquad_file=options.medquad_file, questions=options.scale.queries
            )
        else:
            real = real_vectors(
                embedder,
                medquad_file=options.medquad_file,
                records=options.real_records,
                questions=options.scale.queries,
                chunker=chunker,
                cache_dir=options.work_dir / "cache",
            )
        results["scale"] = run_scale(real, options.scale)
    if "replicas" in options.parts:
        questions = [q.question for q in load_questions()]
        results["replicas"] = run_replicas(
            settings,
            embedder,
            questions[: options.questions] if options.questions else questions,
            endpoints=options.endpoints,
            replicas=options.replicas,
            levels=options.concurrency,
            requests=options.requests,
            duration=options.duration,
            publishes=options.publishes,
            work_dir=options.work_dir,
        )
    results["machine"]["load_average_at_end"] = load_average()
    return results
