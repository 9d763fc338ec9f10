"""The labelled questions in eval/data: format, counts, split, and answer sentences found verbatim."""

from __future__ import annotations

import json
from collections import Counter

import frontmatter
import pytest

from eval.questions import append_questions
from eval.splits import rule_splits
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


def test_the_split_follows_the_files_rule() -> None:
    """Every third question of each kind in id order is held out: no split was chosen by hand."""
    records = sorted(load(), key=lambda r: int(r["id"][1:]))
    splits = rule_splits([r["kind"] for r in records])
    wrong = [r["id"] for r, split in zip(records, splits, strict=True) if r["split"] != split]
    assert wrong == []


def test_appending_numbers_and_splits_by_the_rule(tmp_path) -> None:
    file = tmp_path / "questions.jsonl"
    file.write_text("".join(json.dumps(r) + "\n" for r in load()[:7]), encoding="utf-8")
    kinds_before = [r["kind"] for r in load()[:7]]
    benign = {"question": "sore after a run", "kind": "benign", "relevant": ["x"], "answer_sentences": []}
    chosen_by_hand = {**benign, "split": "heldout", "red_flag_level": None}
    added = append_questions(
        [{**benign, "red_flag_level": None}, chosen_by_hand, {**benign, "red_flag_level": None}], file
    )
    assert [r["id"] for r in added] == ["q008", "q009", "q010"]
    expected = rule_splits(kinds_before + ["benign"] * 3)[7:]
    assert [r["split"] for r in added] == expected
    assert [json.loads(line)["id"] for line in file.read_text(encoding="utf-8").splitlines()][-3:] == [
        "q008",
        "q009",
        "q010",
    ]


def test_exported_feedback_is_refused_for_a_file_of_its_own(tmp_path) -> None:
    file = tmp_path / "questions.jsonl"
    file.write_text(json.dumps(load()[0]) + "\n", encoding="utf-8")
    feedback = {**load()[0], "id": "fb000012", "split": "heldout"}
    with pytest.raises(ValueError, match="fb000012 is exported feedback"):
        append_questions([feedback], file)
    assert len(file.read_text(encoding="utf-8").splitlines()) == 1


def test_appending_an_unlabelled_line_writes_nothing(tmp_path) -> None:
    file = tmp_path / "questions.jsonl"
    file.write_text(json.dumps(load()[0]) + "\n", encoding="utf-8")
    before = file.read_bytes()
    unlabelled: dict[str, object] = {
        "question": "why",
        "kind": None,
        "relevant": [],
        "answer_sentences": [],
        "red_flag_level": None,
    }
    with pytest.raises(ValueError, match="kind is None"):
        append_questions([unlabelled], file)
    assert file.read_bytes() == before


def test_relevant_articles_exist_and_answer_sentences_are_verbatim() -> None:
    texts = bodies()
    for r in load():
        assert set(r["relevant"]) <= set(texts), r["id"]
        for sentence in r["answer_sentences"]:
            assert any(sentence in texts[doc] for doc in r["relevant"]), (r["id"], sentence)


def test_every_article_is_the_answer_to_some_question() -> None:
    firsts = Counter(r["relevant"][0] for r in load() if r["kind"] == "answerable")
    assert set(firsts) == set(bodies())
