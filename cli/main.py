"""``healthqa``: build the index, search it, and (in later subcommands) serve it.

Exit codes: 0 success, 1 bad input or a failed run (the message says why),
2 wrong usage.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn, get_args

import typer
from rich.table import Table

from answer import LearnedModels
from cli import console
from cli.feedback import feedback_app
from index import (
    SEARCH_MODES,
    Embedder,
    EmbeddingMismatchError,
    EmptyIndexError,
    IndexCorruptError,
    IndexLockedError,
    IndexNotBuiltError,
    IndexWriteError,
    ModelNotFoundError,
    SearchIndex,
    open_embedder,
)
from ingest import IngestInputError, NoDocumentsError, ingest
from settings import ChunkerSettings, DenseType, Settings, get_settings

if TYPE_CHECKING:  # the evaluation and benchmark libraries (extras) load only for the commands that run them
    from eval.bench import ScaleOptions
    from eval.run import Suite

app = typer.Typer(
    name="healthqa",
    help=(
        "Question answering over consumer health articles.\n\n"
        "Typical use: 'healthqa ingest corpus/articles' builds the index (incrementally: "
        "only changed articles are re-embedded), then 'healthqa search \"knee pain after squats\"' "
        "shows the passages it finds. Settings come from HEALTHQA_* environment variables or .env; "
        "options given here win."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(feedback_app)

# The errors a user can cause and fix; anything else is a bug and keeps its traceback.
USER_ERRORS = (
    EmptyIndexError,
    IngestInputError,
    NoDocumentsError,
    IndexLockedError,
    IndexWriteError,
    IndexNotBuiltError,
    IndexCorruptError,
    EmbeddingMismatchError,
    ModelNotFoundError,
)

IndexOption = Annotated[
    Path | None,
    typer.Option("--index", help="Index folder (default: HEALTHQA_INDEX_DIR or var/index).", show_default=False),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model", help="Sentence-transformers model folder or name (default: HEALTHQA_MODEL).", show_default=False
    ),
]


class SuiteChoice(StrEnum):
    """``--suite`` choices: the names of ``eval.run.Suite`` (a test checks they agree)."""

    corpus = "corpus"
    mediqa = "mediqa"
    medquad_quick = "medquad-quick"
    medquad = "medquad"


def _fail(message: str) -> NoReturn:
    console.err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _settings(index: Path | None, model: str | None) -> Settings:
    updates: dict[str, object] = {}
    if index is not None:
        updates["index_dir"] = index
    if model is not None:
        updates["model"] = model
    return get_settings().model_copy(update=updates)


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug logs.")] = False,
) -> None:
    console.fresh()
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx2 is not a typo: starlette's TestClient and huggingface_hub log requests through that package.
    for noisy in ("sentence_transformers", "transformers", "httpx", "httpx2", "faiss", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


@app.command("ingest")
def ingest_command(
    sources: Annotated[
        list[Path],
        typer.Argument(
            help="Files or folders: .md with YAML front matter, .txt, .html, .jsonl / .jsonl.gz "
            "({id, title, text, url, ...} per line, or MedQuAD records). Folders are read recursively.",
            show_default=False,
        ),
    ],
    index: IndexOption = None,
    model: ModelOption = None,
    keep_going: Annotated[
        bool, typer.Option("--keep-going", help="Skip bad files and records, list them at the end, and still publish.")
    ] = False,
    chunk_tokens: Annotated[
        int | None, typer.Option(help="Most tokens in a chunk (clamped to the model's limit).", min=16)
    ] = None,
    chunk_overlap: Annotated[
        int | None, typer.Option(help="Sentences shared by neighbouring chunks.", min=0, max=5)
    ] = None,
    dense_type: Annotated[
        DenseType | None, typer.Option(help="FAISS index type: flat (exact), hnsw (approximate) or auto.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Build or update the index from articles.

    Unchanged articles keep their vectors, changed ones are re-embedded, and
    articles no longer in SOURCES are removed. The new version is published
    atomically: if anything fails, the previous version keeps serving.
    Articles holding scripts, raw HTML or instructions addressed to an AI are
    ingested as plain text and listed at the end with the reasons. It also
    builds the red-flag backstop's example bank into HEALTHQA_MODEL_CACHE_DIR
    (var/models), so the service starts without that cost.

    Example: healthqa ingest corpus/articles --index var/index
    """
    settings = _settings(index, model)
    chunker = ChunkerSettings(
        chunk_tokens=chunk_tokens or settings.chunk_tokens,
        chunk_overlap=settings.chunk_overlap if chunk_overlap is None else chunk_overlap,
    )
    build = settings.build_settings(dense_type=dense_type)
    try:
        embedder = open_embedder(settings.embedder_settings())
        result = ingest(
            sources,
            index_dir=settings.index_dir,
            embedder=embedder,
            chunker=chunker,
            build=build,
            keep_going=keep_going,
            progress=not quiet,
        )
    except USER_ERRORS as exc:
        _fail(str(exc))
    report = result.build
    if report.published:
        console.out.print(
            f"Published index version [bold]{report.version}[/] in {settings.index_dir}: "
            f"{report.documents} documents, {report.chunks} chunks, {report.sentences} sentences "
            f"({len(report.added)} added, {len(report.changed)} changed, {len(report.removed)} removed; "
            f"embedded {report.chunks_embedded} chunks and {report.sentences_embedded} sentences) "
            f"in {report.seconds:.1f} s, {report.bytes_on_disk / 1e6:.1f} MB on disk.",
            highlight=False,
        )
    else:
        console.out.print(
            f"Index version [bold]{report.version}[/] in {settings.index_dir} is up to date "
            f"({report.documents} documents, {report.chunks} chunks); nothing to embed.",
            highlight=False,
        )
    if result.skipped:
        console.err.print(f"[yellow]Skipped {len(result.skipped)} bad source(s):[/]", highlight=False)
        for problem in result.skipped:
            console.err.print(f"  - {problem}", highlight=False, soft_wrap=True)
    if result.ignored:
        console.err.print(
            f"Ignored {len(result.ignored)} file(s) of other types (e.g. {result.ignored[0]}).", highlight=False
        )
    if result.flagged:
        from cli.render import print_flagged

        print_flagged(console.err, result.flagged)
    _prepare_models(settings, embedder)


