"""A loaded, verified index version and its dense / sparse / hybrid search.

Usage example::

    embedder = SentenceTransformerEmbedder.from_name(DEFAULT_MODEL)
    index = SearchIndex.load(Path("var/index"), embedder=embedder)
    for hit in index.search("knee pain after squats", k=3):
        print(hit.rank, hit.score, hit.title, hit.text[:60])
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from index import store
from index.dense import load_dense, search_dense
from index.embedding import Embedder, Vectors
from index.errors import EmbeddingMismatchError, IndexCorruptError, IndexNotBuiltError
from index.fusion import fuse_rrf
from index.sparse import SparseIndex, tokenize, top_rows
from index.store import DENSE_NAME, META_NAME, SENTENCES_NAME, SPARSE_DIR, check_model
from index.types import SEARCH_MODES, Document, Hit, SearchMode, SentenceRecord
from settings import SearchSettings

logger = logging.getLogger(__name__)


class SearchIndex:
    """One complete index version, read-only and safe to share between threads."""

    def __init__(
        self,
        path: Path,
        manifest: store.Manifest,
        *,
        embedder: Embedder,
        settings: SearchSettings,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.embedder = embedder
        self.settings = settings
        # Why the published version was damaged, when load_newest_good loaded this older one instead.
        self.fallback_reason: str | None = None
        try:
            # Pinned for this object's life: sqlite is opened per thread and sentences are
            # memory-mapped, so pruning must not delete the files while it is in use.
            pin = store.VersionPin(path)
            weakref.finalize(self, pin.release)
            self._dense = load_dense(path / DENSE_NAME)
            self._sparse = SparseIndex.load(path / SPARSE_DIR)
            self._sentence_vectors = np.load(path / SENTENCES_NAME, mmap_mode="r")
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            raise IndexCorruptError(f"cannot read index version {path}: {exc}") from exc
        self._local = threading.local()
        if self._dense.ntotal != manifest.counts["chunks"]:
            raise IndexCorruptError(
                f"{path / DENSE_NAME} holds {self._dense.ntotal} vectors, manifest says {manifest.counts['chunks']}"
            )

    @classmethod
    def load(
        cls,
        index_dir: Path,
        *,
        embedder: Embedder,
        version: str | None = None,
        settings: SearchSettings | None = None,
        verify: bool = True,
    ) -> SearchIndex:
        """Load and verify a version (the published one by default).

        Raises:
            IndexNotBuiltError: nothing is published in ``index_dir``.
            IndexCorruptError: a file is missing or differs from the manifest.
            EmbeddingMismatchError: the index was built by another model.
        """
        path = store.version_path(index_dir, version)
        manifest = store.read_manifest(path)
        check_model(manifest, embedder, where=path)
        if verify:
            store.verify_files(path, manifest)
        return cls(path, manifest, embedder=embedder, settings=settings or SearchSettings())

    @classmethod
    def load_newest_good(
        cls, index_dir: Path, *, embedder: Embedder, settings: SearchSettings | None = None
    ) -> SearchIndex:
        """The published version, or if it is damaged, the newest older one that verifies.

        Raises:
            IndexNotBuiltError, IndexCorruptError, EmbeddingMismatchError: as ``load``,
            for the published version, when no version can be loaded.
        """
        try:
            return cls.load(index_dir, embedder=embedder, settings=settings)
        except IndexCorruptError as first_error:
            for older in store.fallback_versions(index_dir):
                try:
                    index = cls.load(index_dir, embedder=embedder, version=older, settings=settings)
                except (IndexCorruptError, EmbeddingMismatchError):
                    continue
                logger.error("published index is damaged (%s); serving older version %s", first_error, older)
                index.fallback_reason = str(first_error)
                return index
            raise

    # ----- metadata -------------------------------------------------------------------

    @property
    def version(self) -> str:
        return self.manifest.version

    def _db(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            uri = f"file:{self.path / META_NAME}?mode=ro&immutable=1"
            connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
            connection.row_factory = sqlite3.Row
            self._local.connection = connection
        return connection

    def documents(self) -> list[Document]:
        """Every document (text included), ordered by id."""
        rows = self._db().execute("SELECT * FROM documents ORDER BY doc_id").fetchall()
        return [_document(row) for row in rows]

    def document(self, doc_id: str) -> Document | None:
        row = self._db().execute("SELECT * FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return _document(row) if row else None

    def sentences_in_chunks(self, rows: list[int]) -> list[tuple[int, SentenceRecord]]:
        """``(chunk_row, sentence)`` for every sentence inside the given chunk rows, in document order.

        A sentence shared by overlapping chunks appears once per chunk.
        """
        if not rows:
            return []
        marks = ",".join("?" * len(rows))
        found = (
            self._db()
            .execute(
                f"SELECT c.row AS chunk_row, s.* FROM chunks c JOIN sentences s "
                f"ON s.row BETWEEN c.first_sentence AND c.last_sentence WHERE c.row IN ({marks}) ORDER BY s.row, c.row",
                rows,
            )
            .fetchall()
        )
        return [
            (
                r["chunk_row"],
                SentenceRecord(
                    r["row"],
                    r["doc_id"],
                    r["ordinal"],
                    r["start"],
                    r["end"],
                    r["text"],
                    r["section"],
                    block=r["block"],
                    in_list_item=bool(r["in_list_item"]),
                    starts_list_item=bool(r["starts_list_item"]),
                    follows_heading=bool(r["follows_heading"]),
                ),
            )
            for r in found
        ]

    def sentence_vectors(self, rows: list[int]) -> Vectors:
        """(len(rows), dim) float32, L2-normalised (stored as float16).

        Raises:
            ValueError: the index was built without sentence vectors (search only).
        """
        if self.manifest.sentence_vectors == "none":
            raise ValueError(f"index {self.version} was built without sentence vectors; re-ingest to answer questions")
        return np.asarray(self._sentence_vectors[np.asarray(rows, dtype=np.int64)], dtype=np.float32)

    # ----- search ---------------------------------------------------------------------

    def embed_query(self, query: str) -> Vectors:
        """(1, dim) float32 L2-normalised query vector."""
        return self.embedder.embed_queries([query])

    def search(
        self, query: str, *, k: int = 10, mode: SearchMode = "hybrid", query_vector: Vectors | None = None
    ) -> list[Hit]:
        """Rank chunks for a query.

        Args:
            query: Free text.
            k: How many hits, >= 1.
            mode: ``hybrid`` (dense and BM25 fused as ``settings.fusion`` says: convex by default,
                or reciprocal-rank fusion), ``dense`` or ``sparse``.
            query_vector: The query's embedding, when the caller already has it.

        Returns:
            Up to ``k`` hits, best first.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if mode not in SEARCH_MODES:
            raise ValueError(f"mode must be one of {', '.join(SEARCH_MODES)}, got {mode!r}")
        depth = max(k, self.settings.candidates)
        dense: dict[int, float] = {}
        sparse: dict[int, float] = {}
        vector = None
        if mode in ("dense", "hybrid"):
            vector = self.embed_query(query) if query_vector is None else query_vector
            rows, scores = search_dense(self._dense, vector, k=depth)
            dense = dict(zip(rows.tolist(), scores.tolist(), strict=True))
        bm25 = None
        if mode in ("sparse", "hybrid"):
            bm25 = self._sparse.scores(query)  # every row's score, once: fusion reads it too
            rows, scores = top_rows(bm25, k=depth)
            sparse = dict(zip(rows.tolist(), scores.tolist(), strict=True))
        if mode == "hybrid" and self.settings.fusion == "convex" and vector is not None and bm25 is not None:
            ranked, dense, sparse = self._fuse_convex(bm25, vector, dense, sparse)
        elif mode == "hybrid":
            ranked = fuse_rrf(
                {"dense": list(dense), "sparse": list(sparse)},
                weights={"dense": self.settings.dense_weight, "sparse": self.settings.sparse_weight},
                rrf_k=self.settings.rrf_k,
            )
        else:
            ranked = list((dense or sparse).items())
        scored = bool(ranked) and not (mode == "hybrid" and self.settings.fusion == "rrf")  # RRF: ranks, no scale
        if self.settings.lead_weight > 0 and scored:
            ranked = self._lean_on_lead_chunks(ranked, vector, bm25)
        if self.settings.title_weight > 0 and bm25 is not None and scored:
            ranked = self._add_title_match(query, ranked, bm25, fused=vector is not None)
        return self._hits(ranked[:k], dense, sparse)

    def _add_title_match(
        self, query: str, ranked: list[tuple[int, float]], bm25: np.ndarray, *, fused: bool
    ) -> list[tuple[int, float]]:
        """Add each candidate's document-title BM25 match, scaled as ``settings.title_weight`` says.

        A title names what the whole document is about ("Epilepsy (Causes)", "Back pain after lifting"),
        which a chunk from its middle does not say; a passing mention elsewhere then ranks below it.
        The same amount goes to every chunk of a document, so its chunks keep their order.
        """
        title_index = self._title_field()
        if title_index is None:
            return ranked
        title_of_row, titles = title_index
        title = titles.scores(query)[title_of_row[[row for row, _ in ranked]]]
        best_title = float(title.max())
        if best_title <= 0:
            return ranked
        best_bm25 = max(float(bm25[row]) for row, _ in ranked) or 1.0
        # Convex fusion: in the units of the BM25 share (alpha / best BM25); sparse: in BM25's own.
        scale = self.settings.convex_alpha if fused else best_bm25
        weight = self.settings.title_weight * scale / best_title
        added = [(row, score + weight * float(t)) for (row, score), t in zip(ranked, title, strict=True)]
        return sorted(added, key=lambda pair: (-pair[1], pair[0]))

    def prepare(self) -> None:
        """Read now what searches would otherwise read on first use (each chunk's lead row, the
        title field), so that no request pays for it: the holder calls this before serving a version."""
        if self.settings.lead_weight > 0:
            self._lead_rows()
        if self.settings.title_weight > 0:
            self._title_field()

    def _title_field(self) -> tuple[np.ndarray, SparseIndex] | None:
        if not hasattr(self, "_title_index"):
            self._title_index = self._load_title_index()
        return self._title_index

    def _load_title_index(self) -> tuple[np.ndarray, SparseIndex] | None:
        """BM25 over the documents' titles, and for every chunk row its document's position in it
        (read once per version); None when no title has a searchable word.

        Built from the titles in meta.sqlite on first use (0.7 s for 16,000 titles on a loaded 2-core
        machine; a millisecond for the shipped articles), with no file of its own in the index version.
        """
        found = (
            self._db()
            .execute("SELECT first_chunk, title FROM documents WHERE n_chunks > 0 ORDER BY first_chunk")
            .fetchall()
        )
        texts = [title or "" for _, title in found]
        if not any(tokenize(texts)):  # BM25 cannot be built without a single term
            return None
        first_rows = np.asarray([first for first, _ in found], dtype=np.int64)  # ascending
        title_of_row = np.searchsorted(first_rows, self._lead_rows())  # a lead row is its document's first
        return title_of_row, SparseIndex.build(texts)

    def _lean_on_lead_chunks(
        self, ranked: list[tuple[int, float]], vector: Vectors | None, bm25: np.ndarray | None
    ) -> list[tuple[int, float]]:
        """Mix each candidate's score with its document's lead chunk's, scored the same way.

        A chunk that matches the question inside an article about something else (a neighbouring
        article that mentions the topic) then ranks below the article whose opening is about it.
        """
        lead_of = self._lead_rows()
        leads = sorted({int(lead_of[row]) for row, _ in ranked})
        lead_score = np.zeros(len(leads), dtype=np.float64)
        if vector is not None:
            lead_score += self._dense.reconstruct_batch(np.asarray(leads, dtype=np.int64)) @ vector[0]
        if bm25 is not None:
            weight = 1.0
            if vector is not None:  # convex fusion: BM25 scaled to the best candidate's, times alpha
                best = max(float(bm25[row]) for row, _ in ranked) or 1.0
                weight = self.settings.convex_alpha / best
            lead_score += weight * bm25[leads]
        score_of_lead = dict(zip(leads, lead_score.tolist(), strict=True))
        share = self.settings.lead_weight
        mixed = [(row, (1 - share) * score + share * score_of_lead[int(lead_of[row])]) for row, score in ranked]
        return sorted(mixed, key=lambda pair: (-pair[1], pair[0]))

    def _lead_rows(self) -> np.ndarray:
        """(n,) int64: for every chunk row, the row of its document's first chunk (read once per version)."""
        lead_rows: np.ndarray | None = getattr(self, "_lead_rows_cache", None)
        if lead_rows is None:
            found = self._db().execute(
                "SELECT c.row, d.first_chunk FROM chunks c JOIN documents d ON d.doc_id = c.doc_id ORDER BY c.row"
            )
            lead_rows = np.asarray([first for _, first in found], dtype=np.int64)
            self._lead_rows_cache = lead_rows
        return lead_rows

    def _fuse_convex(
        self, bm25: np.ndarray, vector: Vectors, dense: dict[int, float], sparse: dict[int, float]
    ) -> tuple[list[tuple[int, float]], dict[int, float], dict[int, float]]:
        """Score every candidate by cosine + alpha * BM25 / best BM25, both exact for all candidates.

        ``bm25`` is the (n,) BM25 score of every row for the query.
        """
        rows = sorted(set(dense) | set(sparse))
        missing = [row for row in rows if row not in dense]
        if missing:
            vectors = np.vstack([self._dense.reconstruct(row) for row in missing])
            dense = {**dense, **dict(zip(missing, (vectors @ vector[0]).tolist(), strict=True))}
        sparse = {row: float(bm25[row]) for row in rows}
        best = max(sparse.values(), default=0.0) or 1.0
        alpha = self.settings.convex_alpha
        fused = {row: dense[row] + alpha * sparse[row] / best for row in rows}
        return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0])), dense, sparse

    def _hits(
        self, ranked: list[tuple[int, float]], dense: Mapping[int, float], sparse: Mapping[int, float]
    ) -> list[Hit]:
        if not ranked:
            return []
        rows = [row for row, _ in ranked]
        marks = ",".join("?" * len(rows))
        found = {
            r["row"]: r
            for r in self._db().execute(
                f"SELECT c.row, c.chunk_id, c.doc_id, c.section, c.text, c.start, c.end, d.title, d.url "
                f"FROM chunks c JOIN documents d ON d.doc_id = c.doc_id WHERE c.row IN ({marks})",
                rows,
            )
        }
        return [
            Hit(
                rank=rank,
                score=float(score),
                row=row,
                chunk_id=found[row]["chunk_id"],
                doc_id=found[row]["doc_id"],
                title=found[row]["title"],
                url=found[row]["url"],
                section=found[row]["section"],
                text=found[row]["text"],
                start=found[row]["start"],
                end=found[row]["end"],
                dense_score=dense.get(row),
                sparse_score=sparse.get(row),
            )
            for rank, (row, score) in enumerate(ranked, start=1)
        ]


def _document(row: sqlite3.Row) -> Document:
    metadata: dict[str, Any] = json.loads(row["metadata_json"])
    return Document(
        doc_id=row["doc_id"],
        title=row["title"],
        text=row["text"],
        url=row["url"],
        source=row["source"],
        metadata=metadata,
    )


__all__ = ["IndexNotBuiltError", "SearchIndex", "SearchSettings", "check_model"]
