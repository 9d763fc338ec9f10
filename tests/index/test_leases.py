"""Versions in use by any process, here or on another machine sharing the folder, are never pruned.

The ``flock`` pin covers processes whose kernel (or network file system) shares
the lock; lease files cover the rest. These tests take the lock out of the
picture where they stand for another machine: a lease file alone must keep a
version, and must stop keeping it once its process is gone.
"""

from __future__ import annotations

import gc
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from index import SearchIndex, list_versions
from index.leases import LEASE_TTL_S, _boot_id, _pid_namespace, leases_dir, read_leases, renew_leases
from tests.conftest import ROOT, FakeEmbedder
from tests.index.generations import build, generation_docs

READER = """
import sys
from pathlib import Path
from index import SearchIndex
from tests.conftest import FakeEmbedder
index = SearchIndex.load(Path(sys.argv[1]), embedder=FakeEmbedder())
print(index.version, flush=True)
sys.stdin.read()  # hold the version until told to stop
"""


def write_foreign_lease(index_dir: Path, version: str, **owner: object) -> Path:
    """A lease as a replica on another machine writes it (no lock held here)."""
    folder = leases_dir(index_dir)
    folder.mkdir(exist_ok=True)
    path = folder / f"{version}.0123456789ab.lease"
    fields = {"version": version, "host": "replica-on-node-b", "boot_id": "other-kernel", "pid_ns": 1, "pid": 7}
    path.write_text(json.dumps({**fields, **owner}), encoding="utf-8")
    return path


def this_machine() -> dict[str, object]:
    """The identity a lease written on this machine, in this process namespace, carries."""
    return {"host": socket.gethostname(), "boot_id": _boot_id(), "pid_ns": _pid_namespace()}


def age(path: Path, seconds: float) -> None:
    stamp = path.stat().st_mtime - seconds
    os.utime(path, (stamp, stamp))


def publish_generations(index_dir: Path, embedder: FakeEmbedder, gens: range) -> None:
    for gen in gens:
        build(generation_docs(gen), index_dir, embedder, keep_versions=1)


def test_a_version_loaded_by_another_process_is_kept_until_that_process_dies(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    build(generation_docs(1), tmp_path, embedder)
    command = [sys.executable, "-c", READER, str(tmp_path)]
    with subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as reader:
        try:
            assert reader.stdout is not None and reader.stdout.readline().strip() == b"v000001"
            assert [lease.version for lease in read_leases(tmp_path)] == ["v000001"]
            publish_generations(tmp_path, embedder, range(2, 5))
            assert list_versions(tmp_path) == ["v000001", "v000004"]
        finally:
            reader.kill()  # SIGKILL: no clean-up, its lease stays behind
            reader.wait()
    assert [lease.version for lease in read_leases(tmp_path)] == ["v000001"]
    publish_generations(tmp_path, embedder, range(5, 6))
    assert list_versions(tmp_path) == ["v000005"]
    assert read_leases(tmp_path) == []  # the dead process's lease was cleared with its version


def test_a_lease_from_another_machine_keeps_its_version_until_its_heartbeat_stops(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    build(generation_docs(1), tmp_path, embedder)
    lease = write_foreign_lease(tmp_path, "v000001")
    publish_generations(tmp_path, embedder, range(2, 4))
    assert list_versions(tmp_path) == ["v000001", "v000003"]  # no lock held anywhere: the lease alone kept it
    age(lease, LEASE_TTL_S - 10)
    publish_generations(tmp_path, embedder, range(4, 5))
    assert list_versions(tmp_path) == ["v000001", "v000004"]  # late heartbeat, still within the TTL
    age(lease, 20)
    publish_generations(tmp_path, embedder, range(5, 6))
    assert list_versions(tmp_path) == ["v000005"]
    assert not lease.exists()


def test_the_lease_of_a_dead_process_on_this_machine_is_ignored_at_once(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    build(generation_docs(1), tmp_path, embedder)
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    write_foreign_lease(tmp_path, "v000001", **this_machine(), pid=int(finished.stdout))
    publish_generations(tmp_path, embedder, range(2, 3))
    assert list_versions(tmp_path) == ["v000002"]


def test_a_reused_pid_does_not_keep_a_dead_process_lease(tmp_path: Path) -> None:
    """The lease names this very process's pid, but a start time it never had: another process's lease."""
    embedder = FakeEmbedder()
    build(generation_docs(1), tmp_path, embedder)
    write_foreign_lease(tmp_path, "v000001", **this_machine(), pid=os.getpid(), start_ticks=1)
    publish_generations(tmp_path, embedder, range(2, 3))
    assert list_versions(tmp_path) == ["v000002"]


def test_a_released_version_drops_its_lease_and_a_held_one_is_renewed(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    build(generation_docs(1), tmp_path, embedder)
    index = SearchIndex.load(tmp_path, embedder=embedder)
    (lease,) = read_leases(tmp_path)
    assert lease.owner["pid"] == os.getpid() and lease.owner["host"] == socket.gethostname()
    age(lease.path, 60)
    aged = lease.path.stat().st_mtime
    renew_leases()
    assert lease.path.stat().st_mtime >= aged + 59  # the heartbeat moved back to now
    lease.path.unlink()  # as a writer does when it (wrongly) judged this process gone
    renew_leases()
    assert [found.version for found in read_leases(tmp_path)] == ["v000001"]
    del index
    gc.collect()
    assert read_leases(tmp_path) == []
