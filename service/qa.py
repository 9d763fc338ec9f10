"""Extractive, cited answers: pick the 2-4 article sentences that best answer a question.

No language model writes anything: every answer sentence is a sentence of an
article, quoted verbatim with its offsets, so nothing can be invented. The
module has no FastAPI import; the API, the CLI and the evaluations call it.

Usage example::

    answer = answer_question("knees ache after squats?", index, settings=QASettings(), catalogue=load_catalogue())
    print(answer.answer)        # "Joint pain after working out is generally not a good sign ... [1]"
"""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from index import Hit, SearchIndex, SentenceRecord
from service.redflags import RedFlag, RedFlagCatalogue, detect_red_flags

GENERAL_DISCLAIMER = (
    "This is general health information, not medical advice or a diagnosis. "
    "If you are worried about a symptom, talk to a doctor, pharmacist or other qualified clinician. "
    "In an emergency, call your local emergency number."
)
NOT_COVERED = (
    "The articles here don't cover this question, so there is no answer to give from them. "
    "Please ask a doctor, pharmacist or nurse, or look at a trusted public source such as "
    "MedlinePlus (medlineplus.gov) or the NHS website (nhs.uk)."
)
NOT_A_QUESTION = (
    "This service only answers health questions from its articles and does not follow other instructions. "
    "Please ask a question about joint or back pain, or ask a doctor, pharmacist or nurse."
)

# From 'healthqa calibrate' on the tuning questions; re-run it when the corpus, the model or the
# chunker changes (tests/eval/test_calibration.py fails when this drifts).
DEFAULT_ABSTAIN_THRESHOLD = 0.418
_TERMINAL = (".", "!", "?", '"', "”", ")")
# Sentences that lean on the one before them read badly on their own.
_DANGLING_START = re.compile(r"^(?:this|that|these|those|it|they|such|also|however|but|and|so|then)\b", re.IGNORECASE)
# Requests to change the service's behaviour rather than questions about health.
_INSTRUCTIONS = re.compile(
    r"\b(?:ignore|disregard|forget)\b.{0,40}\b(?:instructions?|rules?|prompts?|guidelines?|everything)\b"
    r"|\b(?:system|hidden|initial)\s+prompt\b"
    r"|\byou\s+are\s+now\b|\bact\s+as\b|\bpretend\s+(?:to\s+be|you)\b|\bjailbreak\b|\bdeveloper\s+mode\b",
    re.IGNORECASE | re.DOTALL,
)


class QuestionError(ValueError):
    """A question that cannot be asked: empty, or over the length limit."""


# Control and invisible characters: replaced by spaces before a question is used.
INVISIBLE_CHARACTERS = r"\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff"
# A question must hold at least one character that is neither white space nor invisible.
VISIBLE_TEXT_PATTERN = rf"[^\s{INVISIBLE_CHARACTERS}]"
_CONTROL = re.compile(f"[{INVISIBLE_CHARACTERS}]")


def clean_question(value: str, *, field: str = "question", limit: int = 1000) -> str:
    """Normalise a user's text: NFC, no control or invisible characters, no lone surrogates.

    Raises:
        QuestionError: when it is empty or longer than ``limit`` characters.
    """
    if len(value) > limit:
        raise QuestionError(f"{field}: is {len(value)} characters long; the limit is {limit}")
    text = value.encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot reach the tokenizer
    text = _CONTROL.sub(" ", unicodedata.normalize("NFC", text)).strip()
    if not text:
        raise QuestionError(f"{field}: must not be empty or only whitespace")
    return text


