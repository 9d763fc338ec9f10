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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from index import store
from index.dense import all_vectors, build_dense, load_dense, resolve_dense_type, save_dense
from index.embedding import CharSpan, Embedder, SpanEmbedder, Vectors
from index.errors import EmbeddingMismatchError, EmptyIndexError, IndexCorruptError, IndexFormatError, IndexWriteError
from index.sparse import SPARSE_SETTINGS, SparseIndex
from index.store import DENSE_NAME, META_NAME, SENTENCES_NAME, SPARSE_DIR, check_model
from index.types import Chunk, Document, PreparedDocument, Span
from settings import BuildSettings, SentenceVectors

logger = logging.getLogger(__name__)

Prepare = Callable[[Document], PreparedDocument]
# How sentence vectors were made, as the manifest records it (an older manifest without it: standalone).
# Fresh documents are chunked and embedded this many at a time, so vectors are kept only in their
# stored form (chunk float32, sentence float16) and no list of every text to embed is ever made.
_WINDOW_DOCUMENTS = 256

# How a failed write shows: faiss raises RuntimeError, sqlite a full disk as sqlite3.OperationalError.
_WRITE_ERRORS = (OSError, RuntimeError, ValueError, sqlite3.Error)


@dataclass(frozen=True)
class BuildReport:
    """What a build did; ``published`` is False when the index was already up to date.

    ``sentences_embedded`` counts the sentences given new vectors; ``sentences_standalone`` those of
    them that needed a model pass of their own (all of them with the standalone method).
    ``timings`` holds the seconds of each stage (``chunking``, ``embedding``, ``sqlite``, ...).
    """

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
    sentences_standalone: int = 0
    seconds: float = 0.0
    bytes_on_disk: int = 0
    sentence_vectors: SentenceVectors = "none"
    timings: dict[str, float] = field(default_factory=dict)


class StageTimer:
    """Seconds spent in each named stage; a clock read at each end, nothing more."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

    def rounded(self) -> dict[str, float]:
        return {name: round(value, 4) for name, value in self.seconds.items()}


@dataclass
class _Entry:
    prepared: PreparedDocument
    chunk_vectors: Vectors | None = None  # float32
    sentence_vectors: np.ndarray | None = None  # float16, as stored


@dataclass
class _Previous:
    path: Path
    manifest: store.Manifest
    hashes: dict[str, str]
    compatible: bool


@dataclass
class _Embedded:
    chunks: int = 0
    sentences: int = 0
    standalone: int = 0


def sentence_vectors_made(embedder: Embedder, settings: BuildSettings) -> SentenceVectors:
    """How this build makes sentence vectors, as the manifest records it: ``pooled`` only where the model
    mean-pools its tokens (otherwise ``standalone``)."""
    if settings.sentence_vectors != "pooled":
        return settings.sentence_vectors
    pooled = isinstance(embedder, SpanEmbedder) and embedder.span_pooling == "mean"
    return "pooled" if pooled else "standalone"


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

    Documents whose content, chunker settings, model and sentence-vector method match the
    published version reuse its vectors; the rest are chunked and embedded. When nothing
    differs, no version is written.

    Raises:
        IndexLockedError: another build holds the lock.
        IndexWriteError: the folder cannot be written; the old version stays published.
    """
    settings = settings or BuildSettings()
    started = time.perf_counter()
    timer = StageTimer()
    config = dict(chunker_config)
    method = sentence_vectors_made(embedder, settings)
    with store.write_lock(index_dir):
        store.discard_unpublished(index_dir)
        with timer.stage("reading the previous version"):
            previous = _open_previous(index_dir, embedder, config, method=method)
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
                sentence_vectors=previous.manifest.sentence_vectors,
                timings=timer.rounded(),
            )
        entries, embedded = _collect(
            by_id,
            old_hashes,
            previous,
            prepare,
            embedder,
            settings=settings,
            method=method,
            timer=timer,
            progress=progress,
        )
        if not any(e.prepared.chunks for e in entries):
            raise EmptyIndexError(f"nothing to index: the {len(entries)} document(s) hold no sentences of text")
        manifest = _write_version(index_dir, entries, embedder, config, settings, method=method, timer=timer)
        with timer.stage("pruning"):
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
            chunks_embedded=embedded.chunks,
            sentences_embedded=embedded.sentences,
            sentences_standalone=embedded.standalone,
            seconds=time.perf_counter() - started,
            bytes_on_disk=sum(int(f["bytes"]) for f in manifest.files.values()),
            sentence_vectors=method,
            timings=timer.rounded(),
        )


