"""The index the service answers from, swapped atomically on reload.

A request takes ``holder.current`` once and uses that object to the end, so
a reload never mixes versions within an answer and never disturbs requests
in flight: the old version stays alive (and pinned against pruning) until its
last request lets go.

A version that cannot be served never replaces the one serving: when the
published version is damaged, the newest good older one serves and
``holder.problem`` says why, for ``/readyz``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from index import Embedder, EmbeddingMismatchError, IndexCorruptError, IndexNotBuiltError, SearchIndex, current_version
from settings import SearchSettings

logger = logging.getLogger(__name__)

LOAD_ERRORS = (IndexNotBuiltError, IndexCorruptError, EmbeddingMismatchError, OSError)


@dataclass(frozen=True)
class ReloadResult:
    index_version: str
    previous_version: str | None
    changed: bool


class IndexHolder:
    """Holds the served ``SearchIndex``, and what is wrong, if anything.

    ``problem`` is why nothing is served when ``current`` is None, or why the
    version served is not the published one (a damaged or refused version).
    """

    def __init__(self, index_dir: Path, *, embedder: Embedder, search: SearchSettings) -> None:
        self.index_dir = index_dir
        self.embedder = embedder
        self.search = search
        self.current: SearchIndex | None = None
        self.problem: str | None = "index not loaded yet"
        self._reload_lock = threading.Lock()

    def load(self) -> SearchIndex | None:
        """Load the newest good version; on failure keep serving what is loaded and record why."""
        with self._reload_lock:
            try:
                index = SearchIndex.load_newest_good(self.index_dir, embedder=self.embedder, settings=self.search)
            except LOAD_ERRORS as exc:
                self._refused(exc)
                return None
            self._swap(index)
            return index

    def reload(self) -> ReloadResult:
        """Load the published version and swap it in.

        With nothing served yet, the newest good version is taken, as at start.

        Raises:
            IndexNotBuiltError, IndexCorruptError, EmbeddingMismatchError, OSError: the
            published version cannot be served; the current one keeps serving.
        """
        with self._reload_lock:
            previous = self.current
            try:
                published = current_version(self.index_dir)
                if previous is not None and previous.version == published:
                    return ReloadResult(previous.version, previous.version, changed=False)
                if previous is None:
                    index = SearchIndex.load_newest_good(self.index_dir, embedder=self.embedder, settings=self.search)
                else:
                    index = SearchIndex.load(
                        self.index_dir, embedder=self.embedder, version=published, settings=self.search
                    )
            except LOAD_ERRORS as exc:
                self._refused(exc)
                raise
            self._swap(index)
            old = previous.version if previous else None
            logger.info("index reloaded", extra={"index_version": index.version, "previous_version": old})
            return ReloadResult(index.version, old, changed=old != index.version)

    def _swap(self, index: SearchIndex) -> None:
        index.prepare()
        problem = None
        if index.fallback_reason is not None:
            problem = f"serving {index.version} because {self._published()} is damaged: {index.fallback_reason}"
            logger.error("index degraded", extra={"index_version": index.version, "reason": problem})
        self.current, self.problem = index, problem
        logger.info("index loaded", extra={"index_version": index.version, "chunks": index.manifest.counts["chunks"]})

    def _refused(self, exc: Exception) -> None:
        if self.current is None:
            self.problem = str(exc)
            logger.error("index not loaded", extra={"reason": self.problem})
        else:
            self.problem = f"serving {self.current.version}; {self._published()} cannot be served: {exc}"
            logger.error("index reload refused", extra={"index_version": self.current.version, "reason": str(exc)})

    def published_name(self) -> str | None:
        """The version ``CURRENT`` names now, or None when there is none or it is damaged."""
        try:
            return current_version(self.index_dir)
        except IndexCorruptError:
            return None

    def _published(self) -> str:
        try:
            return current_version(self.index_dir) or "the published version"
        except IndexCorruptError:
            return "the published version"