@dataclass(frozen=True)
class QASettings:
    """How answers are chosen.

    Attributes:
        k: Passages retrieved per question.
        min_sentences: Fewest sentences in an answer (when that many qualify).
        max_sentences: Most sentences in an answer.
        max_answer_chars: Length budget of the answer text.
        abstain_threshold: Below this confidence (mean of the best sentence's and the
            best passage's cosine similarity to the question) the articles are taken
            not to cover it; calibrated on the tuning questions with ``healthqa calibrate``.
        mmr_lambda: Relevance vs. novelty trade-off of maximal marginal relevance.
        relevance_margin: Beyond ``min_sentences``, a sentence must score within
            this margin of the best one.
        duplicate_similarity: Sentences this similar to a chosen one are skipped.
    """

    k: int = 5
    min_sentences: int = 2
    max_sentences: int = 4
    max_answer_chars: int = 700
    abstain_threshold: float = DEFAULT_ABSTAIN_THRESHOLD
    mmr_lambda: float = 0.75
    relevance_margin: float = 0.12
    duplicate_similarity: float = 0.85

    def __post_init__(self) -> None:
        if not 1 <= self.min_sentences <= self.max_sentences:
            raise ValueError(
                f"need 1 <= min_sentences <= max_sentences, got {self.min_sentences}, {self.max_sentences}"
            )
        if self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}")


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


@dataclass(frozen=True)
class _Candidate:
    sentence: SentenceRecord
    hit: Hit
    similarity: float
    score: float


def answer_question(
    question: str,
    index: SearchIndex,
    *,
    settings: QASettings,
    catalogue: RedFlagCatalogue,
    k: int | None = None,
) -> Answer:
    """Answer from the index's articles, or abstain; red flags are checked first, always.

    Args:
        question: The user's question (already validated as non-empty).
        index: One index version, used for the whole answer.
        settings: Selection and abstention settings.
        catalogue: Red-flag rules.
        k: Passages to retrieve (default ``settings.k``).
    """
    timings: dict[str, float] = {}
    started = clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round((now - clock) * 1000, 3)
        clock = now

    red_flags = tuple(detect_red_flags(question, catalogue))
    lap("red_flags")
    if _INSTRUCTIONS.search(question):
        return _abstain(
            question,
            index,
            red_flags,
            reason="instructions",
            message=NOT_A_QUESTION,
            confidence=0.0,
            timings=timings,
            started=started,
        )
    query_vector = index.embed_query(question)
    lap("embed")
    hits = index.search(question, k=k or settings.k, mode="hybrid", query_vector=query_vector)
    lap("search")
    candidates = _candidates(hits, index, query_vector)
    confidence = _confidence(candidates, hits)
    if confidence < settings.abstain_threshold:
        lap("compose")
        return _abstain(
            question,
            index,
            red_flags,
            reason="not_covered",
            message=NOT_COVERED,
            confidence=confidence,
            timings=timings,
            started=started,
        )
    chosen = _select(candidates, index, settings)
    answer = _compose(question, chosen, index, red_flags, confidence)
    lap("compose")
    timings["total"] = round((time.perf_counter() - started) * 1000, 3)
    return _with_timings(answer, timings)


def _candidates(hits: list[Hit], index: SearchIndex, query_vector: np.ndarray) -> list[_Candidate]:
    """Every sentence of the retrieved passages, scored against the question."""
    if not hits:
        return []
    hit_of_row = {hit.row: hit for hit in hits}
    # Each sentence once, credited to the best-ranked retrieved passage that holds it.
    owner: dict[int, tuple[SentenceRecord, Hit]] = {}
    for chunk_row, sentence in index.sentences_in_chunks(list(hit_of_row)):
        hit = hit_of_row[chunk_row]
        if sentence.row not in owner or hit.rank < owner[sentence.row][1].rank:
            owner[sentence.row] = (sentence, hit)
    if not owner:
        return []
    similarity = index.sentence_vectors(list(owner)) @ query_vector[0]
    candidates = []
    for (sentence, hit), sim in zip(owner.values(), similarity.tolist(), strict=True):
        # Passages the retrievers rank higher lend their sentences a little weight.
        prior = 0.04 * (len(hits) - hit.rank) / len(hits)
        penalty = 0.06 if _DANGLING_START.match(sentence.text) else 0.0
        candidates.append(_Candidate(sentence, hit, float(sim), float(sim) + prior - penalty))
    return candidates


