"""Extractive, cited answers: pick the 2-4 article sentences that best answer a question.

No language model writes anything: every answer sentence is a sentence of an
article, quoted verbatim with its offsets, so nothing can be invented. The
module has no FastAPI import; the API, the CLI and the evaluations call it.

Usage example::

    answer = answer_question("knees ache after squats?", index, settings=QASettings(), catalogue=load_catalogue())
    print(answer.answer)        # "Joint pain after working out is generally not a good sign ... [1]"
"""

from __future__ import annotations

import functools
import logging
import math
import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS

from index import Document, Hit, SearchIndex, SentenceRecord
from service.abstention import DEFAULT_ABSTENTION, AbstentionModel
from service.redflag_backstop import BACKSTOP_FILE, RedFlagBackstop, load_backstop
from service.redflags import RedFlag, RedFlagCatalogue, detect_red_flags
from service.text import strip_invisible

logger = logging.getLogger(__name__)

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
NO_DOSES = (
    "This service does not give medicine doses or say how much of a medicine to take. "
    "Follow the leaflet that came with the medicine, or ask a pharmacist, doctor or nurse: they can "
    "check the dose against your age, weight, other medicines and health conditions."
)
NOT_A_QUESTION = (
    "This service only answers health questions from its articles and does not follow other instructions. "
    "Please ask a question about a topic these articles cover, or ask a doctor, pharmacist or nurse."
)

# From 'healthqa calibrate --write' on the tuning questions (service/abstention.json); re-run it when the
# corpus, the model or the chunker changes (tests/eval/test_calibration.py fails when this drifts).
DEFAULT_ABSTAIN_THRESHOLD = DEFAULT_ABSTENTION.threshold
# Shipped with the service; absent only while `python -m eval.redflag_backstop --write` makes the first one.
DEFAULT_BACKSTOP = load_backstop() if BACKSTOP_FILE.is_file() else None
_TERMINAL = (".", "!", "?", '"', "”", ")")
# Sentences that lean on the one before them read badly on their own.
_DANGLING_START = re.compile(r"^(?:this|that|these|those|it|they|such|also|however|but|and|so|then)\b", re.IGNORECASE)
# "What / which / how" questions want the content itself: when the best evidence is a list, its items.
_LIST_QUESTION = re.compile(r"\b(?:what|which|how|list|ways?|options|types|kinds|examples|tips)\b", re.IGNORECASE)
# A question that opens like this wants a yes or no, unless it also asks for content ("can you list ...");
# any other ("good stretches for a stiff back?", "heat or ice for my back") wants content too.
_YES_NO_START = re.compile(
    r"\s*(?:is|are|am|was|were|do|does|did|can|could|should|shall|would|will|has|have|had|may|might|must)\b",
    re.IGNORECASE,
)
# The text between a line's start and a sentence that opens a list item (as ingest/chunking.py reads lists).
_LIST_MARKER = re.compile(r"[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t]+")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_HEADING_LINE = re.compile(r"^[ \t]*#", re.MULTILINE)
_TERM = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(STOPWORDS_EN_PLUS)
_STEMMER = Stemmer.Stemmer("english")  # the stemmer BM25 uses (index/sparse.py)
# Requests to change the service's behaviour rather than questions about health.
_INSTRUCTIONS = re.compile(
    r"\b(?:ignore|disregard|forget)\b.{0,40}\b(?:instructions?|rules?|prompts?|guidelines?|everything)\b"
    r"|\b(?:system|hidden|initial)\s+prompt\b"
    r"|\byou\s+are\s+now\b|\bact\s+as\b|\bpretend\s+(?:to\s+be|you)\b|\bjailbreak\b|\bdeveloper\s+mode\b",
    re.IGNORECASE | re.DOTALL,
)
# Requests for a medicine's dose: the product gives no drug doses (team brief), so these are declined
# by policy, whatever the articles hold. General forms only: "how many mg / tablets", "how much X can I
# take", "maximum / safe / daily dose", "dosage", "how often can I take", an amount in mg or mcg.
_DOSE_REQUESTS = re.compile(
    r"\bhow\s+(?:many|much)\s+(?:mg|mgs|milligrams?|mcg|micrograms?|ml|millilit(?:re|er)s?|tablets?|pills?"
    r"|capsules?|doses?|puffs?|drops?)\b"
    # "how much ibuprofen / how many co-codamol can i take", not "how much time / how many physio sessions
    # should i have".
    r"|\bhow\s+(?:much|many)\s+(?![\w-]*\s*(?:[\w-]+\s+)?(?:time|rest|weight|water|sleep|exercise|off|reps|sets"
    r"|days?|weeks?|hours?|minutes?|times?|steps?|miles?|breaks?|sessions?|classes|lessons?|rounds?|laps?|kg|kilos?"
    r"|pounds?|lbs)\b)[\w-]+(?:\s+[\w-]+)?\s+"
    r"(?:can|should|could|may|must|do)\s+(?:i|you|we|he|she|they|my\s+\w+)\s+(?:take|have|give|use)\b"
    r"|\b(?:max(?:imum)?|safe|daily|right|correct|recommended|usual|normal|starting|highest)\s+(?:dose|dosage)s?\b"
    r"|\b(?:what|which)\s+(?:dose|dosage|strength)\b|\bdosages?\b"
    r"|\bhow\s+often\s+(?:can|should|do)\s+(?:i|you|we|he|she|they)\s+(?:take|give)\b"
    r"|\bhow\s+many\s+times\s+(?:a|per|each|in\s+a)\s+day\s+(?:can|should|could|may|must|do)\s+"
    r"(?:i|you|we|he|she|they|my\s+\w+)\s+(?:take|have|give|use)\b"
    r"|\b\d+(?:\.\d+)?\s*(?:mg|mcg|milligrams?|micrograms?)\b",
    re.IGNORECASE,
)