def _prepare_models(settings: Settings, embedder: Embedder) -> None:
    """Build the red-flag backstop's example bank into the model cache, so the service starts without that cost.

    A backstop that does not fit this model or these examples does not fail the ingest (the index is good);
    the service will not be ready, and this says why now.
    """
    from answer import ArtifactError, load_models
    from triage import RedFlagCatalogueError

    try:
        load_models(
            settings.models_dir,
            embedder=embedder,
            cache_dir=settings.model_cache_dir,
            catalogue_path=settings.redflag_catalogue,
        )
    except (ArtifactError, RedFlagCatalogueError, OSError, ValueError) as exc:
        console.err.print(
            f"[yellow]warning:[/] the service will not be ready: the learned models cannot be loaded: {exc}",
            highlight=False,
            soft_wrap=True,
        )


@app.command("search")
def search_command(
    query: Annotated[str, typer.Argument(help="What to look for, in plain words.", show_default=False)],
    k: Annotated[int, typer.Option("--k", "-k", help="How many passages to show.", min=1, max=100)] = 5,
    mode: Annotated[str, typer.Option(help="hybrid (dense + BM25 fused), dense, or sparse (BM25).")] = "hybrid",
    index: IndexOption = None,
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the hits as JSON.")] = False,
) -> None:
    """Show the passages the index ranks highest for a query, with scores, titles and sources.

    Example: healthqa search "is it normal for my knees to ache after the gym" -k 3
    """
    if mode not in SEARCH_MODES:
        _fail(f"--mode must be one of {', '.join(SEARCH_MODES)}, got {mode!r}")
    if not query.strip():
        _fail("the query is empty")
    settings = _settings(index, model)
    try:
        embedder = open_embedder(settings.embedder_settings())
        search_index = SearchIndex.load(
            settings.index_dir,
            embedder=embedder,
            settings=settings.search_settings(),
        )
        hits = search_index.search(query, k=k, mode=mode)
    except USER_ERRORS as exc:
        _fail(str(exc))
    if as_json:
        console.out.print_json(json.dumps({"version": search_index.version, "hits": [asdict(h) for h in hits]}))
        return
    if not hits:
        console.out.print("No passage matches that query.")
        return
    table = Table(title=f"{len(hits)} passages for {query!r} ({mode}, index {search_index.version})", show_lines=True)
    for column in ("#", "score", "article", "passage"):
        table.add_column(column, overflow="fold")
    for hit in hits:
        source = f"{hit.title}\n[dim]{hit.url or hit.doc_id}[/]" + (f"\n[dim]§ {hit.section}[/]" if hit.section else "")
        passage = hit.text if len(hit.text) <= 400 else hit.text[:400].rsplit(" ", 1)[0] + " …"
        table.add_row(str(hit.rank), f"{hit.score:.4f}", source, passage)
    console.out.print(table)


