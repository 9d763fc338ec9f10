"""Lease files: which index versions are in use, visible to every process on a shared folder.

::

    <index_dir>/leases/
      v000007.3f9c2a1b7e04.lease   one per loaded version per process: {"version", "host", "pid", ...}

A process that loads a version writes a lease and keeps its modification time
fresh (the heartbeat, every ``LEASE_RENEW_S`` seconds, from one daemon thread
per process); it removes the lease when it lets the version go. Pruning keeps
every version named by a live lease.

The shared ``flock`` of ``store.VersionPin`` already pins a version against
writers on the same machine, and on network file systems whose client forwards
``flock`` to the server. Leases cover the rest: replicas on other machines over a
file system that keeps locks local, or none at all. A lease is stale, and
ignored, when its heartbeat is older than ``LEASE_TTL_S`` (its process died or
hung on another machine), or at once when it names a process of this machine's
own process namespace that no longer runs (a SIGKILLed replica). Heartbeats are
compared with the file system's own clock (``fs_now``), so clock skew between
machines does not matter.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

logger = logging.getLogger(__name__)

LEASES_DIR = "leases"
LEASE_SUFFIX = ".lease"
LEASE_RENEW_S = 15.0
# Several missed heartbeats before a lease from another machine counts as dead: a busy or briefly
# paused replica keeps its versions, a vanished one releases them within a couple of minutes.
LEASE_TTL_S = 120.0


@dataclass(frozen=True)
class Lease:
    """One process's claim on one version, as read from its file."""

    path: Path
    version: str
    heartbeat: float  # the file's mtime, in the file system's clock
    owner: dict[str, object]  # host, boot_id, pid_ns, pid, start_ticks; empty when unreadable


def leases_dir(index_dir: Path) -> Path:
    return index_dir / LEASES_DIR


def take_lease(index_dir: Path, version: str) -> Path | None:
    """Write a lease on ``version`` and keep it fresh until ``drop_lease``.

    Returns:
        The lease file, or None when it cannot be written (a read-only mount): the
        version is then protected by the ``flock`` pin alone, and a warning says so.
    """
    folder = leases_dir(index_dir)
    path = folder / f"{version}.{uuid.uuid4().hex[:12]}{LEASE_SUFFIX}"
    try:
        folder.mkdir(exist_ok=True)
        _write_lease(path, version)
    except OSError as exc:
        logger.warning(
            "cannot write a lease on %s in %s (%s): only this machine's file lock keeps it from being pruned",
            version,
            folder,
            exc.strerror or exc,
        )
        return None
    _KEEPER.add(path, version)
    return path


def drop_lease(path: Path) -> None:
    _KEEPER.discard(path)
    with contextlib.suppress(OSError):
        path.unlink()


def read_leases(index_dir: Path) -> list[Lease]:
    """Every lease file in ``index_dir`` (live or stale)."""
    folder = leases_dir(index_dir)
    try:
        paths = [p for p in folder.iterdir() if p.name.endswith(LEASE_SUFFIX)]
    except OSError:
        return []
    leases = []
    for path in paths:
        try:
            heartbeat = path.stat().st_mtime
        except OSError:
            continue  # released while we looked
        try:
            owner = json.loads(path.read_text(encoding="utf-8"))
            owner = owner if isinstance(owner, dict) else {}
        except (OSError, ValueError):
            owner = {}  # half-written or damaged: judged by its heartbeat alone
        leases.append(Lease(path, path.name.split(".", 1)[0], heartbeat, owner))
    return leases


def is_stale(lease: Lease, *, now: float) -> bool:
    """True when the lease's process is gone: dead in this process namespace, or silent past the TTL."""
    if now - lease.heartbeat > LEASE_TTL_S:
        return True
    owner = lease.owner
    same_namespace = (owner.get("host"), owner.get("boot_id"), owner.get("pid_ns")) == (
        socket.gethostname(),
        _boot_id(),
        _pid_namespace(),
    )
    if same_namespace:
        pid, start = owner.get("pid"), owner.get("start_ticks")
        return not (isinstance(pid, int) and _running(pid, start if isinstance(start, int) else None))
    return False


def leased_versions(index_dir: Path, *, now: float) -> set[str]:
    """Versions named by a live lease."""
    return {lease.version for lease in read_leases(index_dir) if not is_stale(lease, now=now)}


def remove_stale_leases(index_dir: Path, *, now: float) -> list[str]:
    """Delete the leases of dead processes; returns their file names. Call under the writer lock."""
    removed = []
    for lease in read_leases(index_dir):
        if is_stale(lease, now=now):
            with contextlib.suppress(OSError):
                lease.path.unlink()
                removed.append(lease.path.name)
    return removed


def fs_now(reference: Path) -> float:
    """The file system's current time: touch ``reference`` (an existing file) and read its mtime.

    Heartbeats are mtimes set by the file server's clock, so they are compared with
    that clock, not this machine's. Falls back to this machine's clock.
    """
    try:
        os.utime(reference)
        return reference.stat().st_mtime
    except OSError:
        return time.time()


def _write_lease(path: Path, version: str) -> None:
    owner = {
        "version": version,
        "host": socket.gethostname(),
        "boot_id": _boot_id(),
        "pid_ns": _pid_namespace(),
        "pid": os.getpid(),
        "start_ticks": _start_ticks(os.getpid()),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(owner) + "\n", encoding="utf-8")
    os.replace(temporary, path)  # never a half-written lease under its real name


class _LeaseKeeper:
    """One daemon thread per process that renews this process's leases."""

    def __init__(self) -> None:
        self._leases: dict[Path, str] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, path: Path, version: str) -> None:
        with self._lock:
            self._leases[path] = version
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="healthqa-lease-keeper", daemon=True)
                self._thread.start()

    def discard(self, path: Path) -> None:
        with self._lock:
            self._leases.pop(path, None)

    def _run(self) -> None:
        while True:
            time.sleep(LEASE_RENEW_S)
            self.renew()

    def renew(self) -> None:
        """Refresh the heartbeat of every lease this process holds; re-create any that was removed."""
        with self._lock:
            held = dict(self._leases)
        for path, version in held.items():
            try:
                os.utime(path)
            except FileNotFoundError:
                # Removed as stale (this process was paused past the TTL): claim it again.
                with contextlib.suppress(OSError):
                    _write_lease(path, version)
            except OSError as exc:
                logger.warning("cannot renew the lease %s: %s", path, exc.strerror or exc)


_KEEPER = _LeaseKeeper()


def renew_leases() -> None:
    """Renew this process's leases now (the keeper thread does it every ``LEASE_RENEW_S``)."""
    _KEEPER.renew()


@cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return ""


@cache
def _pid_namespace() -> int:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


def _start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks since boot), so that a reused pid is not taken for it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    try:
        return int(stat.rsplit(")", 1)[1].split()[19])  # field 22; the command name may hold spaces
    except (IndexError, ValueError):
        return None


def _running(pid: int, start_ticks: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    return start_ticks is None or _start_ticks(pid) in (start_ticks, None)
