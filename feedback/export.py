"""Feedback exported as lines shaped like ``eval/data/questions.jsonl``, for a person to label."""

from __future__ import annotations

from typing import Any, Literal

from feedback.store import StoredFeedback


def to_question_line(feedback: StoredFeedback, *, split: Literal["tune", "heldout"]) -> dict[str, Any]:
    """One line in the shape of ``eval/data/questions.jsonl``, with ``kind`` left for a person to label and the
    ``split`` its rule gives (``eval.splits.feedback_split``: the caller applies it, eval's rules live in eval).

    A thumbs-up answer's cited articles pre-fill ``relevant`` (to be checked); after a thumbs-down
    they are only named in ``note``, since they may be the wrong ones.
    """
    cited = list(feedback.doc_ids)
    said = f"{feedback.rating}" + (f" ({feedback.reason})" if feedback.reason else "")
    note = f"feedback {feedback.id}, {feedback.created_at[:10]}, {said}; cited: {', '.join(cited) or 'nothing'}"
    if feedback.comment:
        note += f"; comment: {feedback.comment}"
    return {
        "id": f"fb{feedback.id:06d}",
        "question": feedback.question,
        "kind": None,
        "relevant": cited if feedback.rating == "up" else [],
        "answer_sentences": [],
        "red_flag_level": None,
        "split": split,
        "note": note,
    }
