"""Real file-system faults for tests: a small tmpfs to fill, a read-only bind mount.

Both need root and mount(8) (CI runs as root); without them a test skips, saying why, unless
HEALTHQA_REQUIRE_MOUNTS=1 (set by .ci/run), which makes that skip a failure.
Mounts are always undone, lazily, so a file still open cannot keep one alive.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

from tests.switches import skip_unless_required


def cannot_run_root_only(reason: str) -> NoReturn:
    """Skip with ``reason``; fail instead when HEALTHQA_REQUIRE_MOUNTS=1 (CI runs as root) makes the
    root-only tests (mounts, network namespaces) mandatory."""
    skip_unless_required("MOUNTS", reason)


def _mount(*args: str) -> None:
    if os.geteuid() != 0:
        cannot_run_root_only("mounting (a small tmpfs, a read-only bind mount) needs root")
    try:
        done = subprocess.run(["mount", *args], capture_output=True, text=True)
    except FileNotFoundError:
        cannot_run_root_only("mount(8) is not installed")
    if done.returncode != 0:
        cannot_run_root_only(f"'mount {' '.join(args)}' is not permitted here: {done.stderr.strip()}")


@contextlib.contextmanager
def mounted_tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of ``size`` (e.g. ``4m``) at ``folder``, to run out of space in."""
    folder.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder))
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def fill_leaving(folder: Path, free_bytes: int) -> None:
    """Fill ``folder``'s file system with ``folder/filler`` so that exactly ``free_bytes`` stay free."""
    stat = os.statvfs(folder)
    available = stat.f_bavail * stat.f_frsize
    assert available >= free_bytes
    with (folder / "filler").open("ab") as filler:
        filler.write(b"\0" * (available - free_bytes))
    stat = os.statvfs(folder)
    assert stat.f_bavail * stat.f_frsize == free_bytes


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` read-only (a read-only bind mount over itself): writes fail with EROFS, even for root."""
    _mount("--bind", str(folder), str(folder))
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)
