"""Feedback people send on answers: the store and its export for labelling (no FastAPI).

Other packages use only the names listed here.
"""

from feedback.export import HELDOUT_SHARE, split_for, to_question_line
from feedback.store import (
    MAX_COMMENT_CHARS,
    RATINGS,
    REASONS,
    FeedbackEntry,
    FeedbackStore,
    FeedbackUnavailableError,
    Rating,
    Reason,
    StoredFeedback,
)

__all__ = [
    "HELDOUT_SHARE",
    "MAX_COMMENT_CHARS",
    "RATINGS",
    "REASONS",
    "FeedbackEntry",
    "FeedbackStore",
    "FeedbackUnavailableError",
    "Rating",
    "Reason",
    "StoredFeedback",
    "split_for",
    "to_question_line",
]
