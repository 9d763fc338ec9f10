"""The answer engine's results: an answer, its sentences, citations and safety text (no FastAPI).

The API's response schema derives from these types (``service/schemas.py``): a field added here is added to
the response, and the ``description`` in a field's metadata is its documentation there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from answer.messages import GENERAL_DISCLAIMER
from triage import RedFlag


@dataclass(frozen=True)
class Citation:
    """A quoted sentence: ``quote == document.text[start:end]``."""

    id: int = field(metadata={"description": "The number shown as [n] in the answer."})
    doc_id: str
    title: str
    url: str
    chunk_id: str = field(metadata={"description": "The retrieved passage the sentence came from."})
    quote: str = field(metadata={"description": "The cited text, verbatim."})
    start: int = field(metadata={"description": "Offset of the quote in the document text."})
    end: int = field(metadata={"description": "Offset one past the end of the quote."})
    section: str = field(metadata={"description": "The article section the quote sits in."})
    reviewed: str | None = field(metadata={"description": "When the article was last reviewed."})


@dataclass(frozen=True)
class AnswerSentence:
    text: str = field(metadata={"description": "A sentence quoted from an article."})
    citations: tuple[int, ...] = field(metadata={"description": "Ids of the citations that support it."})
    list_item: bool = field(
        default=False, metadata={"description": "An item of the list the answer's first sentence introduces."}
    )


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
    text: str = field(
        metadata={
            "description": "The article's own safety advice: its disclaimer's sentences not shown with an earlier "
            "source and not already said by the general disclaimer (may be empty)."
        }
    )
    editor_note: str = field(
        default="", metadata={"description": "A correction the editors attached to this article, shown with it."}
    )
    editor_note_sources: tuple[str, ...] = field(
        default=(), metadata={"description": "Public sources of the editor's note."}
    )


@dataclass(frozen=True)
class Safety:
    """The safety text of a response in parts: one short general disclaimer, then each source's own."""

    general: str = field(
        default=GENERAL_DISCLAIMER,
        metadata={"description": "One short general disclaimer, for every answer, abstention and escalation."},
    )
    sources: tuple[SourceSafety, ...] = field(
        default=(), metadata={"description": "Each cited article's own safety text, once, in citation order."}
    )


# kw_only: the fields stand in the order the API returns them, defaults among them.
@dataclass(frozen=True, kw_only=True)
class Answer:
    """Everything a response carries; ``answer`` is the sentences joined with their ``[n]`` markers."""

    question: str
    answer: str = field(
        metadata={
            "description": "The answer sentences joined, each followed by its [n] markers; or the abstention message."
        }
    )
    sentences: tuple[AnswerSentence, ...]
    citations: tuple[Citation, ...]
    abstained: bool = field(metadata={"description": "True when the articles don't cover the question."})
    abstain_reason: str | None = field(
        default=None,
        metadata={
            "description": "not_covered, instructions or dose (a request for a medicine's dose), when abstained."
        },
    )
    red_flags: tuple[RedFlag, ...] = field(
        metadata={"description": "Warning signs found in the question, emergency first."}
    )
    disclaimer: str = field(
        metadata={
            "description": "The cited articles' own disclaimers and a general one, as one text (kept for "
            "compatibility; `safety` has the same in parts)."
        }
    )
    safety: Safety = field(
        default=Safety(),
        metadata={"description": "The general disclaimer and each cited article's safety text, apart."},
    )
    related: tuple[ArticleRef, ...] = field(default=(), metadata={"description": "Articles related to the cited ones."})
    confidence: float = field(
        metadata={
            "description": "The calibrated abstention model's estimate (0-1) that the articles cover the question; "
            "below the threshold the service abstains."
        }
    )
    index_version: str
    timings_ms: dict[str, float] = field(default_factory=dict)


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    """The answer as the API returns it (the question itself is left out)."""
    data = asdict(answer)
    data.pop("question")
    return data
