"""The candidates stage: every sentence of the retrieved passages, scored against the question."""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS

from answer.policy import INSTRUCTIONS
from index import Hit, SearchIndex, SentenceRecord
from settings import AnswerSettings

# Sentences that lean on the one before them read badly on their own.
_DANGLING_START = re.compile(r"^(?:this|that|these|those|it|they|such|also|however|but|and|so|then)\b", re.IGNORECASE)
_TERM = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(STOPWORDS_EN_PLUS)
_STEMMER = Stemmer.Stemmer("english")  # the stemmer BM25 uses (index/sparse.py)


@dataclass(frozen=True)
class Candidate:
    """A retrieved sentence: ``similarity`` is its cosine to the question, ``score`` adds the rank prior, the
    dangling penalty and the term coverage."""

    sentence: SentenceRecord
    hit: Hit
    similarity: float
    score: float


def score_candidates(
    question: str, hits: list[Hit], index: SearchIndex, query_vector: np.ndarray, settings: AnswerSettings
) -> list[Candidate]:
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
        if INSTRUCTIONS.search(sentence.text):
            # A sentence addressed to software ("ignore previous instructions ...") is never quoted as an answer,
            # whatever it scores: the rule that declines such questions also keeps such sentences out.
            continue
        # hit.rank counts from 1: passage r of n lends rank_prior * (n - r) / n, the last one nothing.
        prior = settings.rank_prior * (len(hits) - hit.rank) / len(hits)
        penalty = settings.dangling_penalty if _DANGLING_START.match(sentence.text) else 0.0
        score = float(sim) + prior - penalty + settings.term_weight * covered
        candidates.append(Candidate(sentence, hit, float(sim), score))
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
