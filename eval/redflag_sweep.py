"""Red-flag design checks on the tune split only: semantic-similarity sweeps and the detector's own speed.

``python -m eval.redflag_sweep`` prints the speed table and table 1; ``--cv`` adds table 2:

1. **Semantic sweep.** Could the question's embedding (computed for retrieval anyway, so free) flag what the
   rules miss? Each question vector is compared with every catalogue test phrase and negative phrase; a
   question "fires" a rule when its nearest test phrase scores at least ``threshold`` and beats the nearest
   negative phrase by ``margin``. For each setting: red-flag questions it flags at their level on its own,
   those it adds to the rules, and the benign look-alikes, answerable and out-of-scope questions it fires on.
   This is the table the semantic layer was rejected from (docs/triage.md): no setting adds a red-flag
   question without firing on benign look-alikes or on more than 2% of answerable questions.
2. **Cross-validated nearest-neighbour layer** (``--cv``). A fuller version of 1: the example bank is every
   test phrase (labelled with its rule's level) and every negative phrase; a question fires when its nearest
   test phrase scores at least ``threshold``, beats the nearest negative phrase by ``margin``, and test phrases
   hold a majority of its ``k`` nearest examples (the level is the most serious among them: escalate when
   unsure); optionally the whole question is vetoed when the rules' scope checks find any negation,
   information request, other person or past event in it. The setting is chosen on four folds of the tune
   questions (the one with the most red flags at level, subject to no benign look-alike and at most 2% of
   answerable questions fired) and scored on the fifth; folds are contiguous blocks of question ids, so a
   vignette and the look-alikes written beside it stay together. Out-of-fold totals estimate how the layer
   would do on wording it was not chosen on. This is the table the nearest-neighbour layer was rejected from.
3. **Detector speed.** `detect_red_flags` alone, in process, over every tune question (per-question p50,
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
from triage import LEVELS, RedFlagCatalogue, detect_red_flags, find_scopes, load_catalogue, normalise

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


CV_THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8)
CV_MARGINS = (0.0, 0.05, 0.1, 0.15, 0.2)
CV_NEIGHBOURS = (1, 3, 5, 7)
CV_FOLDS = 5
MAX_ANSWERABLE_FIRED = 0.02  # the issue-13 false-alarm bound; benign look-alikes must not fire at all
Setting = tuple[float, float, bool, int]  # threshold, margin, whole-question scope veto, k


def knn_fire(
    positive_sims: np.ndarray,
    negative_sims: np.ndarray,
    positive_levels: Sequence[str],
    setting: Setting,
    vetoed: bool,
) -> str | None:
    """The level one question fires at under ``setting``, or None; sims are its cosines to the bank's phrases."""
    threshold, margin, use_veto, k = setting
    if use_veto and vetoed:
        return None
    best = int(positive_sims.argmax())
    best_negative = float(negative_sims.max()) if negative_sims.size else -1.0
    if positive_sims[best] < threshold or positive_sims[best] - best_negative < margin:
        return None
    both = np.concatenate([positive_sims, negative_sims])
    nearest = np.argsort(-both, kind="stable")[:k]
    positive_neighbours = [int(j) for j in nearest if j < len(positive_sims)]
    if 2 * len(positive_neighbours) <= len(nearest):
        return None
    levels = {positive_levels[j] for j in positive_neighbours}
    return min(levels, key=_RANK.__getitem__)  # the most serious of them: escalate when unsure


def id_block_folds(ids: Sequence[str], folds: int = CV_FOLDS) -> list[int]:
    """Fold of each question: contiguous blocks of numeric ids, so neighbouring vignettes stay together."""
    numbers = [int("".join(ch for ch in qid if ch.isdigit()) or 0) for qid in ids]
    order = sorted(range(len(ids)), key=lambda i: (numbers[i], ids[i]))
    fold = [0] * len(ids)
    for rank, i in enumerate(order):
        fold[i] = rank * folds // len(ids)
    return fold


def _counts(
    fired: Sequence[str | None], questions: Sequence[LabelledQuestion], members: Iterable[int]
) -> dict[str, int]:
    counts = dict.fromkeys(("recalled", "red", "benign", "answerable", "answerable_total", "out_of_scope"), 0)
    for i in members:
        kind = questions[i].kind
        if kind == "red_flag":
            counts["red"] += 1
            level = fired[i]
            counts["recalled"] += int(level is not None and _at_level({level}, questions[i].red_flag_level))
        elif fired[i] is not None and kind in counts:
            counts[kind] += 1
        counts["answerable_total"] += int(kind == "answerable")
    return counts


def choose_setting(
    fired_by_setting: dict[Setting, list[str | None]], questions: Sequence[LabelledQuestion], members: list[int]
) -> Setting | None:
    """The setting with the most red flags at level on ``members`` within the false-alarm bounds (ties: stricter)."""
    allowed = []
    for setting, fired in fired_by_setting.items():
        c = _counts(fired, questions, members)
        if c["benign"] == 0 and c["answerable"] <= MAX_ANSWERABLE_FIRED * c["answerable_total"]:
            allowed.append((c["recalled"], setting[1], setting[0], setting))
    return max(allowed)[3] if allowed else None