def _open_previous(
    index_dir: Path, embedder: Embedder, chunker_config: dict[str, Any], *, method: SentenceVectors
) -> _Previous | None:
    """The published version, if it is sound; its vectors are reusable only when compatible."""
    try:
        path = store.version_path(index_dir)
        manifest = store.read_manifest(path)
        store.verify_files(path, manifest)
    except FileNotFoundError:
        return None
    except IndexFormatError as exc:
        # An older format lacks what this one stores (e.g. sentence block marks): reuse nothing of it.
        logger.warning("%s; chunking and embedding every document afresh", exc)
        return None
    except IndexCorruptError as exc:
        logger.warning("published index is damaged, rebuilding from scratch: %s", exc)
        return None
    compatible = manifest.chunker == chunker_config and (manifest.sentence_vectors == "none") == (method == "none")
    if compatible and manifest.sentence_vectors != method:
        logger.info(
            "%s holds %s sentence vectors, this build makes %s ones; re-embedding everything",
            manifest.version,
            manifest.sentence_vectors,
            method,
        )
        compatible = False
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
    embedder: Embedder,
    *,
    settings: BuildSettings,
    method: SentenceVectors,
    timer: StageTimer,
    progress: bool,
) -> tuple[list[_Entry], _Embedded]:
    """Every document's chunks, sentences and vectors: reused when unchanged, else made a window at a time."""
    reuse = sorted(d for d, doc in by_id.items() if old_hashes.get(d) == doc.content_hash)
    fresh = sorted(set(by_id) - set(reuse))
    entries: dict[str, _Entry] = {}
    if reuse and previous is not None:
        with timer.stage("reading the previous version"):
            entries.update(_reuse(previous.path, reuse, by_id))
    embedded = _Embedded()
    seen = _Seen()  # dropped when this returns, before the vectors are gathered for writing
    if fresh:
        logger.info("embedding %d new or changed documents (%s sentence vectors)", len(fresh), method)
    with tqdm(total=len(fresh), desc="indexing", unit="doc", disable=not progress or len(fresh) < 50) as bar:
        for at in range(0, len(fresh), _WINDOW_DOCUMENTS):
            window = fresh[at : at + _WINDOW_DOCUMENTS]
            with timer.stage("chunking"):
                prepared = [_Entry(prepare(by_id[doc_id])) for doc_id in window]
            _embed_window(prepared, embedder, settings=settings, method=method, timer=timer, counts=embedded, seen=seen)
            entries.update(zip(window, prepared, strict=True))
            bar.update(len(window))
    return [entries[doc_id] for doc_id in sorted(entries)], embedded


def _reuse(path: Path, doc_ids: list[str], by_id: Mapping[str, Document]) -> dict[str, _Entry]:
    """Chunks, sentences and vectors of unchanged documents, read from the previous version."""
    chunk_vectors = all_vectors(load_dense(path / DENSE_NAME))
    sentence_vectors = np.load(path / SENTENCES_NAME, mmap_mode="r")
    wanted = set(doc_ids)
    chunks: dict[str, list[tuple[int, Chunk]]] = {d: [] for d in doc_ids}
    sentences: dict[str, list[tuple[int, Span]]] = {d: [] for d in doc_ids}
    with _connect(path / META_NAME, readonly=True) as db:
        for row in db.execute("SELECT * FROM sentences ORDER BY row"):
            if row["doc_id"] in wanted:
                sentences[row["doc_id"]].append((row["row"], _stored_span(row)))
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
            np.array(sentence_vectors[sentence_rows], dtype=np.float16) if len(sentence_vectors) else None,
        )
    return entries


def _embed_window(
    entries: list[_Entry],
    embedder: Embedder,
    *,
    settings: BuildSettings,
    method: SentenceVectors,
    timer: StageTimer,
    counts: _Embedded,
    seen: _Seen,
) -> None:
    """Give the window's documents their chunk (and sentence) vectors."""
    chunks = sum(len(e.prepared.chunks) for e in entries)
    if not chunks:
        return
    with timer.stage("embedding"):
        if method == "pooled":
            assert isinstance(embedder, SpanEmbedder)  # sentence_vectors_made() chose pooling for such an embedder only
            counts.standalone += _embed_pooled(entries, embedder, batch_size=settings.embed_batch_size)
        else:
            _fill(
                entries,
                "chunk_vectors",
                lambda e: [c.embed_text for c in e.prepared.chunks],
                lambda texts: embedder.embed_documents(texts, batch_size=settings.embed_batch_size),
                seen.chunks,
                np.float32,
            )
            if method != "none":
                counts.standalone += _fill(
                    entries,
                    "sentence_vectors",
                    lambda e: [s.text for s in e.prepared.sentences],
                    lambda texts: embedder.embed_documents(texts, batch_size=settings.embed_batch_size * 2),
                    seen.sentences,
                    np.float16,
                )
    counts.chunks += chunks
    if method != "none":
        counts.sentences += sum(len(e.prepared.sentences) for e in entries)