class QuestionError(ValueError):
    """A question that cannot be asked: empty, or over the length limit."""


def clean_question(value: str, *, field: str = "question", limit: int = 1000) -> str:
    """Normalise a user's text: NFC, no control or invisible characters, no lone surrogates.

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


@dataclass(frozen=True)
class QASettings:
    """How answers are chosen.

    The weights below were chosen on the tuning questions only; ``python -m eval.answer_sweep answers``
    re-runs that sweep and prints the table (``healthqa calibrate`` does the same for abstention).

    Attributes:
        k: Passages retrieved per question.
        min_sentences: Fewest sentences in an answer, when that many bear on the question
            (within ``support_margin`` of the lead).
        max_sentences: Most sentences in an answer (a list answer may hold up to ``max_list_items``
            items besides its lead).
        max_answer_chars: Length budget of the answer text.
        length_cap_factor: The second sentence may still be added past ``max_answer_chars`` up to this
            factor, so one long lead sentence does not make a one-sentence answer; beyond it, never.
            1.5 is kept from the first version: no tuning figure moves between 1.0 and 2.
        abstention: The calibrated abstention model (``service/abstention.json``).
        backstop: The learned red-flag backstop (``service/redflag_backstop.json``), consulted when no rule
            fires; None turns it off.
        abstain_threshold: Below this confidence (``abstention``'s estimate that the articles cover the
            question) the service abstains; default from ``healthqa calibrate``.
        mmr_lambda: Relevance vs. novelty trade-off of maximal marginal relevance.
        relevance_margin: Beyond ``min_sentences``, a sentence must score within this margin of the best one.
        support_margin: Any supporting sentence must score within this margin of the best one, so the
            sentence count never pulls in one that does not bear on the question.
        duplicate_similarity: Sentences this similar to a chosen one are skipped.
        rank_prior: Sentences of the passage the search ranks r-th of n get ``rank_prior * (n - r) / n``
            added to their similarity (none for the last): the fused ranking (cosine plus BM25) knows
            about the whole passage, the sentence vector only about itself.
        dangling_penalty: Subtracted from sentences that lean on the one before ("This ...", "But ..."),
            which read badly on their own.
        lead_margin: The lead sentence comes from the best-ranked article unless a sentence of another
            article scores more than this above that article's best one. The ranking has read whole
            passages; one sentence's score is noisier, so it must be clearly better to lead (chosen on the
            MEDIQA tuning split with pooled sentence vectors; the corpus tuning split ties).
        max_list_items: Most list items quoted when the best evidence is a list.
        term_weight: Added to a sentence's score times the share of the question's terms it contains,
            each term weighted by how rare it is among the retrieved sentences (stemmed, stopwords
            left out). A sentence vector mostly knows its passage's topic; the words the question
            asks about ("weeks", "chronic", "cold") tell apart the sentence that answers it from its
            neighbours.
        next_sentence_bonus: Added, when support is chosen, to the sentence right after the lead in its
            paragraph: it usually carries on the lead's thought ("... are often called core exercises." is
            followed by the examples), and a pooled sentence vector scores it like its neighbours.
    """

    k: int = 5
    min_sentences: int = 2
    max_sentences: int = 4
    max_answer_chars: int = 700
    length_cap_factor: float = 1.5
    abstention: AbstentionModel = DEFAULT_ABSTENTION
    backstop: RedFlagBackstop | None = DEFAULT_BACKSTOP
    abstain_threshold: float = DEFAULT_ABSTAIN_THRESHOLD
    mmr_lambda: float = 0.9
    relevance_margin: float = 0.12
    support_margin: float = 0.15
    duplicate_similarity: float = 0.85
    rank_prior: float = 0.08
    dangling_penalty: float = 0.06
    lead_margin: float = 0.1
    max_list_items: int = 8
    term_weight: float = 0.1
    next_sentence_bonus: float = 0.15

    def __post_init__(self) -> None:
        if not 1 <= self.min_sentences <= self.max_sentences:
            raise ValueError(
                f"need 1 <= min_sentences <= max_sentences, got {self.min_sentences}, {self.max_sentences}"
            )
        if self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}")
        if self.length_cap_factor < 1:
            raise ValueError(f"length_cap_factor must be >= 1, got {self.length_cap_factor}")
        if self.max_list_items < 0:
            raise ValueError(f"max_list_items must be >= 0, got {self.max_list_items}")


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


@dataclass(frozen=True)
class _Candidate:
    sentence: SentenceRecord
    hit: Hit
    similarity: float
    score: float


@dataclass(frozen=True)
class _Chosen:
    candidate: _Candidate
    list_item: bool = False


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
    if is_instruction(question):
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
    if is_dose_request(question):
        return _abstain(
            question,
            index,
            red_flags,
            reason="dose",
            message=NO_DOSES,
            confidence=0.0,
            timings=timings,
            started=started,
        )
    query_vector = index.embed_query(question)
    lap("embed")
    if not red_flags:  # the backstop reads the embedding, so it runs once the question is embedded
        red_flags = backstop_flags(query_vector, index, catalogue, settings)
        timings["red_flags"] = round(timings["red_flags"] + (time.perf_counter() - clock) * 1000, 3)
        clock = time.perf_counter()
    hits = index.search(question, k=k or settings.k, mode="hybrid", query_vector=query_vector)
    lap("search")
    candidates = _candidates(question, hits, index, query_vector, settings)
    features = abstention_features(candidates, hits, red_flags)
    confidence = settings.abstention.confidence(features) if candidates else 0.0
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
    documents = {doc_id: index.document(doc_id) for doc_id in dict.fromkeys(c.sentence.doc_id for c in candidates)}
    chosen = _select(question, candidates, hits, documents, index, settings)
    answer = _compose(question, chosen, documents, index, red_flags, confidence)
    lap("compose")
    timings["total"] = round((time.perf_counter() - started) * 1000, 3)
    return replace(answer, timings_ms=timings)


def is_instruction(question: str) -> bool:
    """A request to change the service's behaviour rather than a question: declined, never scored."""
    return _INSTRUCTIONS.search(question) is not None


