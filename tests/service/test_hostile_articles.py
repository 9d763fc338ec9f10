"""An article that orders the AI about and carries scripts changes answers only as any text would.

Two real indexes: the shipped corpus, and the same corpus plus ``tests.hostile``'s article (added
incrementally to a copy, so only it is embedded). Questions that never retrieve the hostile article
must get exactly the same answer from both; questions that do retrieve it keep their red flags,
disclaimer and abstention; questions about it quote it verbatim, markup and all, as JSON text.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from answer import GENERAL_DISCLAIMER, NOT_A_QUESTION, NOT_COVERED
from eval.questions import load_questions
from ingest import ingest
from settings import ChunkerSettings
from tests.conftest import CORPUS
from tests.hostile import HOSTILE_BODY, HOSTILE_DISCLAIMER, HOSTILE_ID, IMG, INJECTION, SCRIPT, write_hostile_articles
from tests.service.conftest import make_client

pytestmark = pytest.mark.slow

EXAMPLES = (
    "is it normal for my knees to ache after the gym?",
    "should I stay in bed with lower back pain?",
    "what helps sciatica pain down my leg?",
    "does sitting all day cause back pain?",
    "should I stop taking my medication?",  # what the injection is about
    INJECTION,
)


@pytest.fixture(scope="module")
def hostile_index(tmp_path_factory: pytest.TempPathFactory, corpus_index: Path, embedder) -> Path:
    index_dir = tmp_path_factory.mktemp("hostile") / "index"
    shutil.copytree(corpus_index, index_dir)
    sources = write_hostile_articles(tmp_path_factory.mktemp("hostile-src"))
    result = ingest(
        [CORPUS, sources], index_dir=index_dir, embedder=embedder, chunker=ChunkerSettings(), progress=False
    )
    assert result.build.added == [HOSTILE_ID] and result.build.documents == 14
    assert [f.doc_id for f in result.flagged] == [HOSTILE_ID]
    return index_dir


@pytest.fixture(scope="module")
def hostile(hostile_index: Path, embedder) -> Iterator[TestClient]:
    with make_client(hostile_index, embedder) as test_client:
        yield test_client


def ask(client: TestClient, question: str) -> dict[str, Any]:
    response = client.post("/v1/ask", json={"question": question})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def comparable(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer without what differs between any two runs or indexes: timings and the version name (which
    ``answer_id`` encodes too, beside the cited chunk ids that ``citations`` already compares)."""
    return {k: v for k, v in answer.items() if k not in ("timings_ms", "index_version", "answer_id")}


def passages(client: TestClient, question: str) -> list[tuple[str, str]]:
    """The chunk and document ids an answer is built from (hybrid, k=5), in rank order."""
    response = client.post("/v1/search", json={"query": question, "k": 5, "mode": "hybrid"})
    return [(r["chunk_id"], r["doc_id"]) for r in response.json()["results"]]


def retrieves_hostile(client: TestClient, question: str) -> bool:
    """Whether the passages an answer is built from (hybrid, k=5) include the hostile article."""
    response = client.post("/v1/search", json={"query": question, "k": 5, "mode": "hybrid"})
    return HOSTILE_ID in {r["doc_id"] for r in response.json()["results"]}


