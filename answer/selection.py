"""The select stage: the lead sentence, then the list it introduces or the sentences that support it.

Paragraphs, list items and headings come from the sentences' block marks (``SentenceRecord.block`` and the
rest, recorded when ingest parsed the Markdown); this stage never reads Markdown itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from answer.candidates import Candidate
from index import Document, Hit, SearchIndex
from settings import AnswerSettings

_TERMINAL = (".", "!", "?", '"', "”", ")")
# "What / which / how" questions want the content itself: when the best evidence is a list, its items.
_LIST_QUESTION = re.compile(r"\b(?:what|which|how|list|ways?|options|types|kinds|examples|tips)\b", re.IGNORECASE)
# A question that opens like this wants a yes or no, unless it also asks for content ("can you list ...");
# any other ("good stretches for a stiff back?", "heat or ice for my back") wants content too.
_YES_NO_START = re.compile(
    r"\s*(?:is|are|am|was|were|do|does|did|can|could|should|shall|would|will|has|have|had|may|might|must)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Chosen:
    """A sentence chosen for the answer, and whether it is quoted as a list item."""

    candidate: Candidate
    list_item: bool = False


def _readable(text: str) -> bool:
    stripped = text.strip()
    return len(stripped.split()) >= 4 and stripped.endswith(_TERMINAL) and not stripped.endswith(":")


def _corrected(candidate: Candidate, documents: dict[str, Document | None]) -> bool:
    """The sentence is one its article's editor's note corrects (front matter ``corrected_sentences``)."""
    document = documents.get(candidate.sentence.doc_id)
    listed = document.metadata.get("corrected_sentences") if document else None
    if not isinstance(listed, list):
        return False
    text = _normalise(candidate.sentence.text)
    return any(isinstance(item, str) and _normalise(item) and _normalise(item) in text for item in listed)


def _normalise(text: str) -> str:
    return " ".join(text.split())


def select_sentences(
    question: str,
    candidates: list[Candidate],
    hits: list[Hit],
    documents: dict[str, Document | None],
    index: SearchIndex,
    settings: AnswerSettings,
) -> list[Chosen]:
    """The lead sentence, then either the list it introduces or the sentences that support it.

    Sentences an editor's note corrects are used only when nothing else qualifies; fragments
    (headings, lines ending in ":", too short) only when nothing readable is left.
    """
    corrected = [c for c in candidates if _corrected(c, documents)]
    preferred = [c for c in candidates if c not in corrected] or candidates
    pool = [c for c in preferred if _readable(c.sentence.text)] or preferred
    if not pool:
        return []
    # An article whose own word on the question is a corrected sentence loses its claim to the lead.
    lead = _lead(pool, hits, settings, passed_over={c.sentence.doc_id for c in corrected})
    if asks_for_content(question):
        intro = _list_intro(lead, pool) or lead
        items = _list_items(intro, preferred, settings)
        if items:
            return [Chosen(intro), *(Chosen(item, list_item=True) for item in items)]
    support = _support(lead, pool, index, settings, follower=_next_in_paragraph(lead, pool))
    # The lead first; then the rest of its article in article order; then other articles by relevance.
    doc_rank: dict[str, float] = {lead.sentence.doc_id: float("inf")}
    for candidate in support:
        doc_id = candidate.sentence.doc_id
        doc_rank[doc_id] = max(doc_rank.get(doc_id, -np.inf), candidate.score)
    ordered = sorted(support, key=lambda c: (-doc_rank[c.sentence.doc_id], c.sentence.doc_id, c.sentence.start))
    return [Chosen(lead), *(Chosen(c) for c in ordered)]


def _lead(
    pool: list[Candidate],
    hits: list[Hit],
    settings: AnswerSettings,
    *,
    passed_over: set[str] | frozenset[str] = frozenset(),
) -> Candidate:
    """The best sentence of the best-ranked article, unless another article's is clearly better (or the
    best-ranked article is in ``passed_over``: then simply the best sentence)."""
    best = max(pool, key=lambda c: c.score)
    if hits[0].doc_id in passed_over:
        return best
    in_top = [c for c in pool if c.sentence.doc_id == hits[0].doc_id]
    if not in_top:
        return best
    top_best = max(in_top, key=lambda c: c.score)
    return top_best if best.score - top_best.score <= settings.lead_margin else best


def _support(
    lead: Candidate,
    pool: list[Candidate],
    index: SearchIndex,
    settings: AnswerSettings,
    *,
    follower: Candidate | None = None,
) -> list[Candidate]:
    """Maximal marginal relevance after the lead, under a length budget, skipping near-duplicates and
    sentences that score too far below the best to bear on the question; ``follower`` (the sentence after the
    lead in its paragraph) scores ``next_sentence_bonus`` higher."""
    vectors = index.sentence_vectors([c.sentence.row for c in pool])
    best = max(c.score for c in pool)
    scores = [c.score + (settings.next_sentence_bonus if c is follower else 0.0) for c in pool]
    chosen = [pool.index(lead)]
    used_chars = len(lead.sentence.text) + 1
    while len(chosen) < settings.max_sentences:
        pick, pick_value = -1, -np.inf
        for i in range(len(pool)):
            if i in chosen:
                continue
            redundancy = max(float(vectors[i] @ vectors[j]) for j in chosen)
            if redundancy >= settings.duplicate_similarity:
                continue
            value = settings.mmr_lambda * scores[i] - (1 - settings.mmr_lambda) * redundancy
            if value > pick_value:
                pick, pick_value = i, value
        if pick < 0:
            break
        candidate = pool[pick]
        length = len(candidate.sentence.text) + 1
        if scores[pick] < best - settings.support_margin:
            break
        enough = len(chosen) >= settings.min_sentences
        if enough and (
            scores[pick] < best - settings.relevance_margin or used_chars + length > settings.max_answer_chars
        ):
            break
        if used_chars + length > settings.max_answer_chars * settings.length_cap_factor:
            break
        chosen.append(pick)
        used_chars += length
    return [pool[i] for i in chosen[1:]]


def _next_in_paragraph(lead: Candidate, pool: list[Candidate]) -> Candidate | None:
    """The retrieved sentence right after the lead in the same paragraph (or list item), or None."""
    for candidate in pool:
        same = candidate.sentence.doc_id == lead.sentence.doc_id
        if same and candidate.sentence.ordinal == lead.sentence.ordinal + 1:
            return candidate if candidate.sentence.block == lead.sentence.block else None
    return None


def asks_for_content(question: str) -> bool:
    """A question that wants the content itself ("what / which / how", "good stretches for ..."), not a yes or no."""
    return _LIST_QUESTION.search(question) is not None or _YES_NO_START.match(question) is None


def _list_intro(lead: Candidate, pool: list[Candidate]) -> Candidate | None:
    """When the lead is in a list item, the readable sentence that introduces its list (the best-scored of
    the paragraph right above the list), so the list is quoted whole under it; None otherwise."""
    if not lead.sentence.in_list_item:
        return None
    by_ordinal = {c.sentence.ordinal: c for c in pool if c.sentence.doc_id == lead.sentence.doc_id}
    first = lead
    # Back to the list's first item (a sentence inside an item counts as in it).
    while (before := by_ordinal.get(first.sentence.ordinal - 1)) is not None and before.sentence.in_list_item:
        first = before
    intro: list[Candidate] = []
    after = first
    for _ in range(2):  # the paragraph right above the list, at most its last two sentences (as _list_items reads)
        before = by_ordinal.get(after.sentence.ordinal - 1)
        if before is None or after.sentence.follows_heading:
            break
        if intro and before.sentence.block != after.sentence.block:
            break  # the paragraph above the list begins at ``after``
        intro.append(before)
        after = before
    return max(intro, key=lambda c: c.score, default=None)


def _list_items(lead: Candidate, candidates: list[Candidate], settings: AnswerSettings) -> list[Candidate]:
    """The list right under the lead's paragraph (its items, in article order), or [] when there is none.

    Only retrieved sentences are used, so every item keeps the passage it was found in; a list that runs
    past the retrieved passages is cut there.
    """
    if settings.max_list_items < 2 or lead.sentence.in_list_item:
        return []  # a list item does not introduce a list; its siblings compete as sentences
    by_ordinal = {c.sentence.ordinal: c for c in candidates if c.sentence.doc_id == lead.sentence.doc_id}
    previous, items = lead, []
    for ordinal in range(lead.sentence.ordinal + 1, lead.sentence.ordinal + 2 * settings.max_list_items + 4):
        candidate = by_ordinal.get(ordinal)
        if candidate is None:
            break
        sentence = candidate.sentence
        if sentence.follows_heading:
            break  # a list under the next heading belongs to that heading, not to the lead
        if sentence.starts_list_item:
            items.append(candidate)
            if len(items) == settings.max_list_items:
                break
        elif sentence.block != previous.sentence.block:
            break  # the list ended, or the lead's paragraph ended without one
        elif len(items) == 0 and ordinal - lead.sentence.ordinal > 2:
            break  # the lead is too far from any list to introduce it
        previous = candidate
    return items if len(items) >= 2 else []