def _load_index(settings: Settings) -> SearchIndex:
    try:
        embedder = open_embedder(settings.embedder_settings())
        return SearchIndex.load(settings.index_dir, embedder=embedder, settings=settings.search_settings())
    except USER_ERRORS as exc:
        _fail(str(exc))


def _load_models(settings: Settings, embedder: Embedder) -> LearnedModels:
    """The learned models, as the service loads them (building the backstop's example bank on a cache miss)."""
    from answer import ArtifactError, load_models
    from triage import RedFlagCatalogueError

    try:
        return load_models(
            settings.models_dir,
            embedder=embedder,
            cache_dir=settings.model_cache_dir,
            catalogue_path=settings.redflag_catalogue,
        )
    except (ArtifactError, RedFlagCatalogueError, OSError, ValueError) as exc:
        _fail(f"the learned models cannot be loaded: {exc}")


@app.command("serve")
def serve_command(
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on (default: HEALTHQA_HOST or 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: HEALTHQA_PORT or 8000).", min=1, max=65535)] = None,
    index: IndexOption = None,
    model: ModelOption = None,
) -> None:
    """Start the query API (FastAPI on uvicorn); OpenAPI docs at /docs.

    The index is loaded and verified at start, and each version ingest publishes
    later is loaded and verified the same way within HEALTHQA_INDEX_WATCH_S seconds
    (2; 0 turns that off), so replicas sharing one index folder follow it by
    themselves. 'POST /v1/admin/reload' (with HEALTHQA_ADMIN_API_KEY set) does it at once.

    Example: healthqa serve --port 8000
    """
    from service.main import serve

    updates: dict[str, object] = {}
    if host is not None:
        updates["host"] = host
    if port is not None:
        updates["port"] = port
    try:
        serve(_settings(index, model).model_copy(update=updates))
    except ModelNotFoundError as exc:
        _fail(str(exc))


@app.command("ui")
def ui_command(
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on (default: HEALTHQA_UI_HOST or 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default: HEALTHQA_UI_PORT or 8501).", min=1, max=65535)
    ] = None,
    api_url: Annotated[
        str | None,
        typer.Option("--api-url", help="The API's base URL (default: HEALTHQA_UI_API_URL or http://127.0.0.1:8000)."),
    ] = None,
) -> None:
    """Start the web UI (Streamlit) for a running API; open http://HOST:PORT in a browser.

    Start the API first ('healthqa serve'); the page says so kindly if it can't reach it.

    Example: healthqa ui --port 8501 --api-url http://127.0.0.1:8000
    """
    import subprocess

    from ui.config import UISettings
    from ui.launch import run_ui

    settings = UISettings()
    try:
        run_ui(host=host or settings.host, port=port or settings.port, api_url=api_url or settings.api_url)
    except subprocess.CalledProcessError as exc:
        _fail(f"the web UI stopped with exit code {exc.returncode}; Streamlit's message above says why")


