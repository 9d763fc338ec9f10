"""The on-disk layout of an index: versioned folders, a manifest, atomic publishing.

::

    <index_dir>/
      CURRENT                 name of the published version (replaced atomically)
      .lock                   held by the one process writing; names it (pid, command, start)
      versions/
        v000007/              one complete, immutable version
          manifest.json       model, chunker, counts, SHA-256 of every file
          meta.sqlite         documents, chunks, sentences
          dense.faiss         chunk vectors
          sentences.npy       sentence vectors, (n, dim) float16
          bm25/               the bm25s index
        .staging-<random>/    a version being written; never read

A version is written under ``.staging-*``, its files are hashed into the
manifest and synced, the folder is renamed into place and only then does
``CURRENT`` move to it. A run that dies at any point leaves the previous
version published and loadable; the next run removes what the dead one left
(staging folders, a version moved into place but never published).

A loaded version holds a shared ``flock`` on its manifest and a lease file
(``VersionPin``; see ``index.leases``), so pruning never deletes files a running
server still reads, on this machine or on another one sharing the folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import sys
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from index import leases
from index.embedding import Embedder
from index.errors import (
    EmbeddingMismatchError,
    IndexCorruptError,
    IndexFormatError,
    IndexLockedError,
    IndexNotBuiltError,
    IndexWriteError,
)
from settings import KEEP_VERSIONS, SentenceVectors

logger = logging.getLogger(__name__)

# What meta.sqlite and the vector files hold. A version of another format is refused on load (re-run
# ingest), and the next ingest makes every document afresh from it, reusing nothing.
# 2: each sentence carries its block marks (block, in_list_item, starts_list_item, follows_heading).
FORMAT_VERSION = 2
MANIFEST_NAME = "manifest.json"
CURRENT_NAME = "CURRENT"
VERSIONS_DIR = "versions"
STAGING_PREFIX = ".staging-"
LOCK_NAME = ".lock"
# The files of one version, written by index/build.py and read by index/search.py.
META_NAME = "meta.sqlite"
DENSE_NAME = "dense.faiss"
SENTENCES_NAME = "sentences.npy"
SPARSE_DIR = "bm25"
# How sentence vectors were made when a manifest does not say: versions before the method was recorded.
_VERSION_NAME = re.compile(r"^v(\d{6,})$")


@dataclass(frozen=True)
class ModelInfo:
    """Which embedding model built the vectors."""

    name: str
    dim: int
    fingerprint: str
    normalized: bool = True
    max_tokens: int = 0


@dataclass(frozen=True)
class Manifest:
    """What a version holds and how it was made; checked on every load."""

    version: str
    created_at: str
    model: ModelInfo
    chunker: dict[str, Any]
    dense: dict[str, Any]
    sparse: dict[str, Any]
    counts: dict[str, int]
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    sentence_vectors: SentenceVectors = "standalone"
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        data["model"] = ModelInfo(**data["model"])
        if isinstance(data.get("sentence_vectors"), bool):  # the format before the one-name settings
            method = data.pop("sentence_method", "standalone")
            pooled = "pooled" if method == "chunk-mean-pooled" else "standalone"
            data["sentence_vectors"] = pooled if data["sentence_vectors"] else "none"
        return cls(**data)


def versions_dir(index_dir: Path) -> Path:
    return index_dir / VERSIONS_DIR


def current_version(index_dir: Path) -> str | None:
    """The published version's name, or None when nothing is published.

    Raises:
        IndexCorruptError: ``CURRENT`` exists but does not name a version (it is
            only ever replaced whole, so anything else is damage).
    """
    pointer = index_dir / CURRENT_NAME
    try:
        text = pointer.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    name = text.strip()
    if not _VERSION_NAME.match(name):
        raise IndexCorruptError(f"{pointer} is damaged: it should name a version like v000001, it holds {text[:40]!r}")
    return name


CurrentSignature = tuple[int, int, int, int] | None


def current_signature(index_dir: Path) -> CurrentSignature:
    """What changes whenever ``CURRENT`` is replaced (device, inode, size, mtime), from one ``stat``.

    ``publish`` replaces ``CURRENT`` whole, so a watcher compares this instead of
    reading the file. None when there is no ``CURRENT``.
    """
    try:
        info = os.stat(index_dir / CURRENT_NAME)
    except OSError:
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def list_versions(index_dir: Path) -> list[str]:
    """Complete versions on disk, oldest first."""
    folder = versions_dir(index_dir)
    if not folder.is_dir():
        return []
    names = [p.name for p in folder.iterdir() if p.is_dir() and _VERSION_NAME.match(p.name)]
    return sorted(names, key=lambda n: int(n[1:]))


def version_path(index_dir: Path, version: str | None = None) -> Path:
    """Folder of a version (the published one by default).

    Raises:
        IndexNotBuiltError: when nothing is published in ``index_dir``.
    """
    name = version or current_version(index_dir)
    if name is None:
        raise IndexNotBuiltError(
            f"no index in {index_dir}: build one with 'healthqa ingest corpus/articles --index {index_dir}'"
        )
    path = versions_dir(index_dir) / name
    if not path.is_dir():
        raise IndexCorruptError(f"{index_dir / CURRENT_NAME} names version {name!r}, but {path} is missing")
    return path


def fallback_versions(index_dir: Path) -> list[str]:
    """Versions older than the published one, newest first: what may serve when it is damaged.

    Versions above the published one were never published and are left out; when
    ``CURRENT`` itself is damaged, every version is a candidate.
    """
    try:
        published = current_version(index_dir)
    except IndexCorruptError:
        return list(reversed(list_versions(index_dir)))
    if published is None:
        return []
    return [n for n in reversed(list_versions(index_dir)) if int(n[1:]) < int(published[1:])]


def read_manifest(path: Path) -> Manifest:
    """Parse a version's manifest.

    Raises:
        IndexCorruptError: when it is missing or unreadable.
    """
    manifest_file = path / MANIFEST_NAME
    try:
        manifest = Manifest.from_json(manifest_file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise IndexCorruptError(f"{manifest_file} is missing") from exc
    except (ValueError, TypeError, KeyError) as exc:
        raise IndexCorruptError(f"{manifest_file} is not a valid manifest: {exc}") from exc
    if manifest.format_version != FORMAT_VERSION:
        raise IndexFormatError(
            f"{manifest_file} has format {manifest.format_version}, this program reads {FORMAT_VERSION}; re-run ingest"
        )
    return manifest


def verify_files(path: Path, manifest: Manifest) -> None:
    """Check every file the manifest lists: present, same size, same SHA-256.

    Raises:
        IndexCorruptError: naming the first file that differs.
    """
    if not manifest.files:
        raise IndexCorruptError(f"{path / MANIFEST_NAME} lists no files")
    for relative, expected in sorted(manifest.files.items()):
        file = path / relative
        try:
            size = file.stat().st_size
        except FileNotFoundError as exc:
            raise IndexCorruptError(f"index file {file} is missing") from exc
        if size != expected["bytes"]:
            raise IndexCorruptError(f"index file {file} has {size} bytes, the manifest says {expected['bytes']}")
        if sha256_file(file) != expected["sha256"]:
            raise IndexCorruptError(
                f"index file {file} does not match its SHA-256 in {path / MANIFEST_NAME} (one of them is damaged)"
            )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def write_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index directory's writer lock for the duration.

    The lock is an OS file lock (``flock``), so the kernel drops it when its
    holder dies: a killed ingest never blocks the next one. While held, the lock
    file names its holder, which a refused writer reports.

    Raises:
        IndexLockedError: at once, when another process holds it.
        IndexWriteError: when the folder cannot be created or written.
    """
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IndexWriteError(f"cannot create index folder {index_dir}: {exc.strerror or exc}") from exc
    path = index_dir / LOCK_NAME
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout as exc:
        raise IndexLockedError(
            f"another ingest is writing to {index_dir} ({_describe_holder(path)}); wait for it to finish "
            f"(lock: {path}, released automatically when that process ends)"
        ) from exc
    except OSError as exc:
        raise IndexWriteError(f"cannot lock {index_dir} for writing ({path}): {exc.strerror or exc}") from exc
    try:
        _record_holder(path)
        yield
    finally:
        lock.release()