def is_dose_request(question: str) -> bool:
    """A request for a medicine's dose: declined by policy (no drug doses), never scored."""
    return _DOSE_REQUESTS.search(question) is not None


def coverage_features(
    question: str, index: SearchIndex, *, settings: QASettings, catalogue: RedFlagCatalogue
) -> dict[str, float]:
    """The abstention model's features for a question, as ``answer_question`` computes them (for calibration)."""
    red_flags = tuple(detect_red_flags(question, catalogue))
    query_vector = index.embed_query(question)
    red_flags = red_flags or backstop_flags(query_vector, index, catalogue, settings)
    hits = index.search(question, k=settings.k, mode="hybrid", query_vector=query_vector)
    return abstention_features(_candidates(question, hits, index, query_vector, settings), hits, red_flags)


def backstop_flags(
    query_vector: np.ndarray, index: SearchIndex, catalogue: RedFlagCatalogue, settings: QASettings
) -> tuple[RedFlag, ...]:
    """The learned backstop's flag for a question no rule flagged (silent with another embedding model)."""
    if settings.backstop is None:
        return ()
    model = index.embedder.fingerprint
    if model != settings.backstop.model:
        _warn_backstop_silent(model, settings.backstop.model)
    return settings.backstop.flags(query_vector[0], catalogue, model=model)


@functools.cache
def _warn_backstop_silent(model: str, trained_on: str) -> None:
    logger.warning(
        "the red-flag backstop was trained on embedding model %s and this index uses %s (another model or the "
        "int8 backend): only the rules flag warning signs; retrain it with 'python -m eval.redflag_backstop --write'",
        trained_on[:16],
        model[:16],
    )


