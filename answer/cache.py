"""Answers to repeated questions, kept in memory: popular questions recur in any site's search log.

An entry is keyed by the question as the service received it (after its text was cleaned), ``k`` and the
index version, so a cached answer is the answer the pipeline would give again, to the byte, apart from its
timings. Red flags are part of the answer: the catalogue and learned models are loaded once per process,
so a changed catalogue comes with a restart and an empty cache. The cache is a thread-safe LRU bounded by
entries and by bytes, and it empties itself when the index version changes (a reload).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import replace

from answer.types import Answer, answer_to_dict

CacheKey = tuple[str, int | None, str]


class AnswerCache:
    """``get`` and ``put`` answers by ``(question, k, index version)``; least recently used go first."""

    def __init__(self, *, max_entries: int, max_bytes: int) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError(f"an answer cache holds at least one entry and one byte, got {max_entries}, {max_bytes}")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[CacheKey, tuple[Answer, int]] = OrderedDict()
        self._bytes = 0
        self._version: str | None = None
        self._lock = threading.Lock()

    def get(self, question: str, k: int | None, index_version: str) -> Answer | None:
        """The cached answer, its timings emptied (nothing was timed), or None."""
        key = (question, k, index_version)
        with self._lock:
            self._follow(index_version)
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return replace(entry[0], timings_ms={})

    def put(self, question: str, k: int | None, answer: Answer) -> None:
        """Keep ``answer`` (an answer of ``question`` at ``k`` from its index version) unless it alone is too big."""
        size = len(json.dumps(answer_to_dict(answer), ensure_ascii=False).encode("utf-8"))
        if size > self.max_bytes:
            return
        key = (question, k, answer.index_version)
        with self._lock:
            self._follow(answer.index_version)
            if key in self._entries:
                self._bytes -= self._entries.pop(key)[1]
            self._entries[key] = (answer, size)
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                self._bytes -= self._entries.popitem(last=False)[1][1]

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def _follow(self, index_version: str) -> None:
        """Empty the cache when answers start coming from another index version (held: the lock)."""
        if index_version != self._version:
            self._entries.clear()
            self._bytes = 0
            self._version = index_version
