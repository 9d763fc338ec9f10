"""``healthqa ingest`` under faults, as a user runs it: killed, out of disk, read-only, run twice at once.

Each test keeps a reader (``IndexHolder`` with the real model) on the version
published before the fault and checks it keeps answering from it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from index import Hit, SearchIndex, current_version
from index.store import STAGING_PREFIX
from service.state import IndexHolder
from settings import SearchSettings
from tests.cli.test_cli import healthqa
from tests.conftest import CORPUS, ROOT
from tests.index.generations import check_complete, generation_of, generations_in
from tests.mounts import fill_leaving, mounted_tmpfs, read_only

pytestmark = pytest.mark.slow

CLI_KILLS = 5


def write_generation(folder: Path, gen: int) -> None:
    """The shipped articles, each ending with a sentence naming ``gen``, plus ``only-gen<gen>.md``."""
    for old in folder.glob("only-gen*.md"):
        old.unlink()
    for article in CORPUS.glob("*.md"):
        text = article.read_text(encoding="utf-8")
        (folder / article.name).write_text(text + f"\nThis copy of the article is gen{gen}.\n", encoding="utf-8")
    (folder / f"only-gen{gen}.md").write_text(
        f"# Generation {gen}\n\nThis note exists in gen{gen} only. Rest helps most back pain in gen{gen}.\n",
        encoding="utf-8",
    )


def serving_generation(holder: IndexHolder) -> int:
    """What the holder serves, searched from a fresh thread; every hit must be of one generation."""
    index = holder.current
    assert index is not None
    gen = generation_of(index)
    found: list[Hit] = []
    thread = threading.Thread(target=lambda: found.extend(index.search("back pain rest", k=10)))
    thread.start()
    thread.join()
    # A passage is one or two sentences of one article: it may miss the article's gen sentence, never mix.
    assert found and all(generations_in(hit.text) <= {gen} for hit in found)
    return gen


@pytest.fixture(autouse=True)
def _exported_model(onnx_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ``healthqa`` process here uses the session's ONNX export, so no run pays for exporting it.

    Otherwise the first run would export it, and the kill window measured on that run would outlast the others.
    """
    monkeypatch.setenv("HEALTHQA_MODEL_CACHE_DIR", str(onnx_cache))


class Ingest:
    """A ``healthqa ingest`` process whose stderr is read as it runs (so progress bars never block it).

    ``locked`` is set when the build logs that it starts embedding, which it does holding the lock.
    """

    def __init__(self, articles: Path, index_dir: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli", "ingest", str(articles), "--index", str(index_dir)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"},
        )
        self.locked = threading.Event()
        self.stderr: list[str] = []
        self._reader = threading.Thread(target=self._read)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)
            if "INFO index.build: embedding" in line:
                self.locked.set()
        self.process.stderr.close()

    def wait(self) -> int:
        code = self.process.wait(timeout=600)
        self._reader.join()
        return code


def test_ingest_killed_at_random_points_keeps_the_published_version_serving(tmp_path: Path, embedder) -> None:
    """Kills land while the run holds the lock, mostly before it publishes (embedding, writing).

    At least one kill must land before publishing (asserted); kills just after the commit are rare here,
    and tests/index/test_faults.py asserts that its writer kills land before, during and after publishing.
    """
    articles, index_dir = tmp_path / "articles", tmp_path / "index"
    articles.mkdir()
    write_generation(articles, 0)
    first = Ingest(articles, index_dir)
    assert first.wait() == 0, "".join(first.stderr)
    holder = IndexHolder(index_dir, embedder=embedder, search=SearchSettings())
    assert holder.load() is not None and serving_generation(holder) == 0
    # Time a run like the killed ones (a new generation over an existing index), not the first full build.
    write_generation(articles, 1)
    timed = Ingest(articles, index_dir)
    assert timed.locked.wait(timeout=600)
    locked_at = time.monotonic()
    assert timed.wait() == 0, "".join(timed.stderr)
    window = time.monotonic() - locked_at  # how long a run holds the lock
    rng = random.Random(5)
    published_gen, kills, gen = 1, 0, 1
    landed = {"before publishing": 0, "after publishing": 0}  # did the killed run's version go live?
    while kills < CLI_KILLS and gen < 2 * CLI_KILLS + 1:
        gen += 1
        write_generation(articles, gen)
        run = Ingest(articles, index_dir)
        assert run.locked.wait(timeout=600), "".join(run.stderr)
        locked_at = time.monotonic()
        time.sleep(rng.uniform(0.0, 0.8) * window)  # mostly inside the run: it may end a little sooner
        run.process.send_signal(signal.SIGKILL)
        killed = run.wait() == -signal.SIGKILL
        kills += killed
        if not killed:  # quicker than the timed run (the machine's load varies): aim inside the quicker one
            window = min(window, time.monotonic() - locked_at)
        published = SearchIndex.load(index_dir, embedder=embedder)  # verifies every file
        check_complete(published)
        assert published_gen <= generation_of(published) <= gen  # the old version, or the new one complete
        published_gen = generation_of(published)
        if killed:
            landed["after publishing" if published_gen == gen else "before publishing"] += 1
        assert serving_generation(holder) == 0  # the reader keeps its version
        del published
    assert kills == CLI_KILLS, f"only {kills} of {gen - 1} runs were killed while they held the lock"
    last_gen = gen
    # The promise (the old version keeps serving) is tested only if some kill landed before the commit.
    assert landed["before publishing"] >= 1, f"no kill landed before publishing: {landed}"
    rerun = healthqa("ingest", str(articles), "--index", str(index_dir), "-q")
    assert rerun.returncode == 0, rerun.stderr
    assert "Published index version" in rerun.stdout or "is up to date" in rerun.stdout
    assert not list((index_dir / "versions").glob(f"{STAGING_PREFIX}*"))
    assert holder.reload().index_version == current_version(index_dir)
    assert serving_generation(holder) == last_gen and holder.current is not None
    check_complete(holder.current)
    print(f"\n{kills} healthqa ingest processes killed while holding the lock: {landed}")  # noqa: T201


