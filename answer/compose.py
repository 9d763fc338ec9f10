"""The compose stage: number the citations, join the text, and add each source's safety advice."""

from __future__ import annotations

import re
from typing import Any

from answer.messages import GENERAL_DISCLAIMER
from answer.selection import Chosen
from answer.types import Answer, AnswerSentence, ArticleRef, Citation, Safety, SourceSafety
from index import Document, SearchIndex
from triage import RedFlag


def compose_answer(
    question: str,
    chosen: list[Chosen],
    documents: dict[str, Document | None],
    index: SearchIndex,
    red_flags: tuple[RedFlag, ...],
    confidence: float,
) -> Answer:
    """Number the citations in answer order, join the text (list items one per line), add disclaimers."""
    citations: list[Citation] = []
    sentences: list[AnswerSentence] = []
    parts: list[str] = []
    for n, pick in enumerate(chosen, start=1):
        candidate = pick.candidate
        s, document = candidate.sentence, documents.get(candidate.sentence.doc_id)
        reviewed = document.metadata.get("reviewed") if document else None
        citations.append(
            Citation(
                id=n,
                doc_id=s.doc_id,
                title=candidate.hit.title,
                url=candidate.hit.url,
                chunk_id=candidate.hit.chunk_id,
                quote=s.text,
                start=s.start,
                end=s.end,
                section=s.section,
                reviewed=str(reviewed) if reviewed else None,
            )
        )
        sentences.append(AnswerSentence(text=s.text, citations=(n,), list_item=pick.list_item))
        parts.append(f"\n- {s.text} [{n}]" if pick.list_item else f"{' ' if parts else ''}{s.text} [{n}]")
    cited_ids = dict.fromkeys(c.doc_id for c in citations)
    cited = [d for doc_id in cited_ids if (d := documents.get(doc_id)) is not None]
    return Answer(
        question=question,
        answer="".join(parts),
        sentences=tuple(sentences),
        citations=tuple(citations),
        abstained=False,
        red_flags=red_flags,
        disclaimer=_disclaimer(cited),
        index_version=index.version,
        confidence=round(confidence, 4),
        related=_related(cited, index),
        safety=Safety(GENERAL_DISCLAIMER, source_safety(cited)),
    )


def _disclaimer(documents: list[Any]) -> str:
    """The cited articles' own safety text, then the general disclaimer."""
    parts = []
    for document in documents:
        own = document.metadata.get("disclaimer")
        if isinstance(own, str) and own.strip() and own.strip() not in parts:
            parts.append(own.strip())
    return "\n\n".join([*parts, GENERAL_DISCLAIMER])


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“(])")
_WORD = re.compile(r"[a-z]+")
# Words that add nothing to the general disclaimer's first sentence when an article says it of itself.
_SELF_REFERENCE = frozenset({"article", "this", "is"})


def source_safety(documents: list[Any]) -> tuple[SourceSafety, ...]:
    """Each cited article's own safety text, once: the sentences of its ``disclaimer`` front matter.

    A sentence already shown with an earlier source is not repeated, and one that says nothing the
    general disclaimer does not ("This article is general information, not a diagnosis or medical
    advice.") is left to it; every other sentence is kept, in the article's order. The article's
    ``editor_note`` (and its ``editor_note_sources``) comes with it.

    Args:
        documents: The cited articles (``index.document`` objects), in citation order, each once.
    """
    general = set(_WORD.findall(GENERAL_DISCLAIMER.split(". ")[0].lower())) | _SELF_REFERENCE
    shown: set[str] = set()
    parts: list[SourceSafety] = []
    for document in documents:
        own = document.metadata.get("disclaimer")
        kept = []
        for sentence in _SENTENCE_END.split(own.strip()) if isinstance(own, str) else []:
            key = " ".join(_WORD.findall(sentence.lower()))
            if not key or key in shown or set(key.split()) <= general:
                continue
            shown.add(key)
            kept.append(sentence.strip())
        note = document.metadata.get("editor_note")
        note_sources = document.metadata.get("editor_note_sources")
        parts.append(
            SourceSafety(
                doc_id=document.doc_id,
                title=document.title,
                text=" ".join(kept),
                editor_note=" ".join(note.split()) if isinstance(note, str) else "",
                editor_note_sources=tuple(str(s) for s in note_sources) if isinstance(note_sources, list) else (),
            )
        )
    return tuple(parts)


def _related(documents: list[Any], index: SearchIndex) -> tuple[ArticleRef, ...]:
    cited = {d.doc_id for d in documents}
    refs: list[ArticleRef] = []
    for document in documents:
        for doc_id in document.metadata.get("related") or []:
            if doc_id in cited or any(r.doc_id == doc_id for r in refs):
                continue
            related = index.document(str(doc_id))
            if related is not None:
                refs.append(ArticleRef(related.doc_id, related.title, related.url))
    return tuple(refs[:5])


def abstention_answer(
    question: str,
    index: SearchIndex,
    red_flags: tuple[RedFlag, ...],
    *,
    reason: str,
    message: str,
    confidence: float,
    timings: dict[str, float],
) -> Answer:
    """A response that gives no answer from the articles: ``message`` says why (``reason``)."""
    return Answer(
        question=question,
        answer=message,
        sentences=(),
        citations=(),
        abstained=True,
        red_flags=red_flags,
        disclaimer=GENERAL_DISCLAIMER,
        index_version=index.version,
        confidence=round(confidence, 4),
        abstain_reason=reason,
        timings_ms=timings,
    )
