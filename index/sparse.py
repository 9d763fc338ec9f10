"""BM25 over chunk texts, with bm25s (sparse-matrix BM25) and a Snowball stemmer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
import Stemmer

SPARSE_SETTINGS: dict[str, Any] = {
    "library": "bm25s",
    "method": "lucene",
    "k1": 1.5,
    "b": 0.75,
    "stemmer": "english",
    "stopwords": "en",
}


class SparseIndex:
    """A BM25 index over chunk rows 0..n-1.

    Usage example::

        sparse = SparseIndex.build(["lifting with a straight back", "sciatica"])
        rows, scores = sparse.search("lifting", k=5)
    """

    def __init__(self, retriever: bm25s.BM25) -> None:
        self._retriever = retriever
        self._stemmer = Stemmer.Stemmer(SPARSE_SETTINGS["stemmer"])
        self._n = int(retriever.scores["num_docs"])

    @classmethod
    def build(cls, texts: Sequence[str]) -> SparseIndex:
        retriever = bm25s.BM25(method=SPARSE_SETTINGS["method"], k1=SPARSE_SETTINGS["k1"], b=SPARSE_SETTINGS["b"])
        tokens = tokenize(list(texts))
        retriever.index(tokens, show_progress=False)
        return cls(retriever)

    @classmethod
    def load(cls, folder: Path) -> SparseIndex:
        return cls(bm25s.BM25.load(str(folder), show_progress=False, verbosity=0))

    def save(self, folder: Path) -> None:
        self._retriever.save(str(folder), show_progress=False)

    def search(self, query: str, *, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k chunk rows by BM25; chunks sharing no term with the query are left out.

        Returns:
            ``(rows, scores)``: (m,) int64 and (m,) float32 with m <= k, best first.
        """
        return top_rows(self.scores(query), k=k)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk row for the query: (n,) float32, zero where no term matches."""
        tokens = tokenize([query], self._stemmer)[0]
        if not tokens or self._n == 0:
            return np.zeros(self._n, dtype=np.float32)
        known = [t for t in tokens if t in self._retriever.vocab_dict]
        if not known:
            return np.zeros(self._n, dtype=np.float32)
        return np.asarray(self._retriever.get_scores(known), dtype=np.float32)


def top_rows(scores: np.ndarray, *, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best positive entries of a (n,) score vector, best first (ties by row): (m,) int64, (m,) float32."""
    positive = np.flatnonzero(scores > 0)
    if len(positive) > k:
        # argpartition finds the k best in O(n); only those are sorted.
        positive = positive[np.argpartition(-scores[positive], k - 1)[:k]]
    order = np.lexsort((positive, -scores[positive]))
    rows = positive[order]
    return rows.astype(np.int64), scores[rows].astype(np.float32)


def tokenize(texts: list[str], stemmer: Any = None) -> list[list[str]]:
    """Each text's BM25 terms: lower-cased words, English stopwords dropped, Snowball-stemmed."""
    stemmer = stemmer or Stemmer.Stemmer(SPARSE_SETTINGS["stemmer"])
    tokenized: list[list[str]] = bm25s.tokenize(
        texts, stopwords=SPARSE_SETTINGS["stopwords"], stemmer=stemmer, return_ids=False, show_progress=False
    )
    return tokenized