def test_a_full_disk_is_a_clear_error_and_damages_nothing(tmp_path: Path, embedder) -> None:
    articles = tmp_path / "articles"
    articles.mkdir()
    write_generation(articles, 0)
    with mounted_tmpfs(tmp_path / "disk", "8m") as disk:
        index_dir = disk / "index"
        assert healthqa("ingest", str(articles), "--index", str(index_dir), "-q").returncode == 0
        holder = IndexHolder(index_dir, embedder=embedder, search=SearchSettings())
        assert holder.load() is not None
        version_bytes = sum(f.stat().st_size for f in (index_dir / "versions").rglob("*") if f.is_file())
        write_generation(articles, 1)
        free = version_bytes // 2  # the disk fills up halfway through writing the new version
        fill_leaving(disk, free - free % os.statvfs(disk).f_frsize)
        try:
            result = healthqa("ingest", str(articles), "--index", str(index_dir), "-q")
        finally:
            (disk / "filler").unlink()
        assert result.returncode == 1, result.stdout
        assert "error: cannot write" in result.stderr and "of the new index version in" in result.stderr
        assert "No space left on device" in result.stderr or "disk is full" in result.stderr
        assert "Traceback" not in result.stderr
        assert current_version(index_dir) == "v000001"
        assert not list((index_dir / "versions").glob(f"{STAGING_PREFIX}*"))
        assert generation_of(SearchIndex.load(index_dir, embedder=embedder)) == 0
        assert serving_generation(holder) == 0
        assert healthqa("ingest", str(articles), "--index", str(index_dir), "-q").returncode == 0
        assert holder.reload().changed and serving_generation(holder) == 1
        del holder


def test_a_read_only_index_folder_is_a_clear_error(tmp_path: Path, embedder) -> None:
    articles, index_dir = tmp_path / "articles", tmp_path / "index"
    articles.mkdir()
    write_generation(articles, 0)
    assert healthqa("ingest", str(articles), "--index", str(index_dir), "-q").returncode == 0
    holder = IndexHolder(index_dir, embedder=embedder, search=SearchSettings())
    assert holder.load() is not None
    write_generation(articles, 1)
    with read_only(index_dir):
        result = healthqa("ingest", str(articles), "--index", str(index_dir), "-q")
        assert result.returncode == 1
        assert f"error: cannot lock {index_dir} for writing" in result.stderr
        assert "Read-only file system" in result.stderr and "Traceback" not in result.stderr
        assert serving_generation(holder) == 0
    assert generation_of(SearchIndex.load(index_dir, embedder=embedder)) == 0


def test_a_second_ingest_is_refused_while_the_first_holds_the_lock(tmp_path: Path, embedder) -> None:
    """Two real ingests; the first is stopped (SIGSTOP) while it holds the lock, so they never interleave."""
    articles, index_dir = tmp_path / "articles", tmp_path / "index"
    articles.mkdir()
    write_generation(articles, 0)
    first = Ingest(articles, index_dir)
    try:
        assert first.locked.wait(timeout=600), "the first ingest never started embedding"
        first.process.send_signal(signal.SIGSTOP)
        second = healthqa("ingest", str(articles), "--index", str(index_dir), "-q")
    finally:
        first.process.send_signal(signal.SIGCONT)
        first.wait()
    assert second.returncode == 1
    assert f"another ingest is writing to {index_dir}" in second.stderr
    assert f"held by pid {first.process.pid}" in second.stderr and "ingest" in second.stderr
    assert f"lock: {index_dir / '.lock'}" in second.stderr and "Traceback" not in second.stderr
    assert first.process.returncode == 0, "".join(first.stderr)
    published = SearchIndex.load(index_dir, embedder=embedder)
    check_complete(published)
    assert published.version == "v000001" and generation_of(published) == 0