@app.command("ask")
def ask_command(
    question: Annotated[str, typer.Argument(help="Your question, in plain words.", show_default=False)],
    k: Annotated[int | None, typer.Option("--k", "-k", help="Passages to retrieve.", min=1, max=20)] = None,
    index: IndexOption = None,
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as the API returns it.")] = False,
) -> None:
    """Answer a question from the articles, with citations, red flags and the disclaimer.

    Example: healthqa ask "is it normal for my knees to ache after the gym?"
    """
    from answer import QuestionError, answer_question, answer_to_dict, clean_question

    settings = _settings(index, model)
    try:
        text = clean_question(question, limit=settings.max_question_chars)
    except QuestionError as exc:
        _fail(str(exc))
    search_index = _load_index(settings)
    models = _load_models(settings, search_index.embedder)
    answer = answer_question(
        text,
        search_index,
        settings=settings.answer_settings(),
        triage=models.triage,
        abstention=models.abstention,
        k=k,
    )
    if as_json:
        console.out.print_json(json.dumps(answer_to_dict(answer)))
        return
    from cli.render import print_answer

    print_answer(console.out, answer)


@app.command("calibrate")
def calibrate_command(
    index: IndexOption = None,
    model: ModelOption = None,
    write: Annotated[
        bool, typer.Option("--write", help="Store the result in models/abstention.json, the shipped default.")
    ] = False,
) -> None:
    """Choose the abstention model and threshold from the tuning questions (never the held-out ones).

    Prints the tables the choice was made from (feature sets by cross-validated ROC AUC, then the
    thresholds of the chosen model) and how it does; --write makes it the default
    (models/abstention.json). Run it after the corpus, the model or the chunker changes.

    Example: healthqa ingest corpus/articles && healthqa calibrate --write
    """
    from answer import ABSTENTION_FILE, write_artifact
    from eval.calibrate import calibrate

    settings = _settings(index, model)
    search_index = _load_index(settings)
    models = _load_models(settings, search_index.embedder)
    result = calibrate(search_index, settings.answer_settings(), models)
    chosen = result.model
    configured = models.abstention.threshold if settings.abstain_threshold is None else settings.abstain_threshold
    terms = " ".join(f"{w:+.3f}*{name}" for name, w in zip(chosen.features, chosen.weights, strict=True))
    console.out.print("\n".join(result.table()), highlight=False)
    console.out.print(
        f"\nCalibrated on {result.questions} tuning questions (index {search_index.version}; "
        "requests declined by rule (instructions, medicine doses) left out):\n"
        f"  confidence = sigmoid({chosen.bias:+.3f} {terms})\n"
        f"  abstain_threshold = {chosen.threshold:.4f}   (configured now: {configured:.4f})\n"
        f"  ROC AUC in-scope vs out-of-scope = {result.auc:.3f}\n"
        f"  answered in scope = {result.answer_rate_in_scope:.1%}, declined out of scope = {result.decline_rate_out_of_scope:.1%}",
        highlight=False,
    )
    if write:
        path = settings.models_dir / ABSTENTION_FILE
        write_artifact(path, chosen.to_json())
        console.out.print(f"Wrote {path}", highlight=False)


