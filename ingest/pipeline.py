"""Sources in, a published index version out."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from index import BuildReport, Document, Embedder, PreparedDocument, build_index
from ingest.chunking import chunk_document
from ingest.errors import IngestInputError, NoDocumentsError, Problem
from ingest.loaders import load_sources
from ingest.screening import FlaggedDocument
from settings import BuildSettings, ChunkerSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    """The build report plus what was skipped along the way and what screening flagged.

    ``flagged`` lists every document with suspicious content (AI instructions, scripts, raw HTML),
    each with its reasons; those documents are in the index all the same, as plain text.
    """

    build: BuildReport
    skipped: list[Problem]
    ignored: list[str]
    flagged: list[FlaggedDocument] = field(default_factory=list)
    load_seconds: float = 0.0  # reading, parsing and screening the sources (the build times the rest)


def chunker_config(embedder: Embedder, settings: ChunkerSettings) -> dict[str, object]:
    """The chunker settings as recorded in the manifest, with the budget clamped to the model."""
    effective = min(settings.chunk_tokens, embedder.max_tokens)
    return {**asdict(settings), "chunk_tokens": effective, "segmenter": "blingfire"}


def ingest(
    sources: Sequence[Path],
    *,
    index_dir: Path,
    embedder: Embedder,
    chunker: ChunkerSettings | None = None,
    build: BuildSettings | None = None,
    keep_going: bool = False,
    progress: bool = True,
) -> IngestResult:
    """Load the sources, chunk and embed what changed, and publish a new version.

    Documents that screening flags (AI instructions, scripts, raw HTML) are ingested like any
    other, their text unchanged, and listed with the reasons in ``IngestResult.flagged``.

    Args:
        sources: Files and folders to read.
        index_dir: Where the versioned index lives.
        embedder: The model that embeds chunks and sentences.
        chunker: Chunk size and overlap.
        build: Dense index type and batch size.
        keep_going: Skip bad files and records (they are listed in the result)
            instead of failing.
        progress: Show progress bars.

    Raises:
        IngestInputError: a source was bad and ``keep_going`` is off.
        NoDocumentsError: nothing usable was found.
        IndexLockedError, IndexWriteError: from the index writer.
    """
    chunker = chunker or ChunkerSettings()
    started = time.perf_counter()
    loaded = load_sources(sources)
    load_seconds = time.perf_counter() - started
    if loaded.problems and not keep_going:
        raise IngestInputError(loaded.problems)
    if not loaded.documents:
        named = ", ".join(str(s) for s in sources)
        raise NoDocumentsError(f"no documents found in {named} (supported: .md, .txt, .html, .jsonl, .jsonl.gz)")
    config = chunker_config(embedder, chunker)
    effective = ChunkerSettings(
        chunk_tokens=int(str(config["chunk_tokens"])),
        chunk_overlap=chunker.chunk_overlap,
        contextualize=chunker.contextualize,
    )

    def prepare(document: Document) -> PreparedDocument:
        return chunk_document(document, count_tokens=embedder.count_tokens, settings=effective)

    report = build_index(
        loaded.documents,
        index_dir=index_dir,
        embedder=embedder,
        prepare=prepare,
        chunker_config=config,
        settings=build,
        progress=progress,
    )
    return IngestResult(
        build=report,
        skipped=loaded.problems,
        ignored=loaded.ignored,
        flagged=loaded.flagged,
        load_seconds=round(load_seconds, 4),
    )
