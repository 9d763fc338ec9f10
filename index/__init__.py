"""The core of healthqa: documents, chunks, the embedder seam, and the persisted hybrid index.

Imports none of the other packages; ``ingest``, ``service`` and ``eval`` use
only the names listed here.
"""

from index.build import BuildReport, BuildSettings, build_index
from index.dense import DenseType
from index.embedder import DEFAULT_MODEL, Embedder, ModelLocation, SentenceTransformerEmbedder, resolve_model
from index.errors import (
    EmbeddingMismatchError,
    EmptyIndexError,
    IndexCorruptError,
    IndexLockedError,
    IndexNotBuiltError,
    IndexWriteError,
    ModelNotFoundError,
)
from index.fusion import fuse_rrf
from index.search import SearchIndex, SearchSettings
from index.store import Manifest, current_version, list_versions
from index.types import SEARCH_MODES, Chunk, Document, Hit, PreparedDocument, SearchMode, SentenceRecord, Span

__all__ = [
    "DEFAULT_MODEL",
    "SEARCH_MODES",
    "BuildReport",
    "BuildSettings",
    "Chunk",
    "DenseType",
    "Document",
    "Embedder",
    "EmbeddingMismatchError",
    "EmptyIndexError",
    "Hit",
    "IndexCorruptError",
    "IndexLockedError",
    "IndexNotBuiltError",
    "IndexWriteError",
    "Manifest",
    "ModelLocation",
    "ModelNotFoundError",
    "PreparedDocument",
    "SearchIndex",
    "SearchMode",
    "SearchSettings",
    "SentenceRecord",
    "SentenceTransformerEmbedder",
    "Span",
    "build_index",
    "current_version",
    "fuse_rrf",
    "list_versions",
    "resolve_model",
]
