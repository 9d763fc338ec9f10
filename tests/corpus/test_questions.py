"""The labelled questions in eval/data: format, counts, split, and answer sentences found verbatim."""

from __future__ import annotations

import json
from collections import Counter

import frontmatter

from tests.conftest import CORPUS, ROOT

QUESTIONS = ROOT / "eval" / "data" / "questions.jsonl"
KINDS = {"answerable", "out_of_scope", "red_flag", "benign"}


def load() -> list[dict]:
    return [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]


def bodies() -> dict[str, str]:
    return {p.stem: frontmatter.load(p).content for p in CORPUS.glob("*.md")}


def test_every_record_is_well_formed() -> None:
    records = load()
    assert len({r["id"] for r in records}) == len(records)
    for r in records:
        assert set(r) >= {"id", "question", "kind", "relevant", "answer_sentences", "red_flag_level", "split"}, r["id"]
        assert r["kind"] in KINDS and r["split"] in {"tune", "heldout"}
        assert isinstance(r["question"], str) and r["question"].strip()
        assert (r["red_flag_level"] in {"emergency", "urgent"}) == (r["kind"] == "red_flag"), r["id"]
        assert (r["relevant"] == []) == (r["kind"] == "out_of_scope"), r["id"]


def test_counts_meet_the_plan() -> None:
    records = load()
    kinds = Counter(r["kind"] for r in records)
    assert len(records) >= 120
    assert kinds["answerable"] >= 70 and kinds["out_of_scope"] >= 25
    assert kinds["red_flag"] >= 25 and kinds["benign"] >= 10
    assert sum(1 for r in records if r["kind"] == "answerable" and r["answer_sentences"]) >= 40
    heldout = sum(r["split"] == "heldout" for r in records) / len(records)
    assert 0.28 <= heldout <= 0.38


def test_relevant_articles_exist_and_answer_sentences_are_verbatim() -> None:
    texts = bodies()
    for r in load():
        assert set(r["relevant"]) <= set(texts), r["id"]
        for sentence in r["answer_sentences"]:
            assert any(sentence in texts[doc] for doc in r["relevant"]), (r["id"], sentence)


def test_every_article_is_the_answer_to_some_question() -> None:
    firsts = Counter(r["relevant"][0] for r in load() if r["kind"] == "answerable")
    assert set(firsts) == set(bodies())
