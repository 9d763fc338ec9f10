"""Feedback on answers: a durable SQLite store.

The store is one SQLite file of its own (``HEALTHQA_FEEDBACK_DB``, ``var/feedback.sqlite`` by default),
never inside an index version, so it survives restarts, reloads and re-ingests. It runs in WAL mode
with ``synchronous=FULL`` (a stored row survives a power cut) and a busy timeout, so several API
processes can write to it at once. A write that cannot be made (disk full, read-only, I/O error)
raises ``FeedbackUnavailableError`` naming the file; SQLite rolls the transaction back, so the file
is never left half-written. No FastAPI import here: the API, the CLI and the tests call it.

Usage example::

    store = FeedbackStore(Path("var/feedback.sqlite"))
    stored = store.add(FeedbackEntry(question="knees ache after squats?", rating="down", reason="unhelpful",
                                     comment="", index_version="v000001", chunk_ids=("joint-pain#0",),
                                     answer_id=None))
    for row in store.list(rating="down"):
        print(row.id, row.question)
"""

from __future__ import annotations

import contextlib
import errno
import json
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

Rating = Literal["up", "down"]
Reason = Literal["wrong", "unhelpful", "unsafe", "outdated", "other"]
RATINGS: tuple[Rating, ...] = ("up", "down")
REASONS: tuple[Reason, ...] = ("wrong", "unhelpful", "unsafe", "outdated", "other")
MAX_COMMENT_CHARS = 1000
BUSY_TIMEOUT_S = 10.0
FULL_BELOW_BYTES = 256 * 1024  # an I/O error with less free space than this is a full disk

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    question TEXT NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    reason TEXT,
    comment TEXT NOT NULL DEFAULT '',
    index_version TEXT NOT NULL,
    chunk_ids TEXT NOT NULL,
    answer_id TEXT
);
CREATE INDEX IF NOT EXISTS feedback_created_at ON feedback (created_at);
"""


class FeedbackUnavailableError(OSError):
    """The feedback file cannot be written or read (disk full, read-only, damaged); nothing was stored."""


@dataclass(frozen=True)
class FeedbackEntry:
    """What a person sent about one answer (already validated and cleaned)."""

    question: str
    rating: Rating
    index_version: str
    chunk_ids: tuple[str, ...]
    reason: Reason | None = None
    comment: str = ""
    answer_id: str | None = None


@dataclass(frozen=True)
class StoredFeedback(FeedbackEntry):
    """A stored entry, with its id and when it was stored (UTC)."""

    id: int = 0
    created_at: str = ""

    @property
    def doc_ids(self) -> tuple[str, ...]:
        """The cited articles, in citation order, each once (a chunk id is ``<doc_id>#<n>``)."""
        return tuple(dict.fromkeys(chunk.rsplit("#", 1)[0] for chunk in self.chunk_ids))


# --- the store --------------------------------------------------------------------------------------------


class FeedbackStore:
    """Feedback rows in one SQLite file; safe to use from many threads and processes at once.

    Each call opens its own connection (cheap next to a request), so nothing is shared between
    threads, and the file is created on the first write: a service that never receives feedback
    never touches the disk.

    Args:
        path: The SQLite file, e.g. ``var/feedback.sqlite``; its folder is created when missing.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, entry: FeedbackEntry) -> StoredFeedback:
        """Store ``entry`` durably and return it with its id.

        Raises:
            FeedbackUnavailableError: the file cannot be written; nothing was stored.
        """
        created_at = datetime.now(UTC).isoformat(timespec="microseconds")
        row = (
            created_at,
            entry.question,
            entry.rating,
            entry.reason,
            entry.comment,
            entry.index_version,
            json.dumps(list(entry.chunk_ids), ensure_ascii=False),
            entry.answer_id,
        )
        with self._connect(create=True) as connection:
            cursor = connection.execute(
                "INSERT INTO feedback (created_at, question, rating, reason, comment, index_version, chunk_ids, "
                "answer_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            stored_id = int(cursor.lastrowid or 0)
        return StoredFeedback(**_fields(entry), id=stored_id, created_at=created_at)

    def list(
        self,
        *,
        rating: Rating | None = None,
        since: date | None = None,
        until: date | None = None,
        limit: int | None = None,
    ) -> list[StoredFeedback]:
        """Stored feedback, newest first; ``since`` and ``until`` are UTC days, both included.

        Raises:
            FeedbackUnavailableError: the file exists but cannot be read.
        """
        if not self.path.exists():
            return []
        clauses: list[str] = ["1 = 1"]
        params: list[str] = []
        if rating is not None:
            clauses.append("rating = ?")
            params.append(rating)
        if since is not None:
            clauses.append("created_at >= ?")
            params.append(since.isoformat())
        if until is not None:
            clauses.append("created_at < ?")
            params.append((until + timedelta(days=1)).isoformat())
        sql = f"SELECT * FROM feedback WHERE {' AND '.join(clauses)} ORDER BY created_at DESC, id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._connect(create=False) as connection:
            return [_stored(row) for row in connection.execute(sql, params)]

    @contextlib.contextmanager
    def _connect(self, *, create: bool) -> Iterator[sqlite3.Connection]:
        """A connection in one transaction (committed on success, rolled back on error)."""
        connection: sqlite3.Connection | None = None
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            uri = f"file:{self.path}" + ("" if create else "?mode=rw")
            connection = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA synchronous = FULL")
            if create:
                if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    connection.execute("PRAGMA journal_mode = WAL")
                connection.executescript(_SCHEMA)
            connection.execute("BEGIN IMMEDIATE" if create else "BEGIN")
            yield connection
            connection.execute("COMMIT")
        except (sqlite3.OperationalError, sqlite3.DatabaseError, OSError) as exc:
            if connection is not None and connection.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
            raise FeedbackUnavailableError(
                f"the feedback file {self.path} cannot be used: {_describe(exc, self.path.parent)}"
            ) from exc
        finally:
            if connection is not None:
                connection.close()


def _describe(exc: BaseException, folder: Path) -> str:
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith("SQLITE_FULL") or getattr(exc, "errno", None) == errno.ENOSPC:
        return "the disk is full"
    if name.startswith("SQLITE_IOERR") and _free_bytes(folder) < FULL_BELOW_BYTES:
        # SQLite reports a failed write into the WAL as an I/O error; no free space is the reason.
        return f"the disk is full ({name})"
    if name.startswith("SQLITE_READONLY") or getattr(exc, "errno", None) in (errno.EROFS, errno.EACCES):
        return "it is read-only"
    return f"{exc} ({name})" if name else str(exc) or type(exc).__name__


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return FULL_BELOW_BYTES


def _fields(entry: FeedbackEntry) -> dict[str, Any]:
    return {
        "question": entry.question,
        "rating": entry.rating,
        "index_version": entry.index_version,
        "chunk_ids": tuple(entry.chunk_ids),
        "reason": entry.reason,
        "comment": entry.comment,
        "answer_id": entry.answer_id,
    }


def _stored(row: sqlite3.Row) -> StoredFeedback:
    return StoredFeedback(
        id=int(row["id"]),
        created_at=str(row["created_at"]),
        question=str(row["question"]),
        rating=row["rating"],
        reason=row["reason"],
        comment=str(row["comment"] or ""),
        index_version=str(row["index_version"]),
        chunk_ids=tuple(json.loads(row["chunk_ids"])),
        answer_id=row["answer_id"],
    )