def abstention_features(
    candidates: list[_Candidate], hits: list[Hit], red_flags: Sequence[RedFlag]
) -> dict[str, float]:
    """``passage``, ``sentence``, ``agree`` and ``red_flag`` (see ``service.abstention``) from one retrieval."""
    best = max(candidates, key=lambda c: c.similarity, default=None)
    passage = max((h.dense_score for h in hits if h.dense_score is not None), default=0.0)
    return {
        "passage": float(passage),
        "sentence": best.similarity if best else 0.0,
        "agree": float(best is not None and best.sentence.doc_id == hits[0].doc_id),
        "red_flag": float(bool(red_flags)),
    }


def _candidates(
    question: str, hits: list[Hit], index: SearchIndex, query_vector: np.ndarray, settings: QASettings
) -> list[_Candidate]:
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
    coverage = _term_coverage(question, [sentence.text for sentence, _ in owner.values()])
    candidates = []
    for (sentence, hit), sim, covered in zip(owner.values(), similarity.tolist(), coverage, strict=True):
        if _INSTRUCTIONS.search(sentence.text):
            # A sentence addressed to software ("ignore previous instructions ...") is never quoted as an answer,
            # whatever it scores: the rule that declines such questions also keeps such sentences out.
            continue
        # hit.rank counts from 1: passage r of n lends rank_prior * (n - r) / n, the last one nothing.
        prior = settings.rank_prior * (len(hits) - hit.rank) / len(hits)
        penalty = settings.dangling_penalty if _DANGLING_START.match(sentence.text) else 0.0
        score = float(sim) + prior - penalty + settings.term_weight * covered
        candidates.append(_Candidate(sentence, hit, float(sim), score))
    return candidates


@functools.lru_cache(maxsize=65536)
def _terms(text: str) -> frozenset[str]:
    """The stemmed content words of a text (cached: the same sentences come back question after question)."""
    return frozenset(_STEMMER.stemWords([w for w in _TERM.findall(text.lower()) if w not in _STOPWORDS]))


def _term_coverage(question: str, texts: list[str]) -> list[float]:
    """Each text's share of the question's terms, a term weighing log(1 + n / df) over the n texts.

    Terms no text contains weigh nothing, so typos and chatter in the question change no score.
    """
    asked = _terms(question)
    held = [_terms(text) & asked for text in texts]
    df: dict[str, int] = {}
    for terms in held:
        for term in terms:
            df[term] = df.get(term, 0) + 1
    if not df:
        return [0.0] * len(texts)
    weight = {term: math.log(1 + len(texts) / count) for term, count in df.items()}
    total = sum(weight.values())
    return [sum(weight[t] for t in terms) / total for terms in held]


def _readable(text: str) -> bool:
    stripped = text.strip()
    return len(stripped.split()) >= 4 and stripped.endswith(_TERMINAL) and not stripped.endswith(":")


def _corrected(candidate: _Candidate, documents: dict[str, Document | None]) -> bool:
    """The sentence is one its article's editor's note corrects (front matter ``corrected_sentences``)."""
    document = documents.get(candidate.sentence.doc_id)
    listed = document.metadata.get("corrected_sentences") if document else None
    if not isinstance(listed, list):
        return False
    text = _normalise(candidate.sentence.text)
    return any(isinstance(item, str) and _normalise(item) and _normalise(item) in text for item in listed)


def _normalise(text: str) -> str:
    return " ".join(text.split())


def _select(
    question: str,
    candidates: list[_Candidate],
    hits: list[Hit],
    documents: dict[str, Document | None],
    index: SearchIndex,
    settings: QASettings,
) -> list[_Chosen]:
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
        intro = _list_intro(lead, pool, documents) or lead
        items = _list_items(intro, preferred, documents, settings)
        if items:
            return [_Chosen(intro), *(_Chosen(item, list_item=True) for item in items)]
    support = _support(lead, pool, index, settings, follower=_next_in_paragraph(lead, pool, documents))
    # The lead first; then the rest of its article in article order; then other articles by relevance.
    doc_rank: dict[str, float] = {lead.sentence.doc_id: float("inf")}
    for candidate in support:
        doc_id = candidate.sentence.doc_id
        doc_rank[doc_id] = max(doc_rank.get(doc_id, -np.inf), candidate.score)
    ordered = sorted(support, key=lambda c: (-doc_rank[c.sentence.doc_id], c.sentence.doc_id, c.sentence.start))
    return [_Chosen(lead), *(_Chosen(c) for c in ordered)]


def _lead(
    pool: list[_Candidate],
    hits: list[Hit],
    settings: QASettings,
    *,
    passed_over: set[str] | frozenset[str] = frozenset(),
) -> _Candidate:
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
    lead: _Candidate,
    pool: list[_Candidate],
    index: SearchIndex,
    settings: QASettings,
    *,
    follower: _Candidate | None = None,
) -> list[_Candidate]:
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


