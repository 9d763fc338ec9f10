"""The core of healthqa: documents, chunks, the embedder seam, and the persisted hybrid index.

Imports none of the other packages; ``ingest``, ``service`` and ``eval`` use
only the names listed here.
"""

from index.batching import BatchingEmbedder
from index.build import BuildReport, BuildSettings, build_index
from index.dense import AUTO_HNSW_FROM, DenseType, HNSWParams, build_dense, search_dense, set_search_threads
from index.embedder import (
    DEFAULT_MODEL,
    EMBED_BACKENDS,
    EmbedBackend,
    Embedder,
    ModelLocation,
    SentenceTransformerEmbedder,
    load_embedder,
    resolve_model,
)
from index.errors import (
    EmbeddingMismatchError,
    EmptyIndexError,
    IndexCorruptError,
    IndexLockedError,
    IndexNotBuiltError,
    IndexWriteError,
    ModelExportError,
    ModelNotFoundError,
)
from index.fusion import fuse_rrf
from index.search import SearchIndex, SearchSettings
from index.store import CurrentSignature, Manifest, current_signature, current_version, list_versions, version_path
from index.types import (
    SEARCH_MODES,
    Chunk,
    ChunkerSettings,
    Document,
    Hit,
    PreparedDocument,
    SearchMode,
    SentenceRecord,
    Span,
)

__all__ = [
    "AUTO_HNSW_FROM",
    "DEFAULT_MODEL",
    "EMBED_BACKENDS",
    "SEARCH_MODES",
    "BatchingEmbedder",
    "BuildReport",
    "BuildSettings",
    "Chunk",
    "ChunkerSettings",
    "CurrentSignature",
    "DenseType",
    "Document",
    "EmbedBackend",
    "Embedder",
    "EmbeddingMismatchError",
    "EmptyIndexError",
    "HNSWParams",
    "Hit",
    "IndexCorruptError",
    "IndexLockedError",
    "IndexNotBuiltError",
    "IndexWriteError",
    "Manifest",
    "ModelExportError",
    "ModelLocation",
    "ModelNotFoundError",
    "PreparedDocument",
    "SearchIndex",
    "SearchMode",
    "SearchSettings",
    "SentenceRecord",
    "SentenceTransformerEmbedder",
    "Span",
    "build_dense",
    "build_index",
    "current_signature",
    "current_version",
    "fuse_rrf",
    "list_versions",
    "load_embedder",
    "resolve_model",
    "search_dense",
    "set_search_threads",
    "version_path",
]
