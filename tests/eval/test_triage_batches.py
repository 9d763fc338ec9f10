"""`eval.triage_batches`: strict counting per batch and split, and the detector of an earlier commit."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from eval.questions import BATCHES, LabelledQuestion, batch_of, load_questions
from eval.triage_batches import batch_rows, detector_at

REPO = Path(__file__).resolve().parents[2]


def _question(qid: str, text: str, kind: str, level: str | None = None, split: str = "tune") -> LabelledQuestion:
    return LabelledQuestion(
        id=qid,
        question=text,
        kind=kind,  # type: ignore[arg-type]
        relevant=(),
        answer_sentences=(),
        red_flag_level=level,  # type: ignore[arg-type]
        split=split,  # type: ignore[arg-type]
    )


def test_an_emergency_flagged_only_as_urgent_is_a_miss_and_counts_as_under_triage() -> None:
    levels = {"e-at-level": ["emergency"], "e-as-urgent": ["urgent"], "u-as-emergency": ["emergency"]}
    questions = [
        _question("q001", "e-at-level", "red_flag", "emergency"),
        _question("q002", "e-as-urgent", "red_flag", "emergency"),
        _question("q003", "u-as-emergency", "red_flag", "urgent"),
        _question("q004", "e-at-level", "benign"),
        _question("q005", "quiet", "answerable"),
        _question("q006", "quiet", "red_flag", "urgent", split="heldout"),
    ]
    rows = batch_rows(questions, lambda text: levels.get(text, []))
    first_tune, first_heldout = rows[2], rows[3]
    assert first_tune == f"| {BATCHES[0][0]} | tune | 0.500 (1/2) | 1.000 (1/1) | 1/2 | 1/1 / 0/1 / - |"
    assert first_heldout == f"| {BATCHES[0][0]} | heldout | - | 0.000 (0/1) | - | - / - / - |"
    assert rows[-2].startswith("| all | tune | 0.500 (1/2)")


def test_batches_are_contiguous_and_ordered() -> None:
    for (_, _, previous_hi), (_, lo, _) in zip(BATCHES, BATCHES[1:], strict=False):
        assert lo == previous_hi + 1


def test_every_labelled_question_is_in_a_batch() -> None:
    """A batch appended to questions.jsonl must be named in BATCHES, or the backstop's folds cannot hold it."""
    assert [q.id for q in load_questions() if batch_of(q.id) is None] == []
    assert batch_of("fb12") is None and batch_of("q9999") is None


def test_the_detector_of_a_commit_is_the_one_git_has() -> None:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, check=True, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    numb, stretches = (
        "both my legs have gone numb and weak and my back is agony",
        "what stretches help a stiff lower back",
    )
    committed = detector_at(head, [numb, stretches])
    assert set(committed(numb)) == {"emergency"}
    assert committed(stretches) == []
