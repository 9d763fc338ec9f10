"""The service when the index goes wrong: damaged versions, refused reloads, reloads under load.

The app runs in process with the fake embedder, over indexes whose every sentence
names its generation (tests/index/generations.py), so a response that mixed two
versions would show it.
"""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi.testclient import TestClient

from index import current_version
from tests.conftest import FakeEmbedder
from tests.index.generations import build, generation_docs, generations_in
from tests.service.conftest import make_client

ADMIN = {"X-API-Key": "k"}


def damage(index_dir: Path, version: str, victim: str = "dense.faiss") -> None:
    path = index_dir / "versions" / version / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def search_generation(client: TestClient) -> tuple[str, set[int]]:
    response = client.post("/v1/search", json={"query": "knee pain tip", "k": 10})
    assert response.status_code == 200, response.text
    body = response.json()
    return body["index_version"], set().union(*(generations_in(r["text"]) for r in body["results"]))


def test_no_good_version_is_not_ready_with_the_reason(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    build(generation_docs(1), tmp_path, embedder)
    damage(tmp_path, "v000001", "meta.sqlite")
    with make_client(tmp_path, embedder) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "not_ready"
        assert "v000001/meta.sqlite" in ready.json()["detail"]
        unavailable = client.post("/v1/search", json={"query": "knee"})
        assert unavailable.status_code == 503 and "v000001/meta.sqlite" in unavailable.json()["error"]["message"]


def test_a_damaged_published_version_serves_the_older_one_and_says_so(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    build(generation_docs(1), tmp_path, embedder)
    build(generation_docs(2), tmp_path, embedder)
    damage(tmp_path, "v000002", "sentences.npy")
    with make_client(tmp_path, embedder) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "ready" and body["index_version"] == "v000001"
        assert body["detail"].startswith("serving v000001 because v000002 is damaged: ")
        assert "v000002/sentences.npy" in body["detail"]
        assert search_generation(client) == ("v000001", {1})


def test_reload_onto_a_damaged_version_keeps_the_old_one_serving(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    build(generation_docs(1), tmp_path, embedder)
    with make_client(tmp_path, embedder, admin_api_key="k") as client:
        build(generation_docs(2), tmp_path, embedder)
        damage(tmp_path, "v000002", "bm25/vocab.index.json")
        refused = client.post("/v1/admin/reload", headers=ADMIN)
        assert refused.status_code == 409
        error = refused.json()["error"]
        assert error["code"] == "reload_refused" and "keeping the current one" in error["message"]
        assert "v000002/bm25/vocab.index.json" in error["message"]
        assert search_generation(client) == ("v000001", {1})
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready" and ready["index_version"] == "v000001"
        assert ready["detail"].startswith("serving v000001; v000002 cannot be served: ")

        build(generation_docs(3), tmp_path, embedder)  # the next ingest repairs it
        reloaded = client.post("/v1/admin/reload", headers=ADMIN)
        assert reloaded.status_code == 200
        assert reloaded.json() == {"index_version": "v000003", "previous_version": "v000001", "changed": True}
        assert client.get("/readyz").json() == {"status": "ready", "index_version": "v000003", "detail": None}
        assert search_generation(client) == ("v000003", {3})


def test_reload_with_nothing_served_takes_the_newest_good_version(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    with make_client(tmp_path, embedder, admin_api_key="k") as client:
        assert client.get("/readyz").status_code == 503
        assert client.post("/v1/admin/reload", headers=ADMIN).status_code == 409
        build(generation_docs(1), tmp_path, embedder)
        build(generation_docs(2), tmp_path, embedder)
        damage(tmp_path, "v000002")
        reloaded = client.post("/v1/admin/reload", headers=ADMIN)
        assert reloaded.status_code == 200 and reloaded.json()["index_version"] == "v000001"
        assert "v000002 is damaged" in client.get("/readyz").json()["detail"]


ROUNDS = 12


def test_reloads_under_load_never_fail_a_request_or_mix_versions(tmp_path: Path) -> None:
    """Searches and answers run without pause while versions are published and reloaded: each round
    publishes one to three versions (keeping only two on disk, so the served one is soon the oldest),
    one round publishes a damaged version, and every response must come whole from the version it names."""
    embedder = FakeEmbedder()
    generation_of_version = {build(generation_docs(0), tmp_path, embedder).version: 0}
    seen: list[tuple[str, int, str, set[int], set[str]]] = []
    stop = threading.Event()

    def hammer(endpoint: str, body: dict[str, object]) -> None:
        while not stop.is_set():
            response = client.post(endpoint, json=body)
            payload = response.json()
            texts = [r["text"] for r in payload.get("results", [])] + [c["quote"] for c in payload.get("citations", [])]
            doc_ids = {r["doc_id"] for r in payload.get("results", []) + payload.get("citations", [])}
            gens = set().union(*(generations_in(text) for text in texts)) if texts else set()
            seen.append((endpoint, response.status_code, payload.get("index_version", ""), gens, doc_ids))

    with make_client(tmp_path, embedder, admin_api_key="k", abstain_threshold=-1.0) as client:
        workers = [
            threading.Thread(target=hammer, args=("/v1/search", {"query": "knee pain tip", "k": 8})),
            threading.Thread(target=hammer, args=("/v1/search", {"query": "rest the back gently", "mode": "sparse"})),
            threading.Thread(target=hammer, args=("/v1/ask", {"question": "how do I rest a sore knee?"})),
            threading.Thread(target=hammer, args=("/v1/ask", {"question": "does the hip heal with care?"})),
        ]
        for worker in workers:
            worker.start()
        gen = 0
        try:
            for round_ in range(ROUNDS):
                for _ in range(1 + round_ % 3):
                    gen += 1
                    report = build(generation_docs(gen), tmp_path, embedder, keep_versions=2)
                    generation_of_version[report.version] = gen
                if round_ == ROUNDS // 2:
                    damage(tmp_path, report.version)
                    assert client.post("/v1/admin/reload", headers=ADMIN).status_code == 409
                    continue
                reloaded = client.post("/v1/admin/reload", headers=ADMIN)
                assert reloaded.status_code == 200, reloaded.text
                assert reloaded.json()["index_version"] == current_version(tmp_path)
        finally:
            stop.set()
            for worker in workers:
                worker.join()

    failed = [s for s in seen if s[1] != 200]
    assert not failed, failed[:5]
    assert {endpoint for endpoint, *_ in seen} == {"/v1/search", "/v1/ask"}
    served = {version for _, _, version, _, _ in seen}
    assert len(served) >= ROUNDS // 2, served  # the load really spanned many versions
    for endpoint, _, version, gens, doc_ids in seen:
        gen = generation_of_version[version]
        assert gens == {gen}, (endpoint, version, gens)
        assert all(d == f"only-gen{gen}" or not d.startswith("only-gen") for d in doc_ids), (version, doc_ids)
    print(f"\n{len(seen)} requests over {len(served)} versions, none failed or mixed")  # noqa: T201