def _record_holder(path: Path) -> None:
    # Only the holder writes here, after taking the lock; the file's content is
    # informative and never decides who holds the lock.
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": " ".join(sys.argv)[:200],
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with contextlib.suppress(OSError):  # a full disk must not stop a run that can still clean up
        path.write_text(json.dumps(holder) + "\n", encoding="utf-8")


def _describe_holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
        pid, host = int(holder["pid"]), str(holder["host"])
        described = f"held by pid {pid} on {host}, {holder['command']!r}, since {holder['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "held by another process"
    if host == socket.gethostname() and not _alive(pid):
        return "held by another process"  # a dead holder's record: the live one has not written its own yet
    return described


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


@contextlib.contextmanager
def staging_folder(index_dir: Path) -> Iterator[Path]:
    """A fresh folder to write a version into; removed if the block fails."""
    folder = versions_dir(index_dir) / f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        raise IndexWriteError(f"cannot write to {index_dir}: {exc.strerror or exc}") from exc
    try:
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def next_version_name(index_dir: Path) -> str:
    numbers = [int(n[1:]) for n in list_versions(index_dir)]
    return f"v{(max(numbers) + 1 if numbers else 1):06d}"


def publish(index_dir: Path, staging: Path, manifest: Manifest) -> Manifest:
    """Hash the staged files into the manifest, move the version into place, point CURRENT at it.

    Must be called under ``write_lock``. Returns the manifest as written. The
    ``os.replace`` of ``CURRENT`` is the commit point: before it the previous
    version is published, after it this one.

    Raises:
        IndexWriteError: when any write fails; the previous version stays published.
    """
    target = versions_dir(index_dir) / manifest.version
    moved = False
    try:
        files = {
            file.relative_to(staging).as_posix(): {"sha256": sha256_file(file), "bytes": file.stat().st_size}
            for file in sorted(staging.rglob("*"))
            if file.is_file() and file.name != MANIFEST_NAME
        }
        final = Manifest(**{**asdict(manifest), "model": manifest.model, "files": files})
        _write_synced(staging / MANIFEST_NAME, final.to_json())
        for file in staging.rglob("*"):
            if file.is_file():
                _fsync_path(file)
        os.replace(staging, target)
        moved = True
        _fsync_path(versions_dir(index_dir))
        _write_synced(index_dir / f"{CURRENT_NAME}.tmp", final.version + "\n")
        os.replace(index_dir / f"{CURRENT_NAME}.tmp", index_dir / CURRENT_NAME)
    except OSError as exc:
        if moved:  # never published: put it back where the caller's cleanup removes it
            with contextlib.suppress(OSError):
                os.replace(target, staging)
        raise IndexWriteError(f"cannot publish a new version in {index_dir}: {exc.strerror or exc}") from exc
    with contextlib.suppress(OSError):  # published already; a failed sync only weakens power-loss durability
        _fsync_path(index_dir)
    return final


