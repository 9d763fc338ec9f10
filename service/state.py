"""The index the service answers from, swapped atomically on reload.

A request takes ``holder.current`` once and uses that object to the end, so
a reload never mixes versions within an answer and never disturbs requests
in flight: the old version stays alive until its last request lets go.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from index import (
    Embedder,
    EmbeddingMismatchError,
    IndexCorruptError,
    IndexNotBuiltError,
    SearchIndex,
    SearchSettings,
    current_version,
)

logger = logging.getLogger(__name__)

LOAD_ERRORS = (IndexNotBuiltError, IndexCorruptError, EmbeddingMismatchError, OSError)


@dataclass(frozen=True)
class ReloadResult:
    index_version: str
    previous_version: str | None
    changed: bool


class IndexHolder:
    """Holds the served ``SearchIndex`` and the reason when there is none."""

    def __init__(self, index_dir: Path, *, embedder: Embedder, search: SearchSettings) -> None:
        self.index_dir = index_dir
        self.embedder = embedder
        self.search = search
        self.current: SearchIndex | None = None
        self.problem: str | None = "index not loaded yet"
        self._reload_lock = threading.Lock()

    def load(self) -> SearchIndex | None:
        """Load the newest good version; on failure keep serving what is loaded and record why."""
        try:
            index = SearchIndex.load_newest_good(self.index_dir, embedder=self.embedder, settings=self.search)
        except LOAD_ERRORS as exc:
            self.problem = str(exc)
            logger.error("index not loaded", extra={"reason": str(exc)})
            return None
        self.current, self.problem = index, None
        logger.info("index loaded", extra={"index_version": index.version, "chunks": index.manifest.counts["chunks"]})
        return index

    def reload(self) -> ReloadResult:
        """Load the newest published version and swap it in.

        Raises:
            IndexNotBuiltError, IndexCorruptError, EmbeddingMismatchError: the new
            version cannot be served; the current one keeps serving.
        """
        with self._reload_lock:
            previous = self.current
            if previous is not None and previous.path.name == current_version(self.index_dir):
                return ReloadResult(previous.version, previous.version, changed=False)
            index = SearchIndex.load(self.index_dir, embedder=self.embedder, settings=self.search)
            self.current, self.problem = index, None
            old = previous.version if previous else None
            logger.info("index reloaded", extra={"index_version": index.version, "previous_version": old})
            return ReloadResult(index.version, old, changed=True)