def knn_cross_validation(
    questions: list[LabelledQuestion],
    catalogue: RedFlagCatalogue,
    embed_queries: Callable[[Sequence[str]], np.ndarray],
) -> list[str]:
    """The cross-validation table (module docstring, table 2) as Markdown lines."""
    positive_levels = [rule.level for rule in catalogue.rules for _ in rule.test_phrases]
    pos = np.asarray(embed_queries([p for rule in catalogue.rules for p in rule.test_phrases]))
    neg = np.asarray(embed_queries([p for rule in catalogue.rules for p in rule.negative_phrases]))
    vectors = np.asarray(embed_queries([q.question for q in questions]))
    pos_sim, neg_sim = vectors @ pos.T, vectors @ neg.T
    vetoed = []
    for q in questions:
        scopes = find_scopes(normalise(q.question))
        vetoed.append(bool(scopes.forward or scopes.others or scopes.past))
    settings: list[Setting] = [
        (t, m, v, k) for v in (True, False) for t in CV_THRESHOLDS for m in CV_MARGINS for k in CV_NEIGHBOURS
    ]
    fired_by_setting = {
        s: [knn_fire(pos_sim[i], neg_sim[i], positive_levels, s, vetoed[i]) for i in range(len(questions))]
        for s in settings
    }
    rules_fired: list[str | None] = []
    for q in questions:
        levels = {flag.level for flag in detect_red_flags(q.question, catalogue)}
        rules_fired.append(min(levels, key=_RANK.__getitem__) if levels else None)
    folds = id_block_folds([q.id for q in questions])
    lines = [
        f"Nearest-neighbour layer, {CV_FOLDS}-fold cross-validation over the tune split ({len(questions)} questions;"
        f" bank: {pos.shape[0]} test phrases, {neg.shape[0]} negative phrases). Chosen on the other folds, scored"
        " out of fold. 'rules' are fitted to the whole tune split by hand, so their column is in-sample.",
        "",
        "| fold | chosen: threshold, margin, scope veto, k | layer alone: red flags at level | layer: benign fired"
        " | layer: answerable fired | layer: out of scope fired | rules: red flags at level | rules or layer:"
        " red flags at level | rules or layer: benign / answerable fired |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    totals = dict.fromkeys(("layer", "red", "benign", "answerable", "answerable_total", "oos", "rules", "both"), 0)
    both_false = [0, 0]
    for fold in range(CV_FOLDS):
        train = [i for i, f in enumerate(folds) if f != fold]
        test = [i for i, f in enumerate(folds) if f == fold]
        setting = choose_setting(fired_by_setting, questions, train)
        layer = fired_by_setting[setting] if setting else [None] * len(questions)
        either: list[str | None] = []
        for i in range(len(questions)):
            fired_levels = [x for x in (layer[i], rules_fired[i]) if x is not None]
            either.append(min(fired_levels, key=_RANK.__getitem__) if fired_levels else None)
        c, r, e = (_counts(x, questions, test) for x in (layer, rules_fired, either))
        chosen = (
            f"{setting[0]:.2f}, {setting[1]:.2f}, {'yes' if setting[2] else 'no'}, {setting[3]}" if setting else "none"
        )
        lines.append(
            f"| {fold + 1} | {chosen} | {c['recalled']}/{c['red']} | {c['benign']} | {c['answerable']}/"
            f"{c['answerable_total']} | {c['out_of_scope']} | {r['recalled']}/{r['red']} | {e['recalled']}/{e['red']}"
            f" | {e['benign']} / {e['answerable']} |"
        )
        for key, value in (
            ("layer", c["recalled"]),
            ("red", c["red"]),
            ("benign", c["benign"]),
            ("answerable", c["answerable"]),
            ("answerable_total", c["answerable_total"]),
            ("oos", c["out_of_scope"]),
            ("rules", r["recalled"]),
            ("both", e["recalled"]),
        ):
            totals[key] += value
        both_false[0] += e["benign"]
        both_false[1] += e["answerable"]
    t = totals
    lines.append(
        f"| all | | **{t['layer']}/{t['red']}** | **{t['benign']}** | **{t['answerable']}/{t['answerable_total']}**"
        f" | {t['oos']} | {t['rules']}/{t['red']} | {t['both']}/{t['red']} | **{both_false[0]} / {both_false[1]}** |"
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
    parser.add_argument("--cv", action="store_true", help="add the nearest-neighbour cross-validation table")
    parser.add_argument("--model", default=None, help="embedding model (default: the service's)")
    args = parser.parse_args()
    questions = load_questions(split="tune")
    sys.stdout.write("\n".join(detector_timing(questions)) + "\n")
    if args.timing_only:
        return
    from index import load_embedder
    from settings import Settings

    settings = Settings()
    embedder = load_embedder(
        args.model or settings.model, backend=settings.embed_backend, cache_dir=settings.model_cache_dir
    )
    sys.stdout.write("\n" + "\n".join(semantic_sweep(questions, load_catalogue(), embedder.embed_queries)) + "\n")
    if args.cv:
        table = knn_cross_validation(questions, load_catalogue(), embedder.embed_queries)
        sys.stdout.write("\n" + "\n".join(table) + "\n")


if __name__ == "__main__":
    main()
