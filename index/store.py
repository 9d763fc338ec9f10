"""The on-disk layout of an index: versioned folders, a manifest, atomic publishing.

::

    <index_dir>/
      CURRENT                 name of the published version (replaced atomically)
      .lock                   held by the one process writing
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
version published and loadable.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from index.errors import IndexCorruptError, IndexLockedError, IndexNotBuiltError, IndexWriteError

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
CURRENT_NAME = "CURRENT"
VERSIONS_DIR = "versions"
STAGING_PREFIX = ".staging-"
KEEP_VERSIONS = 3
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
    sentence_vectors: bool = True
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        data["model"] = ModelInfo(**data["model"])
        return cls(**data)


def versions_dir(index_dir: Path) -> Path:
    return index_dir / VERSIONS_DIR


def current_version(index_dir: Path) -> str | None:
    """The published version's name, or None when nothing is published."""
    try:
        name = (index_dir / CURRENT_NAME).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name or None


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
        raise IndexCorruptError(
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
            raise IndexCorruptError(f"index file {file} does not match its SHA-256 in the manifest")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def write_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index directory's writer lock for the duration.

    Raises:
        IndexLockedError: at once, when another process holds it.
        IndexWriteError: when the folder cannot be created or written.
    """
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IndexWriteError(f"cannot create index folder {index_dir}: {exc.strerror or exc}") from exc
    lock = FileLock(str(index_dir / ".lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout as exc:
        raise IndexLockedError(
            f"another ingest is writing to {index_dir}; wait for it to finish (lock: {index_dir / '.lock'})"
        ) from exc
    except OSError as exc:
        raise IndexWriteError(f"cannot lock {index_dir}: {exc.strerror or exc}") from exc
    try:
        yield
    finally:
        lock.release()


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

    Must be called under ``write_lock``. Returns the manifest as written.

    Raises:
        IndexWriteError: when any write fails; the previous version stays published.
    """
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
        target = versions_dir(index_dir) / final.version
        os.replace(staging, target)
        _fsync_path(versions_dir(index_dir))
        _write_synced(index_dir / f"{CURRENT_NAME}.tmp", final.version + "\n")
        os.replace(index_dir / f"{CURRENT_NAME}.tmp", index_dir / CURRENT_NAME)
        _fsync_path(index_dir)
    except OSError as exc:
        raise IndexWriteError(f"cannot publish a new version in {index_dir}: {exc.strerror or exc}") from exc
    return final


def prune(index_dir: Path, *, keep: int = KEEP_VERSIONS) -> list[str]:
    """Delete leftovers of killed runs and all but the newest ``keep`` versions.

    Must be called under ``write_lock``. The published version is never removed.
    """
    removed: list[str] = []
    folder = versions_dir(index_dir)
    if folder.is_dir():
        for leftover in folder.glob(f"{STAGING_PREFIX}*"):
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover.name)
    current = current_version(index_dir)
    for name in list_versions(index_dir)[:-keep]:
        if name != current:
            shutil.rmtree(folder / name, ignore_errors=True)
            removed.append(name)
    return removed


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
