"""Errors raised by the index package.

Each subclasses the builtin it refines, so callers can catch either.
"""

from __future__ import annotations


class IndexNotBuiltError(FileNotFoundError):
    """No published index version exists in the index directory."""


class IndexCorruptError(ValueError):
    """A file of an index version is missing, truncated or altered."""


class IndexFormatError(IndexCorruptError):
    """The index version was written in an on-disk format this program does not read; re-run ingest."""


class EmbeddingMismatchError(ValueError):
    """The index was built with a different embedding model than the one configured."""


class ModelNotFoundError(FileNotFoundError):
    """The configured embedding model cannot be found locally."""


class ModelExportError(ModelNotFoundError):
    """The ONNX export of the model cannot be made or stored (e.g. the cache folder is not writable)."""


class IndexLockedError(RuntimeError):
    """Another process is writing to the index directory."""


class IndexWriteError(OSError):
    """Writing a new index version failed (disk full, read-only folder, ...)."""


class EmptyIndexError(ValueError):
    """The documents hold no sentence to index."""
