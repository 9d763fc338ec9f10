"""Build a new index version from documents, re-embedding only what changed.

Usage example::

    report = build_index(documents, index_dir=Path("var/index"), embedder=embedder,
                         prepare=lambda doc: chunk_document(doc, ...), chunker_config={...})
    print(report.version, report.chunks_embedded)
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from index import store
from index.dense import DenseType, all_vectors, build_dense, load_dense, resolve_dense_type, save_dense
from index.embedder import Embedder, Vectors
from index.errors import EmbeddingMismatchError, EmptyIndexError, IndexCorruptError, IndexWriteError
from index.sparse import SPARSE_SETTINGS, SparseIndex
from index.store import DENSE_NAME, META_NAME, SENTENCES_NAME, SPARSE_DIR, check_model
from index.types import Chunk, Document, PreparedDocument, Span

logger = logging.getLogger(__name__)

Prepare = Callable[[Document], PreparedDocument]

# How a failed write shows: faiss raises RuntimeError, sqlite a full disk as sqlite3.OperationalError.
_WRITE_ERRORS = (OSError, RuntimeError, ValueError, sqlite3.Error)


@dataclass(frozen=True)
class BuildSettings:
    """How vectors are computed and stored.

    Attributes:
        dense_type: ``flat`` (exact), ``hnsw`` (approximate) or ``auto`` (HNSW past a size).
        batch_size: Texts per embedding batch.
        keep_versions: Published versions kept on disk (older ones are pruned).
        sentence_vectors: Embed every sentence for answer composition; a corpus used
            only for search (e.g. a retrieval benchmark) can skip this costly step.
    """

    dense_type: DenseType = "flat"
    batch_size: int = 64
    keep_versions: int = store.KEEP_VERSIONS
    sentence_vectors: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.keep_versions < 1:
            raise ValueError(f"keep_versions must be >= 1, got {self.keep_versions}")


@dataclass(frozen=True)
class BuildReport:
    """What a build did; ``published`` is False when the index was already up to date."""

    version: str
    published: bool
    documents: int
    chunks: int
    sentences: int
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    chunks_embedded: int = 0
    sentences_embedded: int = 0
    seconds: float = 0.0
    bytes_on_disk: int = 0


@dataclass
class _Entry:
    prepared: PreparedDocument
    chunk_vectors: Vectors | None = None
    sentence_vectors: Vectors | None = None


@dataclass
class _Previous:
    path: Path
    manifest: store.Manifest
    hashes: dict[str, str]
    compatible: bool


def build_index(
    documents: Sequence[Document],
    *,
    index_dir: Path,
    embedder: Embedder,
    prepare: Prepare,
    chunker_config: Mapping[str, Any],
    settings: BuildSettings | None = None,
    progress: bool = True,
) -> BuildReport:
    """Write and publish a new version holding exactly ``documents``.

    Documents whose content, chunker settings and model match the published
    version reuse its vectors; the rest are chunked and embedded. When nothing
    differs, no version is written.

    Raises:
        IndexLockedError: another build holds the lock.
        IndexWriteError: the folder cannot be written; the old version stays published.
    """
    settings = settings or BuildSettings()
    started = time.perf_counter()
    config = dict(chunker_config)
    with store.write_lock(index_dir):
        store.discard_unpublished(index_dir)
        previous = _open_previous(index_dir, embedder, config, sentence_vectors=settings.sentence_vectors)
        by_id = {doc.doc_id: doc for doc in documents}
        new_hashes = {doc_id: doc.content_hash for doc_id, doc in by_id.items()}
        old_hashes = previous.hashes if previous and previous.compatible else {}
        added = sorted(set(new_hashes) - set(previous.hashes if previous else {}))
        removed = sorted(set(previous.hashes if previous else {}) - set(new_hashes))
        changed = sorted(d for d in new_hashes if d not in added and old_hashes.get(d) != new_hashes[d])
        same_dense = previous is not None and previous.manifest.dense.get("requested", "flat") == settings.dense_type
        if previous and previous.compatible and same_dense and not (added or removed or changed):
            counts = previous.manifest.counts
            return BuildReport(
                version=previous.manifest.version,
                published=False,
                documents=counts["documents"],
                chunks=counts["chunks"],
                sentences=counts["sentences"],
                seconds=time.perf_counter() - started,
                bytes_on_disk=_folder_bytes(previous.path),
            )
        entries = _collect(by_id, old_hashes, previous, prepare, progress=progress)
        if not any(e.prepared.chunks for e in entries):
            raise EmptyIndexError(f"nothing to index: the {len(entries)} document(s) hold no sentences of text")
        embedded = _embed_missing(
            entries, embedder, batch_size=settings.batch_size, sentences=settings.sentence_vectors, progress=progress
        )
        manifest = _write_version(index_dir, entries, embedder, config, settings)
        store.prune(index_dir, keep=settings.keep_versions)
        return BuildReport(
            version=manifest.version,
            published=True,
            documents=manifest.counts["documents"],
            chunks=manifest.counts["chunks"],
            sentences=manifest.counts["sentences"],
            added=added,
            changed=changed,
            removed=removed,
            chunks_embedded=embedded[0],
            sentences_embedded=embedded[1],
            seconds=time.perf_counter() - started,
            bytes_on_disk=sum(int(f["bytes"]) for f in manifest.files.values()),
        )


def _open_previous(
    index_dir: Path, embedder: Embedder, chunker_config: dict[str, Any], *, sentence_vectors: bool
) -> _Previous | None:
    """The published version, if it is sound; its vectors are reusable only when compatible."""
    try:
        path = store.version_path(index_dir)
        manifest = store.read_manifest(path)
        store.verify_files(path, manifest)
    except FileNotFoundError:
        return None
    except IndexCorruptError as exc:
        logger.warning("published index is damaged, rebuilding from scratch: %s", exc)
        return None
    compatible = manifest.chunker == chunker_config and manifest.sentence_vectors == sentence_vectors
    try:
        check_model(manifest, embedder, where=path)
    except EmbeddingMismatchError:
        logger.info("the model changed since %s was built; re-embedding everything", manifest.version)
        compatible = False
    with _connect(path / META_NAME, readonly=True) as db:
        hashes = dict(db.execute("SELECT doc_id, content_hash FROM documents").fetchall())
    return _Previous(path=path, manifest=manifest, hashes=hashes, compatible=compatible)


def _collect(
    by_id: Mapping[str, Document],
    old_hashes: Mapping[str, str],
    previous: _Previous | None,
    prepare: Prepare,
    *,
    progress: bool,
) -> list[_Entry]:
    reuse = sorted(d for d, doc in by_id.items() if old_hashes.get(d) == doc.content_hash)
    fresh = sorted(set(by_id) - set(reuse))
    entries: dict[str, _Entry] = {}
    if reuse and previous is not None:
        entries.update(_reuse(previous.path, reuse, by_id))
    for doc_id in tqdm(fresh, desc="chunking", unit="doc", disable=not progress or len(fresh) < 50):
        entries[doc_id] = _Entry(prepare(by_id[doc_id]))
    return [entries[doc_id] for doc_id in sorted(entries)]


def _reuse(path: Path, doc_ids: list[str], by_id: Mapping[str, Document]) -> dict[str, _Entry]:
    """Chunks, sentences and vectors of unchanged documents, read from the previous version."""
    chunk_vectors = all_vectors(load_dense(path / DENSE_NAME))
    sentence_vectors = np.load(path / SENTENCES_NAME)
    wanted = set(doc_ids)
    chunks: dict[str, list[tuple[int, Chunk]]] = {d: [] for d in doc_ids}
    sentences: dict[str, list[tuple[int, Span]]] = {d: [] for d in doc_ids}
    with _connect(path / META_NAME, readonly=True) as db:
        for row in db.execute("SELECT * FROM sentences ORDER BY row"):
            if row["doc_id"] in wanted:
                sentences[row["doc_id"]].append((row["row"], Span(row["start"], row["end"], row["text"])))
        for row in db.execute("SELECT * FROM chunks ORDER BY row"):
            if row["doc_id"] not in wanted:
                continue
            doc_first = sentences[row["doc_id"]][0][0]
            chunk = Chunk(
                doc_id=row["doc_id"],
                ordinal=row["ordinal"],
                section=row["section"],
                start=row["start"],
                end=row["end"],
                text=row["text"],
                sentences=tuple(range(row["first_sentence"] - doc_first, row["last_sentence"] - doc_first + 1)),
                embed_text=row["embed_text"],
                n_tokens=row["n_tokens"],
            )
            chunks[row["doc_id"]].append((row["row"], chunk))
    entries: dict[str, _Entry] = {}
    for doc_id in doc_ids:
        chunk_rows = [r for r, _ in chunks[doc_id]]
        sentence_rows = [r for r, _ in sentences[doc_id]]
        prepared = PreparedDocument(
            by_id[doc_id], tuple(s for _, s in sentences[doc_id]), tuple(c for _, c in chunks[doc_id])
        )
        entries[doc_id] = _Entry(
            prepared,
            chunk_vectors[chunk_rows],
            np.asarray(sentence_vectors[sentence_rows], dtype=np.float32) if len(sentence_vectors) else None,
        )
    return entries


def _embed_missing(
    entries: list[_Entry], embedder: Embedder, *, batch_size: int, sentences: bool, progress: bool
) -> tuple[int, int]:
    """Embed chunks (and, when asked, sentences) of entries that have no vectors yet."""
    todo = [e for e in entries if e.chunk_vectors is None]
    if not todo:
        return 0, 0  # only reuse and removals: the model is never loaded
    chunk_texts = [c.embed_text for e in todo for c in e.prepared.chunks]
    sentence_texts = [s.text for e in todo for s in e.prepared.sentences] if sentences else []
    if progress and chunk_texts:
        logger.info("embedding %d chunks and %d sentences", len(chunk_texts), len(sentence_texts))
    chunk_vectors = _embed_unique(embedder, chunk_texts, batch_size=batch_size, progress=progress, desc="chunks")
    sentence_vectors = _embed_unique(
        embedder, sentence_texts, batch_size=batch_size * 2, progress=progress, desc="sentences"
    )
    chunk_at = sentence_at = 0
    for entry in todo:
        n_chunks, n_sentences = len(entry.prepared.chunks), len(entry.prepared.sentences)
        entry.chunk_vectors = chunk_vectors[chunk_at : chunk_at + n_chunks]
        if sentences:
            entry.sentence_vectors = sentence_vectors[sentence_at : sentence_at + n_sentences]
            sentence_at += n_sentences
        chunk_at += n_chunks
    return len(chunk_texts), len(sentence_texts)


def _embed_unique(embedder: Embedder, texts: list[str], *, batch_size: int, progress: bool, desc: str) -> Vectors:
    """(len(texts), dim) vectors, each distinct text embedded once.

    Health articles repeat themselves: half of MedQuAD's sentences occur more than once.
    """
    distinct = list(dict.fromkeys(texts))
    vectors = embedder.embed_documents(distinct, batch_size=batch_size, progress=progress, desc=f"embedding {desc}")
    if len(distinct) == len(texts):
        return vectors
    row_of = {text: row for row, text in enumerate(distinct)}
    return vectors[[row_of[text] for text in texts]]


def _write_version(
    index_dir: Path,
    entries: list[_Entry],
    embedder: Embedder,
    chunker_config: dict[str, Any],
    settings: BuildSettings,
) -> store.Manifest:
    # Every entry has vectors by now (reused or fresh), and at least one has chunks.
    dim = next(e.chunk_vectors.shape[1] for e in entries if e.chunk_vectors is not None and len(e.chunk_vectors))
    chunk_matrix = _stack([e.chunk_vectors for e in entries], dim)
    sentence_matrix = _stack([e.sentence_vectors for e in entries], dim)
    dense, dense_settings = build_dense(chunk_matrix, dense_type=settings.dense_type)
    sparse = SparseIndex.build([c.embed_text for e in entries for c in e.prepared.chunks])
    writers: list[tuple[str, Callable[[Path], object]]] = [
        (META_NAME, lambda path: _write_sqlite(path, [e.prepared for e in entries])),
        (DENSE_NAME, lambda path: save_dense(dense, path)),
        (SENTENCES_NAME, lambda path: np.save(path, sentence_matrix.astype(np.float16))),
        (SPARSE_DIR, sparse.save),
    ]
    with store.staging_folder(index_dir) as staging:
        for name, write in writers:
            try:
                write(staging / name)
            except _WRITE_ERRORS as exc:
                raise IndexWriteError(f"cannot write {name} of the new index version in {index_dir}: {exc}") from exc
        try:
            _check_written(staging, chunks=len(chunk_matrix), sentences=len(sentence_matrix), dim=dim)
        except _WRITE_ERRORS as exc:
            raise IndexWriteError(f"the new index version in {index_dir} does not read back as written: {exc}") from exc
        manifest = store.new_manifest(
            version=store.next_version_name(index_dir),
            model=store.ModelInfo(
                name=embedder.name, dim=dim, fingerprint=embedder.fingerprint, max_tokens=_max_tokens(embedder)
            ),
            chunker=chunker_config,
            dense={
                **dense_settings,
                "requested": settings.dense_type,
                "resolved": resolve_dense_type(settings.dense_type, len(chunk_matrix)),
            },
            sparse=dict(SPARSE_SETTINGS),
            sentence_vectors=settings.sentence_vectors,
            counts={
                "documents": len(entries),
                "chunks": int(chunk_matrix.shape[0]),
                "sentences": sum(len(e.prepared.sentences) for e in entries),
            },
        )
        return store.publish(index_dir, staging, manifest)


def _check_written(folder: Path, *, chunks: int, sentences: int, dim: int) -> None:
    """Read the staged files back before they are hashed and published.

    A writer that misses a failed write (e.g. a full disk noticed only when the
    file is closed) would otherwise publish a version that cannot load.

    Raises:
        ValueError: naming the file that does not hold what was written.
        OSError, RuntimeError, sqlite3.Error: a file cannot be read at all.
    """
    dense = load_dense(folder / DENSE_NAME)
    if (dense.ntotal, dense.d) != (chunks, dim):
        raise ValueError(f"{folder / DENSE_NAME} holds {dense.ntotal} x {dense.d} vectors, expected {chunks} x {dim}")
    stored = np.load(folder / SENTENCES_NAME, mmap_mode="r")
    if stored.shape != (sentences, dim):
        raise ValueError(f"{folder / SENTENCES_NAME} has shape {stored.shape}, expected {(sentences, dim)}")
    with _connect(folder / META_NAME, readonly=True) as db:
        rows = db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    if rows != chunks:
        raise ValueError(f"{folder / META_NAME} holds {rows} chunks, expected {chunks}")
    SparseIndex.load(folder / SPARSE_DIR)


def _max_tokens(embedder: Embedder) -> int:
    try:
        return int(embedder.max_tokens)
    except (AttributeError, TypeError, ValueError):
        return 0


def _stack(parts: Iterable[Vectors | None], dim: int) -> Vectors:
    arrays = [p for p in parts if p is not None and len(p)]
    if not arrays:
        return np.zeros((0, dim), dtype=np.float32)
    return np.ascontiguousarray(np.vstack(arrays), dtype=np.float32)


def _write_sqlite(path: Path, prepared: list[PreparedDocument]) -> None:
    with _connect(path, readonly=False) as db:
        db.executescript(
            """
            CREATE TABLE documents (doc_id TEXT PRIMARY KEY, title TEXT, url TEXT, source TEXT, text TEXT,
                metadata_json TEXT, content_hash TEXT, first_chunk INTEGER, n_chunks INTEGER,
                first_sentence INTEGER, n_sentences INTEGER);
            CREATE TABLE chunks (row INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE, doc_id TEXT, ordinal INTEGER,
                section TEXT, start INTEGER, "end" INTEGER, text TEXT, embed_text TEXT,
                first_sentence INTEGER, last_sentence INTEGER, n_tokens INTEGER);
            CREATE TABLE sentences (row INTEGER PRIMARY KEY, doc_id TEXT, ordinal INTEGER, start INTEGER,
                "end" INTEGER, text TEXT, section TEXT);
            CREATE INDEX chunks_doc ON chunks (doc_id);
            CREATE INDEX sentences_doc ON sentences (doc_id);
            """
        )
        chunk_row = sentence_row = 0
        for item in prepared:
            doc = item.document
            section_of = _sentence_sections(item)
            db.execute(
                "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    doc.doc_id,
                    doc.title,
                    doc.url,
                    doc.source,
                    doc.text,
                    json.dumps(doc.metadata, ensure_ascii=False, default=str),
                    doc.content_hash,
                    chunk_row,
                    len(item.chunks),
                    sentence_row,
                    len(item.sentences),
                ),
            )
            db.executemany(
                "INSERT INTO sentences VALUES (?,?,?,?,?,?,?)",
                [
                    (sentence_row + i, doc.doc_id, i, s.start, s.end, s.text, section_of[i])
                    for i, s in enumerate(item.sentences)
                ],
            )
            db.executemany(
                "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        chunk_row + i,
                        c.chunk_id,
                        doc.doc_id,
                        c.ordinal,
                        c.section,
                        c.start,
                        c.end,
                        c.text,
                        c.embed_text,
                        sentence_row + c.sentences[0],
                        sentence_row + c.sentences[-1],
                        c.n_tokens,
                    )
                    for i, c in enumerate(item.chunks)
                ],
            )
            chunk_row += len(item.chunks)
            sentence_row += len(item.sentences)
        db.commit()


def _sentence_sections(item: PreparedDocument) -> list[str]:
    sections = [""] * len(item.sentences)
    for chunk in item.chunks:
        for i in chunk.sentences:
            sections[i] = chunk.section
    return sections


@contextlib.contextmanager
def _connect(path: Path, *, readonly: bool) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True) if readonly else sqlite3.connect(path)
    connection.row_factory = sqlite3.Row
    try:
        yield connection
    finally:
        connection.close()


def _folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