@dataclass
class _Seen:
    """Texts embedded earlier in this build, and where their vectors are: each distinct text is embedded once.

    Health articles repeat themselves: half of MedQuAD's sentences occur more than once, far apart.
    """

    chunks: dict[str, tuple[_Entry, int]] = field(default_factory=dict)
    sentences: dict[str, tuple[_Entry, int]] = field(default_factory=dict)


def _fill(
    entries: list[_Entry],
    kind: str,
    texts_of: Callable[[_Entry], list[str]],
    embed: Callable[[list[str]], Vectors],
    seen: dict[str, tuple[_Entry, int]],
    dtype: type[np.generic],
) -> int:
    """Set each entry's ``kind`` vectors: a text embedded earlier in the build is copied, the rest are
    embedded now, each distinct text once. Returns how many texts were embedded."""
    per_entry = [texts_of(e) for e in entries]
    new = [t for t in dict.fromkeys(t for texts in per_entry for t in texts) if t not in seen]
    vectors = embed(new) if new else None
    row_of = {text: row for row, text in enumerate(new)}
    for entry, texts in zip(entries, per_entry, strict=True):
        matrix: np.ndarray | None = None
        for i, text in enumerate(texts):
            row = row_of.get(text)
            if row is not None and vectors is not None:
                vector = vectors[row]
            else:
                other, j = seen[text]
                vector = getattr(other, kind)[j]
            if matrix is None:
                matrix = np.empty((len(texts), len(vector)), dtype=dtype)
            matrix[i] = vector
        setattr(entry, kind, matrix)
        for i, text in enumerate(texts):
            seen.setdefault(text, (entry, i))
    return len(new)


def _embed_pooled(entries: list[_Entry], embedder: SpanEmbedder, *, batch_size: int) -> int:
    """One forward pass per distinct chunk gives the chunk's vector and its sentences' vectors.

    A sentence takes its vector from the first chunk holding it whole (its tokens all read by the
    model); one that no chunk holds whole is embedded on its own. Returns how many were.
    """
    distinct: dict[tuple[str, tuple[CharSpan, ...]], int] = {}
    chunk_slot: list[int] = []
    for entry in entries:
        sentences = entry.prepared.sentences
        for chunk in entry.prepared.chunks:
            key = (chunk.embed_text, _sentence_spans(chunk, sentences))
            chunk_slot.append(distinct.setdefault(key, len(distinct)))
    keys = list(distinct)
    chunk_vectors, span_vectors, whole = embedder.embed_with_spans(
        [text for text, _ in keys], [spans for _, spans in keys], batch_size=batch_size
    )
    first_span = np.concatenate([[0], np.cumsum([len(spans) for _, spans in keys])])
    dim = chunk_vectors.shape[1]
    missing: list[tuple[_Entry, int]] = []
    at = 0
    for entry in entries:
        n_chunks, sentences = len(entry.prepared.chunks), entry.prepared.sentences
        slots = chunk_slot[at : at + n_chunks]
        at += n_chunks
        entry.chunk_vectors = chunk_vectors[slots]
        vectors = np.zeros((len(sentences), dim), dtype=np.float16)
        found = np.zeros(len(sentences), dtype=np.bool_)
        for chunk, slot in zip(entry.prepared.chunks, slots, strict=True):
            span_rows = range(int(first_span[slot]), int(first_span[slot + 1]))
            if len(span_rows) != len(chunk.sentences):  # a chunk whose embedded text does not end with its text
                continue
            for sentence, span_row in zip(chunk.sentences, span_rows, strict=True):
                if not found[sentence] and whole[span_row]:
                    vectors[sentence], found[sentence] = span_vectors[span_row], True
        entry.sentence_vectors = vectors
        missing.extend((entry, int(i)) for i in np.flatnonzero(~found))
    if missing:
        alone = _embed_unique(embedder, [e.prepared.sentences[i].text for e, i in missing], batch_size=batch_size * 2)
        for (entry, i), vector in zip(missing, alone, strict=True):
            assert entry.sentence_vectors is not None
            entry.sentence_vectors[i] = vector
    return len(missing)


def _sentence_spans(chunk: Chunk, sentences: Sequence[Span]) -> tuple[CharSpan, ...]:
    """Where the chunk's sentences are in its embedded text (title and section may precede the text)."""
    if not chunk.embed_text.endswith(chunk.text):
        return ()
    offset = len(chunk.embed_text) - len(chunk.text) - chunk.start
    return tuple((sentences[i].start + offset, sentences[i].end + offset) for i in chunk.sentences)


