"""The core of healthqa: documents, chunks, the embedder seam, and the persisted hybrid index.

Imports none of the other packages but ``settings``; the others use only the names listed here.
"""

from index.batching import BatchingEmbedder
from index.build import BuildReport, build_index
from index.dense import AUTO_HNSW_FROM, HNSWParams, build_dense, search_dense, set_search_threads
from index.embedding import (
    Embedder,
    ModelLocation,
    SentenceTransformerEmbedder,
    load_embedder,
    open_embedder,
    resolve_model,
)
from index.errors import (
    EmbeddingMismatchError,
    EmptyIndexError,
    IndexCorruptError,
    IndexFormatError,
    IndexLockedError,
    IndexNotBuiltError,
    IndexWriteError,
    ModelExportError,
    ModelNotFoundError,
)
from index.fusion import fuse_rrf
from index.search import SearchIndex
from index.store import CurrentSignature, Manifest, current_signature, current_version, list_versions, version_path
from index.text import (
    CONTROL_CHARACTERS,
    FORMAT_CHARACTERS,
    INVISIBLE_CHARACTERS,
    VISIBLE_TEXT_PATTERN,
    strip_invisible,
)
from index.types import (
    SEARCH_MODES,
    Chunk,
    Document,
    Hit,
    PreparedDocument,
    SearchMode,
    SentenceRecord,
    Span,
)

__all__ = [
    "AUTO_HNSW_FROM",
    "CONTROL_CHARACTERS",
    "FORMAT_CHARACTERS",
    "INVISIBLE_CHARACTERS",
    "SEARCH_MODES",
    "VISIBLE_TEXT_PATTERN",
    "BatchingEmbedder",
    "BuildReport",
    "Chunk",
    "CurrentSignature",
    "Document",
    "Embedder",
    "EmbeddingMismatchError",
    "EmptyIndexError",
    "HNSWParams",
    "Hit",
    "IndexCorruptError",
    "IndexFormatError",
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
    "open_embedder",
    "resolve_model",
    "search_dense",
    "set_search_threads",
    "strip_invisible",
    "version_path",
]
