"""Faults injected into the index writer: kills, a full disk, damaged files, a dead lock holder.

What is promised: the published version always loads and verifies, a reader keeps
answering from the version it loaded, nothing half-written is ever loaded, and
the next run cleans up and publishes. The writer here is ``build_index`` with the
fake embedder (the real ``healthqa ingest`` is killed in tests/cli/test_ingest_faults.py).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import index.build
from index import (
    Hit,
    IndexCorruptError,
    IndexLockedError,
    IndexNotBuiltError,
    IndexWriteError,
    SearchIndex,
    current_version,
    list_versions,
)
from index.store import STAGING_PREFIX, write_lock
from service.state import IndexHolder
from settings import SearchSettings
from tests.conftest import ROOT, FakeEmbedder
from tests.index.generations import build, check_complete, generation_docs, generation_of, generations_in
from tests.mounts import fill_leaving, mounted_tmpfs, read_only

KILLS = 25


def answers_from_its_own_version(index: SearchIndex | None) -> int:
    """Search the index from a fresh thread; every hit must come from the index's generation.

    A fresh thread has never touched the index, so it opens the version's sqlite file anew.
    """
    assert index is not None
    gen = generation_of(index)
    hits: list[Hit] = []
    thread = threading.Thread(target=lambda: hits.extend(index.search(f"knee pain rest gen{gen}", k=10)))
    thread.start()
    thread.join()
    assert hits, "the search failed in its thread"
    assert all(generations_in(h.text) == {gen} for h in hits), [(h.doc_id, h.text) for h in hits]
    return gen


def writer(index_dir: Path, first_gen: int) -> subprocess.Popen[str]:
    """A separate process publishing generation after generation until killed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.index.generations", str(index_dir), str(first_gen)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


@pytest.mark.slow  # 25 writer processes, about a second and a half each
def test_writer_killed_at_random_points_never_breaks_the_published_version(tmp_path: Path) -> None:
    """SIGKILL a writer process at random moments; its build takes ~0.2 s, so kills land in every phase."""
    embedder = FakeEmbedder()
    index_dir = tmp_path / "index"
    build(generation_docs(0), index_dir, embedder)
    holder = IndexHolder(index_dir, embedder=embedder, search=SearchSettings())
    assert holder.load() is not None
    rng = random.Random(8)  # reproducible delays
    published_gen, first_gen = 0, 1
    # Where each kill landed: before the run wrote anything, while it was publishing (it left a staging
    # folder or a version CURRENT never pointed at), after it had published (its generation is current).
    landed = {"before": 0, "during": 0, "after": 0}
    versions = index_dir / "versions"
    for kill in range(KILLS):
        staging_before = set(versions.glob(f"{STAGING_PREFIX}*"))
        versions_before = set(list_versions(index_dir))
        process = writer(index_dir, first_gen)
        threading.Event().wait(rng.uniform(0.0, 1.2))
        process.send_signal(signal.SIGKILL)
        process.communicate()
        assert process.returncode == -signal.SIGKILL
        run_first_gen = first_gen
        first_gen += 1000  # every run writes generations of its own

        # The published version loads, verifies and is one complete generation, never older than before.
        index = SearchIndex.load(index_dir, embedder=embedder)
        check_complete(index)
        assert generation_of(index) >= published_gen
        published_gen = generation_of(index)
        # What the dead writer left is never what is loaded.
        left_staging = set(versions.glob(f"{STAGING_PREFIX}*")) - staging_before
        left_unpublished = [
            v for v in set(list_versions(index_dir)) - versions_before if int(v[1:]) > int(index.version[1:])
        ]
        published_by_run = published_gen >= run_first_gen
        landed["during"] += bool(left_staging or left_unpublished)
        landed["after"] += published_by_run
        landed["before"] += not (left_staging or left_unpublished or published_by_run)
        # A reader that loaded an older version keeps answering from it (its files are pinned, never pruned).
        answers_from_its_own_version(holder.current)
        if kill % 5 == 4:
            holder.reload()
            assert holder.current is not None and holder.current.version == index.version
            assert answers_from_its_own_version(holder.current) == published_gen
        # The kernel released the dead writer's lock: the next writer gets it at once.
        with write_lock(index_dir):
            pass
        del index

    report = build(generation_docs(first_gen), index_dir, embedder)
    assert report.published and current_version(index_dir) == report.version
    assert generation_of(check_complete_loaded(index_dir, embedder)) == first_gen
    assert not list((index_dir / "versions").glob(f"{STAGING_PREFIX}*"))
    assert all(int(v[1:]) <= int(report.version[1:]) for v in list_versions(index_dir))
    print(f"\n{KILLS} kills landed: {landed}")  # noqa: T201
    # The promise covers every phase only if the kills really landed in each.
    assert all(landed.values()), f"kills did not land in every phase: {landed}"


def check_complete_loaded(index_dir: Path, embedder: FakeEmbedder) -> SearchIndex:
    index = SearchIndex.load(index_dir, embedder=embedder)
    check_complete(index)
    return index


