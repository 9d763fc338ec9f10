"""Retrieval metrics through ir-measures (pytrec_eval underneath), not hand-rolled."""

from __future__ import annotations

from collections.abc import Mapping

import ir_measures
from ir_measures import RR, R, nDCG

CUTOFFS = (1, 3, 5, 10)
Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Mapping[str, float]]

_MEASURES = {f"recall@{k}": R @ k for k in CUTOFFS} | {"mrr@10": RR @ 10, "ndcg@10": nDCG @ 10}


def retrieval_metrics(qrels: Qrels, run: Run) -> dict[str, float]:
    """Recall@1/3/5/10, MRR@10 and nDCG@10, averaged over the queries in ``qrels``.

    A query with no retrieved document counts as zero (it is filled in with an
    empty ranking rather than dropped, which ir-measures would otherwise do).
    """
    full_run = {qid: dict(run.get(qid, {})) or {"__none__": 0.0} for qid in qrels}
    values = ir_measures.calc_aggregate(list(_MEASURES.values()), {q: dict(r) for q, r in qrels.items()}, full_run)
    return {name: float(values[measure]) for name, measure in _MEASURES.items()}


def recall_curve(qrels: Qrels, run: Run, *, depth: int = 20) -> list[float]:
    """Recall@k for k = 1..depth, for plotting."""
    full_run = {qid: dict(run.get(qid, {})) or {"__none__": 0.0} for qid in qrels}
    measures = [R @ k for k in range(1, depth + 1)]
    values = ir_measures.calc_aggregate(measures, {q: dict(r) for q, r in qrels.items()}, full_run)
    return [float(values[m]) for m in measures]