def _next_in_paragraph(
    lead: _Candidate, pool: list[_Candidate], documents: dict[str, Document | None]
) -> _Candidate | None:
    """The retrieved sentence right after the lead in the same paragraph of its article, or None."""
    document = documents.get(lead.sentence.doc_id)
    if document is None:
        return None
    for candidate in pool:
        same = candidate.sentence.doc_id == lead.sentence.doc_id
        if same and candidate.sentence.ordinal == lead.sentence.ordinal + 1:
            gap = document.text[lead.sentence.end : candidate.sentence.start]
            new_block = _BLANK_LINE.search(gap) or _HEADING_LINE.search(gap)
            return None if new_block or _starts_list_item(document.text, candidate.sentence.start) else candidate
    return None


def asks_for_content(question: str) -> bool:
    """A question that wants the content itself ("what / which / how", "good stretches for ..."), not a yes or no."""
    return _LIST_QUESTION.search(question) is not None or _YES_NO_START.match(question) is None


def _list_intro(lead: _Candidate, pool: list[_Candidate], documents: dict[str, Document | None]) -> _Candidate | None:
    """When the lead is a list item, the readable sentence that introduces its list (the best-scored of the
    paragraph right above the list), so the list is quoted whole under it; None otherwise."""
    document = documents.get(lead.sentence.doc_id)
    if document is None or not _in_list_item(document.text, lead.sentence.start):
        return None
    by_ordinal = {c.sentence.ordinal: c for c in pool if c.sentence.doc_id == lead.sentence.doc_id}
    text, first = document.text, lead
    # Back to the list's first item (a sentence inside an item counts as in it).
    while (before := by_ordinal.get(first.sentence.ordinal - 1)) is not None and _in_list_item(
        text, before.sentence.start
    ):
        first = before
    intro: list[_Candidate] = []
    after = first
    for _ in range(2):  # the paragraph right above the list, at most its last two sentences (as _list_items reads)
        before = by_ordinal.get(after.sentence.ordinal - 1)
        gap = text[before.sentence.end : after.sentence.start] if before else ""
        if before is None or _HEADING_LINE.search(gap) or (intro and _BLANK_LINE.search(gap)):
            break
        intro.append(before)
        after = before
    return max(intro, key=lambda c: c.score, default=None)


def _list_items(
    lead: _Candidate, candidates: list[_Candidate], documents: dict[str, Document | None], settings: QASettings
) -> list[_Candidate]:
    """The list right under the lead's paragraph (its items, in article order), or [] when there is none.

    Only retrieved sentences are used, so every item keeps the passage it was found in; a list that runs
    past the retrieved passages is cut there.
    """
    document = documents.get(lead.sentence.doc_id)
    if document is None or settings.max_list_items < 2:
        return []
    text = document.text
    if _in_list_item(text, lead.sentence.start):
        return []  # a list item does not introduce a list; its siblings compete as sentences
    by_ordinal = {c.sentence.ordinal: c for c in candidates if c.sentence.doc_id == lead.sentence.doc_id}
    previous, items = lead, []
    for ordinal in range(lead.sentence.ordinal + 1, lead.sentence.ordinal + 2 * settings.max_list_items + 4):
        candidate = by_ordinal.get(ordinal)
        if candidate is None:
            break
        gap = text[previous.sentence.end : candidate.sentence.start]
        starts_item = _starts_list_item(text, candidate.sentence.start)
        if _HEADING_LINE.search(gap):
            break  # a list under the next heading belongs to that heading, not to the lead
        if starts_item:
            items.append(candidate)
            if len(items) == settings.max_list_items:
                break
        elif "\n" in gap and (items or _BLANK_LINE.search(gap)):
            break  # the list ended, or the lead's paragraph ended without one
        elif len(items) == 0 and ordinal - lead.sentence.ordinal > 2:
            break  # the lead is too far from any list to introduce it
        previous = candidate
    return items if len(items) >= 2 else []


def _starts_list_item(text: str, start: int) -> bool:
    line_start = text.rfind("\n", 0, start) + 1
    return _LIST_MARKER.fullmatch(text[line_start:start]) is not None


def _in_list_item(text: str, start: int) -> bool:
    line_start = text.rfind("\n", 0, start) + 1
    return _LIST_MARKER.match(text[line_start:start]) is not None


def _compose(
    question: str,
    chosen: list[_Chosen],
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


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    """The answer as the API returns it (the question itself is left out)."""
    data = asdict(answer)
    data.pop("question")
    return data
