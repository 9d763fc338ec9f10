"""The answer engine's results: an answer, its sentences, citations and safety text (no FastAPI; the API schema
mirrors these types)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from answer.messages import GENERAL_DISCLAIMER
from triage import RedFlag


@dataclass(frozen=True)
class Citation:
    """A quoted sentence: ``quote == document.text[start:end]``."""

    id: int
    doc_id: str
    title: str
    url: str
    chunk_id: str
    quote: str
    start: int
    end: int
    section: str
    reviewed: str | None


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    citations: tuple[int, ...]
    list_item: bool = False


@dataclass(frozen=True)
class ArticleRef:
    doc_id: str
    title: str
    url: str


@dataclass(frozen=True)
class SourceSafety:
    """One cited article's own safety advice, shown with that source.

    ``text`` holds the article's disclaimer sentences that no earlier source showed and that say more
    than the general disclaimer; ``editor_note`` is a correction the editors attached to the article
    (front matter ``editor_note``, with ``editor_note_sources``).
    """

    doc_id: str
    title: str
    text: str
    editor_note: str = ""
    editor_note_sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Safety:
    """The safety text of a response in parts: one short general disclaimer, then each source's own."""

    general: str = GENERAL_DISCLAIMER
    sources: tuple[SourceSafety, ...] = ()


@dataclass(frozen=True)
class Answer:
    """Everything a response carries; ``answer`` is the sentences joined with their ``[n]`` markers."""

    question: str
    answer: str
    sentences: tuple[AnswerSentence, ...]
    citations: tuple[Citation, ...]
    abstained: bool
    red_flags: tuple[RedFlag, ...]
    disclaimer: str
    index_version: str
    confidence: float
    abstain_reason: str | None = None
    related: tuple[ArticleRef, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)
    safety: Safety = Safety()


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    """The answer as the API returns it (the question itself is left out)."""
    data = asdict(answer)
    data.pop("question")
    return data
