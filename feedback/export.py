"""Feedback exported as lines shaped like ``eval/data/questions.jsonl``, for a person to label."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from feedback.store import StoredFeedback

# Feedback lines exported for labelling: which split a question joins is fixed here, by a hash of its
# text, so nobody picks which questions the held-out figures are computed on.
HELDOUT_SHARE = 3  # one question in three goes to the held-out split


def split_for(question: str) -> Literal["tune", "heldout"]:
    """The evaluation split a question joins, fixed by a hash of its text (never chosen by a person)."""
    digest = hashlib.sha256(" ".join(question.lower().split()).encode("utf-8")).digest()
    return "heldout" if int.from_bytes(digest[:8], "big") % HELDOUT_SHARE == 0 else "tune"


def to_question_line(feedback: StoredFeedback) -> dict[str, Any]:
    """One line in the shape of ``eval/data/questions.jsonl``, with ``kind`` left for a person to label.

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
        "split": split_for(feedback.question),
        "note": note,
    }
