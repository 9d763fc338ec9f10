"""A user's question made safe to process: normalised, visible characters only, within the length limit."""

from __future__ import annotations

import unicodedata

from index import strip_invisible


class QuestionError(ValueError):
    """A question that cannot be asked: empty, or over the length limit."""


def clean_question(value: str, *, limit: int, field: str = "question") -> str:
    """Normalise a user's text: NFC, no control or invisible characters, no lone surrogates.

    Args:
        value: The text as sent.
        limit: The most characters accepted (``Settings.max_question_chars``).
        field: Its name in an error message.

    Raises:
        QuestionError: when it is empty or longer than ``limit`` characters.
    """
    if len(value) > limit:
        raise QuestionError(f"{field}: is {len(value)} characters long; the limit is {limit}")
    text = value.encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot reach the tokenizer
    text = strip_invisible(unicodedata.normalize("NFC", text)).strip()
    if not text:
        raise QuestionError(f"{field}: must not be empty or only whitespace")
    return text