@app.command("eval")
def eval_command(
    suite: Annotated[
        list[SuiteChoice] | None,
        typer.Option(
            "--suite",
            "-s",
            help="corpus (labelled questions over the shipped articles), mediqa (real consumer questions over "
            "judged passages), medquad-quick (CI subset) or medquad (the full benchmark: 16,407 answers, "
            "1,000 questions). Repeat for several; default: corpus and medquad-quick.",
        ),
    ] = None,
    gate: Annotated[
        bool, typer.Option("--gate", help="Exit 1 when a metric falls outside eval/thresholds.toml.")
    ] = False,
    thresholds: Annotated[Path | None, typer.Option(help="Thresholds file (default: eval/thresholds.toml).")] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Where reports go: a timestamped folder per run, and 'latest'.")
    ] = Path("var/eval/reports"),
    work_dir: Annotated[Path, typer.Option(help="Where the evaluation indexes live (rebuilt incrementally).")] = Path(
        "var/eval"
    ),
    model: ModelOption = None,
    questions: Annotated[
        Path | None,
        typer.Option(
            "--questions",
            help="Labelled questions for the corpus suite instead of eval/data/questions.jsonl, e.g. a reviewed "
            "'healthqa feedback export'.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Measure retrieval, answers, abstention and red flags; optionally gate on the thresholds.

    Each run writes results.json, report.md and plots to OUT/<time>/ (and OUT/latest/).
    The held-out questions are reported apart from the tuning ones.

    Example: healthqa eval --gate
    """
    import shutil

    from eval.gate import THRESHOLDS_FILE, check_gate, load_thresholds
    from eval.questions import QUESTIONS_FILE, load_questions
    from eval.report import write_report
    from eval.run import Suite, run_eval

    by_name: dict[str, Suite] = {name: name for name in get_args(Suite)}
    chosen: list[Suite] = [by_name[s.value] for s in suite] if suite else ["corpus", "medquad-quick"]
    settings = _settings(None, model)
    try:
        bounds = load_thresholds(thresholds or THRESHOLDS_FILE) if gate else None
        if questions is not None:
            load_questions(questions)  # a file that is not fully labelled fails here, before any model work
        embedder = open_embedder(settings.embedder_settings())
        results = run_eval(
            chosen,
            settings=settings,
            embedder=embedder,
            work_dir=work_dir,
            questions_file=questions or QUESTIONS_FILE,
        )
    except (*USER_ERRORS, FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    failures = check_gate(results, bounds) if bounds is not None else []
    if bounds is not None:
        results["gate"] = {"passed": not failures, "failures": failures}
    run_dir = out_dir / results["run_at"].replace(":", "-")
    report = write_report(results, run_dir)
    latest = out_dir / "latest"
    shutil.rmtree(latest, ignore_errors=True)
    shutil.copytree(run_dir, latest)
    from cli.render import print_eval_summary

    print_eval_summary(console.out, results)
    console.out.print(f"\nReport: {report}  (also {latest / 'report.md'})", highlight=False)
    if failures:
        console.err.print("[bold red]Gate failed:[/]", highlight=False)
        for failure in failures:
            console.err.print(f"  - {failure}", highlight=False)
        raise typer.Exit(1)
    if bounds is not None:
        console.out.print("Gate passed.", highlight=False)


@app.command("sweep")
def sweep_command(
    name: Annotated[str, typer.Argument(help="Which sweep: fusion, alpha, doc-score, ... (see the list in --help).")],
    tuning_set: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Tuning set(s) to score on: corpus, mediqa, medquad (the 500-question MedQuAD tuning draw; "
            "needs the full MedQuAD index, about 15 minutes to build the first time). Default: all three.",
        ),
    ] = None,
    work_dir: Annotated[
        Path, typer.Option(help="Where the evaluation indexes live (shared with healthqa eval).")
    ] = Path("var/eval"),
    model: ModelOption = None,
) -> None:
    """Re-run the sweep a ranking setting was chosen from, on tuning splits only, and print its table.

    Sweeps: fusion, alpha (and the others listed in eval/sweeps.py). Held-out questions and
    benchmark questions are never used.

    Example: healthqa sweep alpha --set mediqa --set corpus
    """
    from eval.sweeps import SWEEPS, TUNING_SETS, run_sweep

    if name not in SWEEPS:
        _fail(f"unknown sweep {name!r}: choose {', '.join(SWEEPS)}")
    chosen = tuning_set or list(TUNING_SETS)
    unknown = [s for s in chosen if s not in TUNING_SETS]
    if unknown:
        _fail(f"unknown tuning set {unknown[0]!r}: choose {', '.join(TUNING_SETS)}")
    settings = _settings(None, model)
    chunker = settings.chunker_settings()
    try:
        table = run_sweep(
            name,
            embedder=open_embedder(settings.embedder_settings()),
            base=settings.search_settings(),
            chunker=chunker,
            work_dir=work_dir,
            build=settings.build_settings(),
            sets=[s for s in TUNING_SETS if s in chosen],
        )
    except (*USER_ERRORS, FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    from cli.render import print_sweep

    print_sweep(console.out, table)


def _counts(text: str, option: str) -> tuple[int, ...]:
    """``"10k,100k,1M"`` → ``(10000, 100000, 1000000)``; a clear error for anything else."""
    values = []
    for item in text.split(","):
        item = item.strip().lower()
        scale = {"k": 1_000, "m": 1_000_000}.get(item[-1:], 1)
        digits = item[:-1] if scale > 1 else item
        try:
            value = round(float(digits) * scale)
        except ValueError:
            _fail(f"{option} takes whole numbers separated by commas (10k and 1M allowed), got {text!r}")
        if value < 1:
            _fail(f"{option} values must be >= 1, got {text!r}")
        values.append(value)
    return tuple(values)


@app.command("bench")
def bench_command(
    part: Annotated[
        list[str] | None,
        typer.Option(
            "--part",
            "-p",
            help="latency (sequential, in process and over HTTP), load (concurrent clients from another "
            "process), ingest, coldstart, scale (dense search at 10k-1M vectors), replicas (1 vs 3 replicas behind "
            "nginx, and how fast they follow a publish; needs nginx). Repeat for several; default: all but replicas.",
        ),
    ] = None,
    corpus: Annotated[
        Literal["shipped", "medquad"],  # eval.bench.run.CorpusName (mypy checks they agree; importing it is slow)
        typer.Option(help="Index the query parts run on: shipped (the articles) or medquad (all of MedQuAD)."),
    ] = "shipped",
    index: Annotated[
        Path | None,
        typer.Option("--index", help="A built index to query as is (default: one kept under --work-dir)."),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Where reports go: a timestamped folder per run, and 'latest'.")
    ] = Path("var/bench"),
    work_dir: Annotated[
        Path, typer.Option(help="Indexes, cached vectors and server logs of the bench (reused between runs).")
    ] = Path("var/bench/work"),
    questions: Annotated[
        int, typer.Option(help="Questions per query part (0: all 198 labelled ones, or 500 from MedQuAD).", min=0)
    ] = 0,
    endpoint: Annotated[
        list[str] | None, typer.Option("--endpoint", "-e", help="ask and/or search (default: both).")
    ] = None,
    concurrency: Annotated[str, typer.Option(help="Concurrent clients of each load level.")] = "1,4,16,64",
    requests: Annotated[int, typer.Option(help="Most requests per load level.", min=1)] = 1000,
    duration: Annotated[float, typer.Option(help="Most seconds per load level.", min=0.1)] = 30.0,
    coldstart_runs: Annotated[int, typer.Option(help="Server starts; the median is reported.", min=1)] = 5,
    ingest_records: Annotated[
        int, typer.Option(help="MedQuAD records ingested fresh in the ingest part (0: skip).", min=0)
    ] = 1000,
    sizes: Annotated[str, typer.Option(help="Vectors in each scale corpus.")] = "10k,100k,1M",
    methods: Annotated[str, typer.Option(help="Dense indexes the scale part compares.")] = "flat,hnsw,ivf",
    ef_search: Annotated[str, typer.Option(help="HNSW efSearch values to sweep.")] = "16,32,64,128,256,512",
    nprobe: Annotated[str, typer.Option(help="IVF nprobe values to sweep.")] = "4,8,16,32,64,128,256",
    hnsw_m: Annotated[int | None, typer.Option(help="HNSW graph degree M (default: the product's).", min=2)] = None,
    ef_construction: Annotated[
        int | None, typer.Option(help="HNSW efConstruction (default: the product's).", min=1)
    ] = None,
    scale_queries: Annotated[int, typer.Option(help="Scale queries of each kind (real, held-out).", min=1)] = 200,
    real_records: Annotated[
        int, typer.Option(help="MedQuAD answers whose chunk vectors seed the scale corpora (embedded once).", min=2)
    ] = 800,
    real_index: Annotated[
        Path | None,
        typer.Option(
            help="Seed the scale corpora with every chunk vector of this built index instead, e.g. "
            "var/eval/index-medquad from 'healthqa eval --suite medquad' (realistic at 1M; see the report)."
        ),
    ] = None,
    faiss_threads: Annotated[int, typer.Option(help="FAISS threads while timing single queries.", min=1)] = 1,
) -> None:
    """Measure speed and scale: latency, load, ingestion, cold start, search at 10k-1M vectors.

    Writes results.json, report.md and plots to OUT/<time>/ and OUT/latest/.
    The query parts start 'healthqa serve' on a free loopback port with this
    environment (HEALTHQA_* settings, the embedding backend too), request
    limits lifted. Exits 1 if any request failed. Timings are only as quiet
    as the machine: the report notes the load average.

    Examples:

      healthqa bench   (all parts, shipped articles; the 1M step takes a while)

      healthqa bench -p latency -p load --requests 100 --concurrency 1,4

      healthqa bench -p latency -p load --corpus medquad   (builds it once: long)

      healthqa bench -p latency --corpus medquad --index var/medquad

      healthqa bench -p ingest -p coldstart --ingest-records 200

      healthqa bench -p scale --sizes 10k,100k --methods flat,hnsw

      healthqa bench -p scale --real-index var/eval/index-medquad   (1M, realistic)

      healthqa bench -p replicas --concurrency 16 --requests 2000   (needs Debian's nginx)
    """
    from eval.bench import BenchOptions, run_bench, write_bench_report
    from eval.bench.server import ServerError

    settings = _settings(None, None)
    # The in-process app logs every request; hundreds of lines would bury the progress.
    with _quieter("service", "httpx", "httpx2"):
        try:
            options = BenchOptions(
                parts=tuple(part or ("latency", "load", "ingest", "coldstart", "scale")),
                corpus=corpus,
                index_dir=index,
                work_dir=work_dir,
                questions=questions,
                endpoints=tuple(endpoint or ("ask", "search")),
                concurrency=_counts(concurrency, "--concurrency"),
                requests=requests,
                duration=duration,
                coldstart_runs=coldstart_runs,
                ingest_records=ingest_records,
                real_records=real_records,
                real_index=real_index,
                scale=_scale_options(
                    sizes=sizes,
                    queries=scale_queries,
                    methods=methods,
                    hnsw_m=hnsw_m,
                    ef_construction=ef_construction,
                    ef_search=ef_search,
                    nprobe=nprobe,
                    threads=faiss_threads,
                ),
            )
            results = run_bench(options, settings)
        except (*USER_ERRORS, ServerError, FileNotFoundError, ValueError) as exc:
            _fail(str(exc))
    _print_bench(results, out_dir, write_bench_report)


@contextlib.contextmanager
def _quieter(*names: str) -> Iterator[None]:
    """Loggers ``names`` at WARNING for the block; their levels restored after."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _scale_options(
    *,
    sizes: str,
    queries: int,
    methods: str,
    hnsw_m: int | None,
    ef_construction: int | None,
    ef_search: str,
    nprobe: str,
    threads: int,
) -> ScaleOptions:
    """The scale part's options from the command line's text; a clear error for a bad list."""
    from eval.bench import ScaleOptions
    from index import HNSWParams

    defaults = HNSWParams()
    return ScaleOptions(
        sizes=_counts(sizes, "--sizes"),
        queries=queries,
        methods=tuple(m.strip() for m in methods.split(",")),
        hnsw=HNSWParams(m=hnsw_m or defaults.m, ef_construction=ef_construction or defaults.ef_construction),
        ef_search=_counts(ef_search, "--ef-search"),
        nprobe=_counts(nprobe, "--nprobe"),
        threads=threads,
    )


def _print_bench(results: dict[str, Any], out_dir: Path, write_report: Callable[[dict[str, Any], Path], Path]) -> None:
    """Write the report under OUT/<time>/ and OUT/latest/, print the summary; exit 1 if requests failed."""
    import shutil

    from eval.bench.report import error_lines, summary_lines

    run_dir = out_dir / results["run_at"].replace(":", "-")
    report = write_report(results, run_dir)
    latest = out_dir / "latest"
    shutil.rmtree(latest, ignore_errors=True)
    shutil.copytree(run_dir, latest)
    for line in summary_lines(results):
        console.out.print(line, highlight=False)
    console.out.print(f"\nReport: {report}  (also {latest / 'report.md'})", highlight=False)
    problems = error_lines(results)
    if problems:
        console.err.print("[bold red]Requests failed during the benchmark:[/]", highlight=False)
        for problem in problems:
            console.err.print(f"  - {problem}", highlight=False)
        raise typer.Exit(1)