def discard_unpublished(index_dir: Path) -> list[str]:
    """Delete what killed runs left: staging folders, and versions above the published one.

    A version above ``CURRENT`` was moved into place by a run killed before it
    switched ``CURRENT``, so it was never published (or it was rolled back by
    hand). Must be called under ``write_lock``, before a new version is written.
    """
    folder = versions_dir(index_dir)
    if not folder.is_dir():
        return []
    removed = list(folder.glob(f"{STAGING_PREFIX}*"))
    try:
        published = current_version(index_dir)
    except IndexCorruptError:
        candidates = []  # cannot tell what was published: keep every version
    else:
        floor = int(published[1:]) if published else 0
        candidates = [name for name in list_versions(index_dir) if int(name[1:]) > floor]
    leased = leases.leased_versions(index_dir, now=leases.fs_now(index_dir / LOCK_NAME))
    for name in candidates:
        if name not in leased and not _pinned(folder / name):
            logger.warning("removing %s: it was never published (an ingest was killed before switching CURRENT)", name)
            removed.append(folder / name)
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return [path.name for path in removed]


def prune(index_dir: Path, *, keep: int = KEEP_VERSIONS) -> list[str]:
    """Delete leftovers of killed runs and all but the newest ``keep`` versions.

    Must be called under ``write_lock``. The published version is never removed,
    nor one that a running process has loaded (``VersionPin``).
    """
    removed: list[str] = []
    folder = versions_dir(index_dir)
    if folder.is_dir():
        for leftover in folder.glob(f"{STAGING_PREFIX}*"):
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover.name)
    current = current_version(index_dir)
    now = leases.fs_now(index_dir / LOCK_NAME)
    leases.remove_stale_leases(index_dir, now=now)
    leased = leases.leased_versions(index_dir, now=now)
    for name in list_versions(index_dir)[:-keep]:
        if name == current:
            continue
        if name in leased or _pinned(folder / name):
            logger.info("keeping %s: a running process still serves it", name)
            continue
        shutil.rmtree(folder / name, ignore_errors=True)
        removed.append(name)
    return removed


