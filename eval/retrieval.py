"""Document rankings from the product's chunk search, for retrieval metrics."""

from __future__ import annotations

from collections.abc import Mapping

from index import SearchIndex, SearchMode

CHUNK_DEPTH = 100


def rank_documents(index: SearchIndex, query: str, *, mode: SearchMode, k: int = 10) -> dict[str, float]:
    """The top ``k`` documents for a query: each scored by its best chunk (a document ranks where its
    first chunk does), from the top ``CHUNK_DEPTH`` chunks of the product's search."""
    ranking: dict[str, float] = {}
    for hit in index.search(query, k=CHUNK_DEPTH, mode=mode):
        if hit.doc_id not in ranking:
            # Scores of different modes are not comparable; a descending rank score keeps the order exact.
            ranking[hit.doc_id] = float(CHUNK_DEPTH - hit.rank + 1)
            if len(ranking) == k:
                break
    return ranking


def run_queries(
    index: SearchIndex, queries: Mapping[str, str], *, mode: SearchMode, k: int = 20
) -> dict[str, dict[str, float]]:
    return {qid: rank_documents(index, text, mode=mode, k=k) for qid, text in queries.items()}