def test_a_dead_lock_holder_does_not_block_the_next_writer(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from index.store import write_lock\n"
            "with write_lock(Path(sys.argv[1])):\n    print('locked', flush=True); sys.stdin.read()",
            str(tmp_path),
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(IndexLockedError) as refused:
            build(generation_docs(0), tmp_path, FakeEmbedder())
        message = str(refused.value)
        assert f"lock: {tmp_path / '.lock'}" in message and f"held by pid {holder.pid}" in message
    finally:
        holder.kill()
        holder.communicate()
    assert (tmp_path / ".lock").exists()  # the dead holder's file stays; its OS lock does not
    assert build(generation_docs(0), tmp_path, FakeEmbedder()).published


# ----- damaged files ------------------------------------------------------------------------


def flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate_half(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


VICTIMS = [
    "manifest.json",
    "meta.sqlite",
    "dense.faiss",
    "sentences.npy",
    "bm25/params.index.json",
    "bm25/vocab.index.json",
    "bm25/data.csc.index.npy",
    "bm25/indices.csc.index.npy",
    "bm25/indptr.csc.index.npy",
]


@pytest.mark.parametrize("damage", [flip_middle_byte, truncate_half, Path.unlink], ids=["flipped", "truncated", "gone"])
@pytest.mark.parametrize("victim", VICTIMS)
def test_a_damaged_file_is_refused_by_name_and_the_older_version_serves(
    tmp_path: Path, fake_embedder: FakeEmbedder, victim: str, damage
) -> None:
    build(generation_docs(1), tmp_path, fake_embedder)
    build(generation_docs(2), tmp_path, fake_embedder)
    damage(tmp_path / "versions" / "v000002" / victim)

    with pytest.raises(IndexCorruptError) as refused:
        SearchIndex.load(tmp_path, embedder=fake_embedder)
    assert f"v000002/{victim}" in str(refused.value)

    holder = IndexHolder(tmp_path, embedder=fake_embedder, search=SearchSettings())
    served = holder.load()
    assert served is not None and served.version == "v000001" and generation_of(served) == 1
    check_complete(served)
    assert holder.problem is not None
    assert holder.problem.startswith("serving v000001 because v000002 is damaged: ")
    assert f"v000002/{victim}" in holder.problem

    shutil.rmtree(tmp_path / "versions" / "v000001")  # no good version left: nothing is served, and why
    holder = IndexHolder(tmp_path, embedder=fake_embedder, search=SearchSettings())
    assert holder.load() is None and holder.current is None
    assert holder.problem is not None and f"v000002/{victim}" in holder.problem


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("v000009\n", "CURRENT names version 'v000009', but"),
        ("", "CURRENT is damaged"),
        ("v0000\x00\x00", "CURRENT is damaged"),
        ("../../../etc\n", "CURRENT is damaged"),
    ],
    ids=["missing-version", "empty", "garbage", "path-escape"],
)
def test_a_damaged_current_pointer_is_refused_and_the_newest_good_version_serves(
    tmp_path: Path, fake_embedder: FakeEmbedder, content: str, message: str
) -> None:
    build(generation_docs(1), tmp_path, fake_embedder)
    build(generation_docs(2), tmp_path, fake_embedder)
    (tmp_path / "CURRENT").write_text(content, encoding="utf-8")
    with pytest.raises(IndexCorruptError, match=message):
        SearchIndex.load(tmp_path, embedder=fake_embedder)
    holder = IndexHolder(tmp_path, embedder=fake_embedder, search=SearchSettings())
    served = holder.load()
    assert served is not None and generation_of(served) == 2
    assert holder.problem is not None and message in holder.problem
    # The next ingest repairs it.
    report = build(generation_docs(3), tmp_path, fake_embedder)
    assert report.published and generation_of(check_complete_loaded(tmp_path, fake_embedder)) == 3