class VersionPin:
    """A shared lock on a version's manifest and a lease file, held while the version is in use.

    ``prune`` skips a pinned version. The OS drops the lock when the pin is
    released or its process dies, so a crashed reader pins nothing; its lease
    goes stale (``index.leases``).

    Raises:
        OSError: the version's manifest cannot be opened (the version is gone).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        # The lease first: a writer that prunes after this point sees it, even before the lock is taken.
        self._lease = leases.take_lease(path.parent.parent, path.name) if _VERSION_NAME.match(path.name) else None
        try:
            self._fd: int | None = os.open(path / MANIFEST_NAME, os.O_RDONLY)
        except OSError:
            self._drop_lease()
            raise
        try:
            fcntl.flock(self._fd, fcntl.LOCK_SH)  # only prune's brief exclusive probe can make this wait
        except OSError as exc:  # a file system without flock: serve anyway, unprotected from pruning
            logger.warning("cannot pin %s against pruning: %s", path, exc.strerror or exc)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._drop_lease()

    def _drop_lease(self) -> None:
        if self._lease is not None:
            leases.drop_lease(self._lease)
            self._lease = None


def _pinned(path: Path) -> bool:
    try:
        fd = os.open(path / MANIFEST_NAME, os.O_RDONLY)
    except OSError:
        return False  # no manifest: not a version anyone could have loaded
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # a reader holds it (EWOULDBLOCK), or we cannot tell: keep it
        return True
    finally:
        os.close(fd)  # also drops the probe's lock
    return False


def new_manifest(**fields: Any) -> Manifest:
    return Manifest(created_at=datetime.now(UTC).isoformat(timespec="seconds"), **fields)


def _write_synced(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_model(manifest: Manifest, embedder: Embedder, *, where: Path) -> None:
    """Refuse an index whose vectors came from another model.

    Raises:
        EmbeddingMismatchError: naming both models.
    """
    if manifest.model.fingerprint != embedder.fingerprint:
        raise EmbeddingMismatchError(
            f"index {where} was built with model {manifest.model.name!r} "
            f"(fingerprint {_short(manifest.model.fingerprint)}), but the configured model is "
            f"{embedder.name!r} (fingerprint {_short(embedder.fingerprint)}); "
            "re-run 'healthqa ingest' with this model, or configure the model the index was built with"
        )


def _short(fingerprint: str) -> str:
    """The first 12 hex digits of a SHA-256 fingerprint, and any variant after it (``+int8``)."""
    return fingerprint[:12] + fingerprint[64:]
