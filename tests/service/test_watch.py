"""Replicas follow the published index version by themselves (``HEALTHQA_INDEX_WATCH_S``).

The app runs in process with the fake embedder over indexes whose every sentence
names its generation (tests/index/generations.py); nobody calls the admin reload.
"""

from __future__ import annotations

import gc
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from index import current_signature
from index.leases import read_leases
from service.state import IndexHolder
from service.watch import IndexWatcher
from settings import SearchSettings, Settings
from tests.conftest import FakeEmbedder
from tests.index.generations import build, generation_docs, generations_in
from tests.service.conftest import make_client
from tests.service.test_reload import damage, search_generation

TICK_S = 0.05


def wait_for(condition: Callable[[], bool], *, timeout: float = 10.0) -> float:
    """Seconds until ``condition()`` holds; fails after ``timeout``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(0.01)
    return time.monotonic() - started


def serving(client: TestClient) -> str | None:
    version: str | None = client.get("/readyz").json().get("index_version")
    return version


def metric(client: TestClient, name: str) -> float | None:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def publish_damaged(index_dir: Path, embedder: FakeEmbedder, scratch: Path) -> str:
    """Publish a version with a damaged file, atomically, as a failing disk or a bad copy would leave it."""
    for gen in range(1, len(list((index_dir / "versions").iterdir())) + 2):
        report = build(generation_docs(gen), scratch, embedder)
    damage(scratch, report.version)
    shutil.copytree(scratch / "versions" / report.version, index_dir / "versions" / report.version)
    (index_dir / "CURRENT.tmp").write_text(report.version + "\n", encoding="utf-8")
    os.replace(index_dir / "CURRENT.tmp", index_dir / "CURRENT")
    return report.version


def test_a_published_version_is_followed_without_a_reload_call(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    build(generation_docs(1), tmp_path, embedder)
    with make_client(tmp_path, embedder, index_watch_s=TICK_S) as client:
        assert search_generation(client) == ("v000001", {1})
        build(generation_docs(2), tmp_path, embedder)
        wait_for(lambda: serving(client) == "v000002")
        assert search_generation(client) == ("v000002", {2})
        assert metric(client, "healthqa_index_served_version") == 2
        assert metric(client, "healthqa_index_published_version") == 2
        assert metric(client, "healthqa_index_ready") == 1
        assert metric(client, 'healthqa_index_watch_loads_total{result="loaded"}') == 1
        gc.collect()
        # Regression: the app's startup kept the first version alive, pinned against pruning for good.
        assert [lease.version for lease in read_leases(tmp_path)] == ["v000002"]


def test_a_replica_started_before_the_first_ingest_becomes_ready_when_it_is_published(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    with make_client(tmp_path, embedder, index_watch_s=TICK_S) as client:
        assert client.get("/readyz").status_code == 503
        build(generation_docs(1), tmp_path, embedder)
        wait_for(lambda: client.get("/readyz").status_code == 200)
        assert search_generation(client) == ("v000001", {1})


def test_a_damaged_version_is_refused_once_and_the_current_one_keeps_serving(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    index_dir = tmp_path / "index"
    build(generation_docs(1), index_dir, embedder)
    with make_client(index_dir, embedder, index_watch_s=TICK_S) as client:
        bad = publish_damaged(index_dir, embedder, tmp_path / "scratch")
        wait_for(lambda: (metric(client, 'healthqa_index_watch_loads_total{result="refused"}') or 0) >= 1)
        checks = metric(client, "healthqa_index_watch_checks_total") or 0
        wait_for(lambda: (metric(client, "healthqa_index_watch_checks_total") or 0) >= checks + 20)
        # Twenty more ticks: the damaged version is not tried again while CURRENT stays the same.
        assert metric(client, 'healthqa_index_watch_loads_total{result="refused"}') == 1
        ready = client.get("/readyz")
        assert ready.status_code == 200
        body = ready.json()
        assert body["index_version"] == "v000001"
        assert body["detail"].startswith(f"serving v000001; {bad} cannot be served: ")
        assert f"{bad}/dense.faiss" in body["detail"]
        problem = [
            line for line in client.get("/metrics").text.splitlines() if line.startswith("healthqa_index_problem{")
        ]
        assert len(problem) == 1 and f"{bad} cannot be served" in problem[0]
        assert metric(client, "healthqa_index_served_version") == 1
        assert search_generation(client) == ("v000001", {1})

        build(generation_docs(9), index_dir, embedder)  # the next ingest repairs it
        wait_for(lambda: serving(client) not in (None, "v000001"))
        assert client.get("/readyz").json()["detail"] is None
        assert search_generation(client)[1] == {9}
        assert not [
            line for line in client.get("/metrics").text.splitlines() if line.startswith("healthqa_index_problem{")
        ]


def test_watching_off_keeps_the_loaded_version(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    build(generation_docs(1), tmp_path, embedder)
    with make_client(tmp_path, embedder, index_watch_s=0) as client:
        build(generation_docs(2), tmp_path, embedder)
        time.sleep(0.3)
        assert search_generation(client) == ("v000001", {1})
        assert metric(client, "healthqa_index_watch_checks_total") is None


def test_followed_publishes_never_fail_a_request_or_mix_versions(tmp_path: Path) -> None:
    """Searches and answers run without pause while ten versions are published (two kept on disk) and the
    watcher alone moves the server along: every response comes whole from the version it names."""
    embedder = FakeEmbedder()
    gen_of = {build(generation_docs(0), tmp_path, embedder).version: 0}
    seen: list[tuple[int, str, set[int]]] = []
    stop = threading.Event()

    def hammer(endpoint: str, body: dict[str, object]) -> None:
        while not stop.is_set():
            response = client.post(endpoint, json=body)
            payload = response.json()
            texts = [r["text"] for r in payload.get("results", [])] + [c["quote"] for c in payload.get("citations", [])]
            seen.append(
                (response.status_code, payload.get("index_version", ""), set().union(*map(generations_in, texts)))
            )

    with make_client(tmp_path, embedder, index_watch_s=0.02, abstain_threshold=-1.0) as client:
        workers = [
            threading.Thread(target=hammer, args=("/v1/search", {"query": "knee pain tip", "k": 8})),
            threading.Thread(target=hammer, args=("/v1/ask", {"question": "how do I rest a sore knee?"})),
        ]
        for worker in workers:
            worker.start()
        try:
            for gen in range(1, 11):
                gen_of[build(generation_docs(gen), tmp_path, embedder, keep_versions=2).version] = gen
                time.sleep(0.1)
            wait_for(lambda: serving(client) == "v000011")
        finally:
            stop.set()
            for worker in workers:
                worker.join()
    assert seen and all(status == 200 for status, _, _ in seen), [s for s in seen if s[0] != 200][:5]
    assert len({version for _, version, _ in seen}) >= 4  # the load really spanned several versions
    for _, version, gens in seen:
        assert gens == {gen_of[version]}, (version, gens)


def test_an_idle_check_is_one_stat_and_costs_far_below_one_percent_of_a_core(tmp_path: Path) -> None:
    """Idle, a tick stats CURRENT and reads nothing: at the default interval its CPU share is tiny."""
    embedder = FakeEmbedder()
    build(generation_docs(1), tmp_path, embedder)
    holder = IndexHolder(tmp_path, embedder=embedder, search=SearchSettings())
    seen = current_signature(tmp_path)
    holder.load()
    watcher = IndexWatcher(holder, interval_s=Settings.model_fields["index_watch_s"].default, seen=seen)
    ticks = 2000
    started = time.process_time()
    for _ in range(ticks):
        assert watcher.check() is False
    cpu_per_tick = (time.process_time() - started) / ticks
    assert cpu_per_tick / watcher.interval_s < 0.0001, cpu_per_tick  # < 0.01 % of a core at the default interval