def _confidence(candidates: list[_Candidate], hits: list[Hit]) -> float:
    """How well the articles cover the question: the mean of the best sentence's and the best
    passage's cosine similarity to it. On the tuning questions (with RRF fusion) the best sentence
    alone separated in- from out-of-scope questions with ROC AUC 0.967, the best passage alone 0.983
    and the mean 0.982; the mean is kept so a question answered by one precise sentence still counts
    (with convex fusion, the default now, the mean scores 0.981)."""
    best_sentence = max((c.similarity for c in candidates), default=0.0)
    best_passage = max((h.dense_score for h in hits if h.dense_score is not None), default=0.0)
    return (best_sentence + best_passage) / 2


def _readable(text: str) -> bool:
    stripped = text.strip()
    return len(stripped.split()) >= 4 and stripped.endswith(_TERMINAL) and not stripped.endswith(":")


def _select(candidates: list[_Candidate], index: SearchIndex, settings: QASettings) -> list[_Candidate]:
    """Maximal marginal relevance under a length budget, skipping fragments and near-duplicates."""
    pool = [c for c in candidates if _readable(c.sentence.text)] or candidates
    if not pool:
        return []
    vectors = index.sentence_vectors([c.sentence.row for c in pool])
    best = max(c.score for c in pool)
    chosen: list[int] = []
    used_chars = 0
    while len(chosen) < settings.max_sentences:
        pick, pick_value = -1, -np.inf
        for i, candidate in enumerate(pool):
            if i in chosen:
                continue
            redundancy = max((float(vectors[i] @ vectors[j]) for j in chosen), default=0.0)
            if redundancy >= settings.duplicate_similarity:
                continue
            value = settings.mmr_lambda * candidate.score - (1 - settings.mmr_lambda) * redundancy
            if value > pick_value:
                pick, pick_value = i, value
        if pick < 0:
            break
        candidate = pool[pick]
        length = len(candidate.sentence.text) + 1
        enough = len(chosen) >= settings.min_sentences
        if enough and (
            candidate.score < best - settings.relevance_margin or used_chars + length > settings.max_answer_chars
        ):
            break
        if chosen and used_chars + length > settings.max_answer_chars * 1.5:
            break
        chosen.append(pick)
        used_chars += length
    return [pool[i] for i in chosen]


def _compose(
    question: str, chosen: list[_Candidate], index: SearchIndex, red_flags: tuple[RedFlag, ...], confidence: float
) -> Answer:
    """Order sentences as the articles do (articles by relevance), number the citations, add disclaimers."""
    doc_rank: dict[str, float] = {}
    for candidate in chosen:
        doc_rank[candidate.sentence.doc_id] = max(doc_rank.get(candidate.sentence.doc_id, -1.0), candidate.score)
    ordered = sorted(chosen, key=lambda c: (-doc_rank[c.sentence.doc_id], c.sentence.doc_id, c.sentence.start))
    documents = {doc_id: index.document(doc_id) for doc_id in doc_rank}
    citations: list[Citation] = []
    sentences: list[AnswerSentence] = []
    for n, candidate in enumerate(ordered, start=1):
        s, document = candidate.sentence, documents[candidate.sentence.doc_id]
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
        sentences.append(AnswerSentence(text=s.text, citations=(n,)))
    text = " ".join(f"{s.text} {''.join(f'[{c}]' for c in s.citations)}" for s in sentences)
    cited = [d for d in documents.values() if d is not None]
    return Answer(
        question=question,
        answer=text,
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


def _abstain(
    question: str,
    index: SearchIndex,
    red_flags: tuple[RedFlag, ...],
    *,
    reason: str,
    message: str,
    confidence: float,
    timings: dict[str, float],
    started: float,
) -> Answer:
    timings["total"] = round((time.perf_counter() - started) * 1000, 3)
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


def _with_timings(answer: Answer, timings: dict[str, float]) -> Answer:
    answer.timings_ms.update(timings)
    return answer


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    """The answer as the API returns it (the question itself is left out)."""
    data = asdict(answer)
    data.pop("question")
    return data
