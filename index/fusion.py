"""Reciprocal-rank fusion of ranked lists (Cormack, Clarke & Büttcher, SIGIR 2009)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from settings import SearchSettings


def fuse_rrf(
    rankings: Mapping[str, Sequence[int]],
    *,
    weights: Mapping[str, float] | None = None,
    rrf_k: int = SearchSettings.rrf_k,
) -> list[tuple[int, float]]:
    """Fuse ranked lists of ids by weighted reciprocal rank.

    score(id) = sum over lists of weight / (rrf_k + rank), rank starting at 1.

    Args:
        rankings: Ranked ids per retriever name, best first.
        weights: Weight per retriever name (default 1.0 each).
        rrf_k: The rank offset; larger values flatten the head of each list.

    Returns:
        ``(id, fused_score)`` pairs, best first; ties broken by id for stability.
    """
    if rrf_k < 0:
        raise ValueError(f"rrf_k must be >= 0, got {rrf_k}")
    scores: dict[int, float] = {}
    for name, ranked in rankings.items():
        weight = 1.0 if weights is None else weights.get(name, 1.0)
        if weight < 0:
            raise ValueError(f"fusion weight for {name!r} must be >= 0, got {weight}")
        for rank, item in enumerate(ranked, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (rrf_k + rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))
