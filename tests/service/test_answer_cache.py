"""Repeated questions answered from the cache: the same answer as a fresh one, bounded, emptied on reload."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from answer import AnswerCache, answer_question
from index import SearchIndex
from ingest import ingest
from settings import AnswerSettings
from tests.conftest import CORPUS, FakeEmbedder
from tests.service.conftest import make_client, rules_only_models

QUESTION = "how should i sleep with sciatica"


def _answers(tmp_path: Path, questions: list[str]) -> list:
    embedder = FakeEmbedder()
    ingest([CORPUS], index_dir=tmp_path / "index", embedder=embedder, progress=False)
    index = SearchIndex.load(tmp_path / "index", embedder=embedder)
    models = rules_only_models()
    return [
        answer_question(q, index, settings=AnswerSettings(), triage=models.triage, abstention=models.abstention)
        for q in questions
    ]


def test_it_keeps_the_most_recently_used_within_its_entries_and_bytes(tmp_path: Path) -> None:
    first, second, third = _answers(tmp_path, [QUESTION, "what helps a stiff neck", "is it normal for knees to ache"])
    cache = AnswerCache(max_entries=2, max_bytes=10**6)
    for answer in (first, second):
        cache.put(answer.question, None, answer)
    assert cache.get(QUESTION, None, first.index_version) == replace(first, timings_ms={})  # now the most recent
    cache.put(third.question, None, third)
    assert len(cache) == 2 and cache.get(second.question, None, second.index_version) is None
    assert cache.get(QUESTION, 3, first.index_version) is None, "k is part of the key"
    small = AnswerCache(max_entries=10, max_bytes=cache.size_bytes // 2 + 1)
    for answer in (first, second, third):
        small.put(answer.question, None, answer)
    assert 1 <= len(small) < 3 and small.size_bytes <= small.max_bytes


def test_another_index_version_empties_it_and_an_answer_too_big_is_not_kept(tmp_path: Path) -> None:
    (answer,) = _answers(tmp_path, [QUESTION])
    cache = AnswerCache(max_entries=10, max_bytes=10**6)
    cache.put(QUESTION, None, answer)
    assert cache.get(QUESTION, None, "v999999") is None and len(cache) == 0
    tiny = AnswerCache(max_entries=10, max_bytes=10)
    tiny.put(QUESTION, None, answer)
    assert len(tiny) == 0


def _cache_count(metrics: str, result: str) -> float:
    line = next(
        line for line in metrics.splitlines() if line.startswith(f'healthqa_answer_cache_total{{result="{result}"}}')
    )
    return float(line.split()[-1])


def test_a_repeated_question_is_the_same_answer_with_an_id_that_verifies(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    corpus = tmp_path / "articles"
    shutil.copytree(CORPUS, corpus)
    index_dir = tmp_path / "index"
    ingest([corpus], index_dir=index_dir, embedder=embedder, progress=False)
    with make_client(index_dir, embedder, admin_api_key="k") as client:
        fresh = client.post("/v1/ask", json={"question": QUESTION}).json()
        embedded = len(embedder.embedded)
        again = client.post("/v1/ask", json={"question": f"  {QUESTION} "}).json()  # cleaned to the same text
        assert {k: v for k, v in again.items() if k != "timings_ms"} == {
            k: v for k, v in fresh.items() if k != "timings_ms"
        }
        assert set(again["timings_ms"]) == {"cache", "total"} and "total" in fresh["timings_ms"]
        assert len(embedder.embedded) == embedded
        feedback = client.post(
            "/v1/feedback", json={"answer_id": again["answer_id"], "question": QUESTION, "rating": "up"}
        )
        assert feedback.status_code == 201, feedback.text
        metrics = client.get("/metrics").text
        assert _cache_count(metrics, "hit") == 1 and _cache_count(metrics, "miss") == 1
        # A reload to a new version empties the cache: the next answer is computed afresh from the new index.
        (corpus / "sleep-and-back-pain.md").write_text(
            (corpus / "sleep-and-back-pain.md").read_text(encoding="utf-8") + "\nA pillow under the knees helps.\n",
            encoding="utf-8",
        )
        ingest([corpus], index_dir=index_dir, embedder=embedder, progress=False)
        assert client.post("/v1/admin/reload", headers={"X-API-Key": "k"}).json()["changed"] is True
        after = client.post("/v1/ask", json={"question": QUESTION}).json()
        assert after["index_version"] == "v000002" and set(after["timings_ms"]) != {"cache", "total"}
        assert _cache_count(client.get("/metrics").text, "miss") == 2


def test_with_the_cache_off_every_answer_is_computed(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    ingest([CORPUS], index_dir=tmp_path / "index", embedder=embedder, progress=False)
    with make_client(tmp_path / "index", embedder, answer_cache=0) as client:
        for _ in range(2):
            assert set(client.post("/v1/ask", json={"question": QUESTION}).json()["timings_ms"]) != {"cache", "total"}
        metrics = client.get("/metrics").text
        assert _cache_count(metrics, "hit") == 0 and _cache_count(metrics, "miss") == 0
