"""Extractive, cited answers: pick the 2-4 article sentences that best answer a question.

No language model writes anything: every answer sentence is a sentence of an article, quoted verbatim with
its offsets, so nothing can be invented. An answer is a pipeline of named stages over the types in
``answer.types``: triage (rules), policy, embed, triage (learned), retrieve, candidates, abstain, select,
compose. Calibration calls the same stages (``gather_evidence``) instead of copying them.

Usage example::

    answer = answer_question("knees ache after squats?", index, settings=AnswerSettings(), triage=triage,
                             abstention=abstention)
    print(answer.answer)        # "Joint pain after working out is generally not a good sign ... [1]"
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from answer.abstention import AbstentionModel, abstention_features
from answer.candidates import Candidate, score_candidates
from answer.compose import abstention_answer, compose_answer
from answer.messages import NO_DOSES, NOT_A_QUESTION, NOT_COVERED
from answer.policy import is_dose_request, is_instruction
from answer.selection import select_sentences
from answer.types import Answer
from index import Hit, SearchIndex
from settings import AnswerSettings
from triage import RedFlag, Triage


@dataclass
class Stopwatch:
    """Milliseconds per stage, in the order the stages ran."""

    started: float = field(default_factory=time.perf_counter)
    clock: float = 0.0
    laps: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.clock = self.started

    def lap(self, name: str) -> None:
        """Add the time since the last lap to ``name``'s (a stage may run in two parts)."""
        now = time.perf_counter()
        self.laps[name] = round(self.laps.get(name, 0.0) + (now - self.clock) * 1000, 3)
        self.clock = now

    def total(self) -> dict[str, float]:
        return {**self.laps, "total": round((time.perf_counter() - self.started) * 1000, 3)}


@dataclass(frozen=True)
class Evidence:
    """What the embed, learned-triage, retrieve and candidates stages found for one question.

    Attributes:
        red_flags: The rules' flags, or the backstop's when no rule fired.
        query_vector: The question's embedding, (1, d) float32, L2-normalised.
        hits: The retrieved passages, best first.
        candidates: Every sentence of those passages, scored against the question.
    """

    red_flags: tuple[RedFlag, ...]
    query_vector: np.ndarray
    hits: list[Hit]
    candidates: list[Candidate]

    def features(self) -> dict[str, float]:
        """The abstention model's features (``answer.abstention``)."""
        return abstention_features(self.candidates, self.hits, self.red_flags)


def answer_question(
    question: str,
    index: SearchIndex,
    *,
    settings: AnswerSettings,
    triage: Triage,
    abstention: AbstentionModel,
    k: int | None = None,
) -> Answer:
    """Answer from the index's articles, or abstain; red flags are checked first, always.

    Args:
        question: The user's question (already validated as non-empty).
        index: One index version, used for the whole answer.
        settings: Selection settings (and an abstention threshold that overrides the model's).
        triage: The red-flag rules and learned backstop.
        abstention: The calibrated abstention model.
        k: Passages to retrieve (default ``settings.answer_k``).
    """
    watch = Stopwatch()
    red_flags = triage.rules(question)
    watch.lap("red_flags")
    if is_instruction(question) or is_dose_request(question):
        reason, message = ("instructions", NOT_A_QUESTION) if is_instruction(question) else ("dose", NO_DOSES)
        return abstention_answer(
            question, index, red_flags, reason=reason, message=message, confidence=0.0, timings=watch.total()
        )
    evidence = gather_evidence(question, index, settings=settings, triage=triage, red_flags=red_flags, k=k, watch=watch)
    confidence = abstention.confidence(evidence.features()) if evidence.candidates else 0.0
    threshold = abstention.threshold if settings.abstain_threshold is None else settings.abstain_threshold
    if confidence < threshold:
        watch.lap("compose")
        return abstention_answer(
            question,
            index,
            evidence.red_flags,
            reason="not_covered",
            message=NOT_COVERED,
            confidence=confidence,
            timings=watch.total(),
        )
    doc_ids = dict.fromkeys(c.sentence.doc_id for c in evidence.candidates)
    documents = {doc_id: index.document(doc_id) for doc_id in doc_ids}
    chosen = select_sentences(question, evidence.candidates, evidence.hits, documents, index, settings)
    answer = compose_answer(question, chosen, documents, index, evidence.red_flags, confidence)
    watch.lap("compose")
    return replace(answer, timings_ms=watch.total())


def gather_evidence(
    question: str,
    index: SearchIndex,
    *,
    settings: AnswerSettings,
    triage: Triage,
    red_flags: tuple[RedFlag, ...] | None = None,
    k: int | None = None,
    watch: Stopwatch | None = None,
) -> Evidence:
    """The embed, learned-triage, retrieve and candidates stages (``red_flags``: the rules' flags, if run already)."""
    watch = watch or Stopwatch()
    if red_flags is None:
        red_flags = triage.rules(question)
    query_vector = index.embed_query(question)
    watch.lap("embed")
    if not red_flags:  # the backstop reads the embedding, so it runs once the question is embedded
        red_flags = triage.learned(query_vector[0], model=index.embedder.fingerprint)
        watch.lap("red_flags")
    hits = index.search(question, k=k or settings.answer_k, mode="hybrid", query_vector=query_vector)
    watch.lap("search")
    candidates = score_candidates(question, hits, index, query_vector, settings)
    return Evidence(red_flags, query_vector, hits, candidates)