def _embed_unique(embedder: Embedder, texts: list[str], *, batch_size: int) -> Vectors:
    """(len(texts), dim) vectors, each distinct text embedded once.

    Health articles repeat themselves: half of MedQuAD's sentences occur more than once.
    """
    distinct = list(dict.fromkeys(texts))
    vectors = embedder.embed_documents(distinct, batch_size=batch_size)
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
    *,
    method: SentenceVectors,
    timer: StageTimer,
) -> store.Manifest:
    # Every entry has vectors by now (reused or fresh), and at least one has chunks.
    dim = next(e.chunk_vectors.shape[1] for e in entries if e.chunk_vectors is not None and len(e.chunk_vectors))
    with timer.stage("dense index"):
        chunk_matrix = _gather(entries, "chunk_vectors", dim, np.float32)
        n_chunks = len(chunk_matrix)
        dense, dense_settings = build_dense(chunk_matrix, dense_type=settings.dense_type)
        del chunk_matrix  # the dense index holds its own copy
    n_sentences = sum(len(e.sentence_vectors) for e in entries if e.sentence_vectors is not None)
    with timer.stage("bm25"):
        sparse = SparseIndex.build([c.embed_text for e in entries for c in e.prepared.chunks])
    writers: list[tuple[str, str, Callable[[Path], object]]] = [
        (META_NAME, "sqlite", lambda path: _write_sqlite(path, [e.prepared for e in entries])),
        (DENSE_NAME, "writing vectors", lambda path: save_dense(dense, path)),
        (SENTENCES_NAME, "writing vectors", lambda path: _write_sentence_vectors(path, entries, n_sentences, dim)),
        (SPARSE_DIR, "bm25", sparse.save),
    ]
    with store.staging_folder(index_dir) as staging:
        for name, stage, write in writers:
            try:
                with timer.stage(stage):
                    write(staging / name)
            except _WRITE_ERRORS as exc:
                raise IndexWriteError(f"cannot write {name} of the new index version in {index_dir}: {exc}") from exc
        try:
            with timer.stage("reading back"):
                _check_written(staging, chunks=n_chunks, sentences=n_sentences, dim=dim)
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
                "resolved": resolve_dense_type(settings.dense_type, n_chunks),
            },
            sparse=dict(SPARSE_SETTINGS),
            sentence_vectors=method,
            counts={
                "documents": len(entries),
                "chunks": n_chunks,
                "sentences": sum(len(e.prepared.sentences) for e in entries),
            },
        )
        with timer.stage("hashing and publishing"):
            return store.publish(index_dir, staging, manifest)


def _gather(entries: list[_Entry], name: str, dim: int, dtype: type[np.generic]) -> np.ndarray:
    """Stack one kind of vector of every entry into one matrix, letting each entry's copy go as it is
    copied: the vectors are in memory once, never twice."""
    rows = sum(len(part) for e in entries if (part := getattr(e, name)) is not None)
    matrix = np.empty((rows, dim), dtype=dtype)
    at = 0
    for entry in entries:
        part = getattr(entry, name)
        setattr(entry, name, None)  # the only other reference: the part is freed once copied
        if part is not None and len(part):
            matrix[at : at + len(part)] = part
            at += len(part)
        del part
    return matrix


def _write_sentence_vectors(path: Path, entries: list[_Entry], rows: int, dim: int) -> None:
    """Write every entry's sentence vectors to one float16 .npy file, an entry at a time, letting each
    go as it is written: the whole matrix is never in memory (at full MedQuAD scale, 137 MB spared)."""
    dtype = np.dtype(np.float16)
    with path.open("wb") as handle:
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (rows, dim)}
        np.lib.format.write_array_header_1_0(handle, header)
        written = 0
        for entry in entries:
            part, entry.sentence_vectors = entry.sentence_vectors, None
            if part is not None and len(part):
                handle.write(np.ascontiguousarray(part, dtype=dtype).tobytes())
                written += len(part)
        if written != rows:
            raise ValueError(f"{written} sentence vectors written, {rows} expected")


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
                "end" INTEGER, text TEXT, section TEXT, block INTEGER, in_list_item INTEGER,
                starts_list_item INTEGER, follows_heading INTEGER);
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
                "INSERT INTO sentences VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        sentence_row + i,
                        doc.doc_id,
                        i,
                        s.start,
                        s.end,
                        s.text,
                        section_of[i],
                        s.block,
                        s.in_list_item,
                        s.starts_list_item,
                        s.follows_heading,
                    )
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


def _stored_span(row: sqlite3.Row) -> Span:
    """A sentence as the sentences table holds it, block marks included: reused, it keeps them."""
    return Span(
        row["start"],
        row["end"],
        row["text"],
        block=row["block"],
        in_list_item=bool(row["in_list_item"]),
        starts_list_item=bool(row["starts_list_item"]),
        follows_heading=bool(row["follows_heading"]),
    )


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