def test_a_version_above_current_was_never_published_and_is_never_served(
    tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    """A run killed between moving its version into place and switching CURRENT leaves a complete,
    unpublished version; it must not serve as a fallback, and the next run removes it."""
    build(generation_docs(1), tmp_path, fake_embedder)
    build(generation_docs(2), tmp_path, fake_embedder)
    build(generation_docs(3), tmp_path, fake_embedder)
    (tmp_path / "CURRENT").write_text("v000002\n")  # as if v000003's run died just before switching
    flip_middle_byte(tmp_path / "versions" / "v000002" / "dense.faiss")
    served = SearchIndex.load_newest_good(tmp_path, embedder=fake_embedder)
    assert served.version == "v000001" and served.fallback_reason and "v000002/dense.faiss" in served.fallback_reason
    report = build(generation_docs(4), tmp_path, fake_embedder)
    assert report.version == "v000003"  # the unpublished v000003 was removed, its name reused
    assert generation_of(check_complete_loaded(tmp_path, fake_embedder)) == 4


def test_a_version_in_use_is_not_pruned(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    """Regression: pruning deleted a version a server still served; its next new request thread
    failed with 'unable to open database file'."""
    build(generation_docs(1), tmp_path, fake_embedder)
    serving = SearchIndex.load(tmp_path, embedder=fake_embedder)
    for gen in range(2, 7):
        build(generation_docs(gen), tmp_path, fake_embedder, keep_versions=2)
    assert list_versions(tmp_path) == ["v000001", "v000005", "v000006"]
    assert answers_from_its_own_version(serving) == 1
    del serving  # let go: the next prune removes it
    build(generation_docs(7), tmp_path, fake_embedder, keep_versions=2)
    assert list_versions(tmp_path) == ["v000006", "v000007"]


# ----- a full disk (a real, small tmpfs) ----------------------------------------------------


@pytest.mark.parametrize("when", ["before the build", "after sqlite is written"])
def test_a_full_disk_at_every_page_of_the_new_version_damages_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """ENOSPC at each page of the new version in turn.

    Filled before the build, the disk runs out inside sqlite (its journal is the peak);
    filled once sqlite is written, inside faiss, the sentence vectors, each bm25 file,
    the manifest and CURRENT.
    """
    embedder = FakeEmbedder()
    with mounted_tmpfs(tmp_path / "disk", "4m") as disk:
        index_dir = disk / "index"
        build(generation_docs(1), index_dir, embedder)
        holder = IndexHolder(index_dir, embedder=embedder, search=SearchSettings())
        assert holder.load() is not None
        page = os.statvfs(disk).f_frsize
        refused: list[str] = []
        write_sqlite = index.build._write_sqlite
        for free_pages in range(0, 64):
            if when == "before the build":
                fill_leaving(disk, free_pages * page)
            else:

                def write_sqlite_then_fill(path: Path, prepared, pages: int = free_pages) -> None:
                    write_sqlite(path, prepared)
                    fill_leaving(disk, pages * page)

                monkeypatch.setattr(index.build, "_write_sqlite", write_sqlite_then_fill)
            try:
                report = build(generation_docs(2), index_dir, embedder)
            except IndexWriteError as exc:
                refused.append(str(exc))
                assert current_version(index_dir) == "v000001"
                assert generation_of(check_complete_loaded(index_dir, embedder)) == 1
                assert answers_from_its_own_version(holder.current) == 1
                assert list_versions(index_dir) == ["v000001"]
                assert not list((index_dir / "versions").glob(f"{STAGING_PREFIX}*"))
                continue
            finally:
                monkeypatch.undo()
                (disk / "filler").unlink()
            assert report.published and generation_of(check_complete_loaded(index_dir, embedder)) == 2
            break
        else:
            pytest.fail("the new version never fitted in 64 free pages")
    assert len(refused) == free_pages >= 4  # every page short of the need was refused cleanly
    hit = {kind for kind in FULL_DISK_MESSAGES if any(kind in message for message in refused)}
    if when == "before the build":
        assert "cannot write meta.sqlite" in hit, refused  # its journal makes sqlite the peak
    else:
        assert hit == set(FULL_DISK_MESSAGES) - {"cannot write meta.sqlite"}, refused
    print(f"\nfull disk {when}: {len(refused)} builds refused, {len(hit)} kinds of file hit")  # noqa: T201


FULL_DISK_MESSAGES = (
    "cannot write meta.sqlite",
    "cannot write dense.faiss",
    "cannot write sentences.npy",
    "cannot write bm25",
    "cannot publish a new version",
)


def test_a_short_write_the_writer_missed_is_refused_before_publishing(
    tmp_path: Path, fake_embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """faiss only prints a failed close ("dense.faiss close error: No space left on device", seen
    on a full tmpfs); the short file it leaves must never be hashed into a published version."""
    build(generation_docs(1), tmp_path, fake_embedder)
    from index.dense import save_dense

    def save_then_lose_the_tail(dense, path: Path) -> None:
        save_dense(dense, path)
        path.write_bytes(path.read_bytes()[:-100])

    monkeypatch.setattr("index.build.save_dense", save_then_lose_the_tail)
    with pytest.raises(IndexWriteError, match="does not read back as written"):
        build(generation_docs(2), tmp_path, fake_embedder)
    assert generation_of(check_complete_loaded(tmp_path, fake_embedder)) == 1
    assert list_versions(tmp_path) == ["v000001"]


def test_a_read_only_index_folder_is_a_clear_error_and_keeps_serving(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    index_dir = tmp_path / "index"
    build(generation_docs(1), index_dir, embedder)
    holder = IndexHolder(index_dir, embedder=embedder, search=SearchSettings())
    assert holder.load() is not None
    for target in (index_dir, index_dir / "versions"):
        with read_only(target):
            with pytest.raises(IndexWriteError, match="Read-only file system") as refused:
                build(generation_docs(2), index_dir, embedder)
            assert str(index_dir) in str(refused.value)
            assert generation_of(check_complete_loaded(index_dir, embedder)) == 1
            assert answers_from_its_own_version(holder.current) == 1
            assert holder.reload().changed is False
    assert build(generation_docs(2), index_dir, embedder).published


def test_a_missing_index_is_not_a_damaged_one(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    holder = IndexHolder(tmp_path, embedder=fake_embedder, search=SearchSettings())
    assert holder.load() is None and holder.problem is not None and "no index in" in holder.problem
    with pytest.raises(IndexNotBuiltError):
        holder.reload()
