"""Red-flag design checks on the tune split only: a semantic-similarity sweep and the detector's own speed.

``python -m eval.redflag_sweep`` prints two tables:

1. **Semantic sweep.** Could the question's embedding (computed for retrieval anyway, so free) flag what the
   rules miss? Each question vector is compared with every catalogue test phrase and negative phrase; a
   question "fires" a rule when its nearest test phrase scores at least ``threshold`` and beats the nearest
   negative phrase by ``margin``. For each setting: red-flag questions it flags at their level on its own,
   those it adds to the rules, and the benign look-alikes, answerable and out-of-scope questions it fires on.
   This is the table the semantic layer was rejected from (README "Red flags"): no setting adds a red-flag
   question without firing on benign look-alikes or on more than 2% of answerable questions.
2. **Detector speed.** `detect_red_flags` alone, in process, over every tune question (per-question p50,
   p90, p99 in ms) and the catalogue's load time. Timings on a busy machine are inflated.

Held-out questions are never read here.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from eval.questions import LabelledQuestion, load_questions
from service.redflags import LEVELS, RedFlagCatalogue, detect_red_flags, load_catalogue

THRESHOLDS = (0.55, 0.6, 0.65, 0.7, 0.75, 0.8)
MARGINS = (0.0, 0.05, 0.1)
_RANK: dict[str, int] = {level: rank for rank, level in enumerate(LEVELS)}  # lower is more serious


def _at_level(levels: Iterable[str], wanted: str | None) -> bool:
    return wanted is not None and any(_RANK[level] <= _RANK[wanted] for level in levels)


def semantic_sweep(
    questions: list[LabelledQuestion],
    catalogue: RedFlagCatalogue,
    embed_queries: Callable[[Sequence[str]], np.ndarray],
) -> list[str]:
    """The sweep table as Markdown lines; ``embed_queries(texts)`` returns L2-normalised row vectors."""
    positives = [(rule.level, phrase) for rule in catalogue.rules for phrase in rule.test_phrases]
    negatives = [phrase for rule in catalogue.rules for phrase in rule.negative_phrases]
    pos = np.asarray(embed_queries([phrase for _, phrase in positives]))
    neg = np.asarray(embed_queries(negatives))
    vectors = np.asarray(embed_queries([q.question for q in questions]))
    pos_sim, neg_sim = vectors @ pos.T, (vectors @ neg.T).max(axis=1)
    rule_levels: list[set[str]] = [{flag.level for flag in detect_red_flags(q.question, catalogue)} for q in questions]
    red = [i for i, q in enumerate(questions) if q.kind == "red_flag"]
    lines = [
        f"Semantic sweep, tune split ({len(questions)} questions, {len(red)} red flags, {len(positives)} test phrases)",
        "",
        "| threshold | margin | red flags at level alone | added to the rules | benign fired | answerable fired"
        " | out of scope fired |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for threshold in THRESHOLDS:
        for margin in MARGINS:
            fired: dict[int, str] = {}
            for i in range(len(questions)):
                best = int(pos_sim[i].argmax())
                if pos_sim[i, best] >= threshold and pos_sim[i, best] - neg_sim[i] >= margin:
                    fired[i] = positives[best][0]
            alone = sum(1 for i in red if i in fired and _at_level({fired[i]}, questions[i].red_flag_level))
            added = sum(
                1
                for i in red
                if i in fired
                and not _at_level(rule_levels[i], questions[i].red_flag_level)
                and _at_level(rule_levels[i] | {fired[i]}, questions[i].red_flag_level)
            )
            by_kind = {
                kind: f"{sum(1 for i in fired if questions[i].kind == kind)}/"
                f"{sum(1 for q in questions if q.kind == kind)}"
                for kind in ("benign", "answerable", "out_of_scope")
            }
            lines.append(
                f"| {threshold:.2f} | {margin:.2f} | {alone}/{len(red)} | {added} | {by_kind['benign']}"
                f" | {by_kind['answerable']} | {by_kind['out_of_scope']} |"
            )
    return lines


def detector_timing(
    questions: list[LabelledQuestion], catalogue_path: Path | None = None, repeats: int = 20
) -> list[str]:
    """`detect_red_flags` per question (the best of ``repeats`` runs each), as Markdown lines."""
    started = time.perf_counter()
    catalogue = load_catalogue(catalogue_path)
    load_ms = (time.perf_counter() - started) * 1000
    per_question = []
    for q in questions:
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            detect_red_flags(q.question, catalogue)
            runs.append((time.perf_counter() - start) * 1000)
        per_question.append(min(runs))
    ordered = sorted(per_question)

    def pick(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    return [
        f"Detector alone, in process, tune split ({len(questions)} questions, best of {repeats} runs each)",
        "",
        "| catalogue load | p50 | p90 | p99 | max |",
        "| --- | --- | --- | --- | --- |",
        f"| {load_ms:.0f} ms | {statistics.median(per_question):.3f} ms | {pick(0.9):.3f} ms | {pick(0.99):.3f} ms"
        f" | {ordered[-1]:.3f} ms |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timing-only", action="store_true", help="skip the semantic sweep (no model needed)")
    parser.add_argument("--model", default=None, help="embedding model (default: the service's)")
    args = parser.parse_args()
    questions = load_questions(split="tune")
    sys.stdout.write("\n".join(detector_timing(questions)) + "\n")
    if args.timing_only:
        return
    from index.embedder import load_embedder
    from service.config import Settings

    settings = Settings()
    embedder = load_embedder(
        args.model or settings.model, backend=settings.embed_backend, cache_dir=settings.model_cache_dir
    )
    sys.stdout.write("\n" + "\n".join(semantic_sweep(questions, load_catalogue(), embedder.embed_queries)) + "\n")


if __name__ == "__main__":
    main()
