"""Feedback people send on answers: the store and its export for labelling (no FastAPI).

Other packages use only the names listed here.
"""

from feedback.export import to_question_line
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
    "MAX_COMMENT_CHARS",
    "RATINGS",
    "REASONS",
    "FeedbackEntry",
    "FeedbackStore",
    "FeedbackUnavailableError",
    "Rating",
    "Reason",
    "StoredFeedback",
    "to_question_line",
]