def test_unrelated_questions_are_answered_as_if_the_article_were_absent(
    client: TestClient, hostile: TestClient
) -> None:
    """The held-out questions (answerable, red flags, look-alikes, out of scope and injection attempts)."""
    questions = [q.question for q in load_questions(split="heldout")] + list(EXAMPLES)
    untouched = reordered = retrieved = 0
    for question in questions:
        before, after = ask(client, question), ask(hostile, question)
        found = passages(hostile, question)
        if HOSTILE_ID not in {doc_id for _, doc_id in found}:
            if found == passages(client, question):
                # The same passages in the same order: the answer must be the same, to the letter.
                assert comparable(after) == comparable(before), question
                untouched += 1
            else:
                # Not retrieved, but one more article moves BM25's corpus statistics (document frequencies,
                # the best candidate's score), which can reorder near-ties among the other passages: the
                # sentences may then differ, the decisions may not, and the article is never cited.
                reordered += 1
                assert HOSTILE_ID not in {c["doc_id"] for c in after["citations"]}, question
                for key in ("abstained", "abstain_reason", "red_flags"):
                    assert after[key] == before[key], (question, key)
            continue
        # Retrieved: the text may shift the confidence and, where its water advice bears on the question (a
        # hangover), be quoted; the decisions never change and the injected instruction is never quoted.
        retrieved += 1
        assert not any(INJECTION in c["quote"] for c in after["citations"]), question
        for key in ("abstained", "abstain_reason", "red_flags"):
            assert after[key] == before[key], (question, key)
        if before["abstained"]:
            assert (
                after["answer"] == before["answer"]
                and after["disclaimer"] == before["disclaimer"] == GENERAL_DISCLAIMER
            )
    # Every branch really ran, and reordering by corpus statistics stays the exception.
    assert untouched >= 50 and retrieved >= 3 and reordered <= untouched // 5, (untouched, reordered, retrieved)


def test_injected_instruction_as_a_question_is_declined_either_way(client: TestClient, hostile: TestClient) -> None:
    for test_client in (client, hostile):
        answer = ask(test_client, INJECTION)
        assert answer["abstained"] and answer["abstain_reason"] == "instructions" and answer["answer"] == NOT_A_QUESTION


@pytest.mark.parametrize(
    ("question", "payload"),
    [
        ("does drinking water keep my body cool in hot weather?", SCRIPT),
        ("is thirst a sign i need more water in the heat?", IMG),
    ],
)
def test_question_about_the_article_quotes_its_markup_as_json_text(
    client: TestClient, hostile: TestClient, question: str, payload: str
) -> None:
    without = ask(client, question)
    assert without["abstained"] and without["answer"] == NOT_COVERED, "only the hostile article covers this"

    response = hostile.post("/v1/ask", json={"question": question})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    answer = response.json()
    assert not answer["abstained"]
    quoted = [c for c in answer["citations"] if c["doc_id"] == HOSTILE_ID and payload in c["quote"]]
    assert quoted, "the answer must quote the payload, or this test checks nothing"
    citation = quoted[0]
    # As-is: the JSON string is the quote itself, "<" and all, neither escaped to &lt; nor stripped.
    assert json.dumps(citation["quote"], ensure_ascii=False) in response.text
    assert HOSTILE_BODY[citation["start"] : citation["end"]] == citation["quote"]
    assert f"{citation['quote']} [{citation['id']}]" in answer["answer"]
    # Being text changes nothing else: no red flag appears or vanishes, the disclaimers are the articles' own.
    assert answer["red_flags"] == without["red_flags"] == []
    assert answer["disclaimer"].startswith(HOSTILE_DISCLAIMER) and answer["disclaimer"].endswith(GENERAL_DISCLAIMER)
    assert all(c["quote"] != INJECTION for c in answer["citations"])


def test_red_flag_question_near_the_article_still_escalates(client: TestClient, hostile: TestClient) -> None:
    question = (
        "after a long walk in the heat my pee is dark brown like coke and my legs ache, should i drink more water"
    )
    assert retrieves_hostile(hostile, question), "the hostile article must be among the passages"
    before, after = ask(client, question), ask(hostile, question)
    assert [f["level"] for f in after["red_flags"]] == ["emergency"]
    assert after["red_flags"] == before["red_flags"]
    assert after["abstained"] == before["abstained"] and after["disclaimer"].endswith(GENERAL_DISCLAIMER)


def test_article_and_passages_come_back_verbatim(hostile: TestClient) -> None:
    response = hostile.get(f"/v1/documents/{HOSTILE_ID}")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["text"] == HOSTILE_BODY
    assert json.dumps(HOSTILE_BODY, ensure_ascii=False) in response.text
    search = hostile.post("/v1/search", json={"query": "drinking water in hot weather", "k": 3, "mode": "sparse"})
    assert any(SCRIPT in r["text"] for r in search.json()["results"])
