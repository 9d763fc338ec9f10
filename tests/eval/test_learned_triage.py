"""`eval.learned_triage`: its folds leave whole batches out, its negatives keep away from the benchmark, and its
rates count what their names say. The sweep itself (minutes of training) is run by hand."""

from __future__ import annotations

import numpy as np

from eval.learned_triage import MEDQUAD_FOLDS, Examples, batch_folds, flag_rates, medquad_negatives
from eval.medquad import load_benchmark, question_lines_in_use
from eval.questions import BATCHES
from tests.conftest import MEDQUAD, require_shared


def test_each_outside_writers_batch_is_a_fold_and_every_batch_is_left_out_once() -> None:
    groups = np.array([*range(len(BATCHES)), *range(len(BATCHES)), -1, -100, -101])
    folds = batch_folds(groups)
    left_out = [b for batches, _ in folds for b in batches]
    assert sorted(left_out) == list(range(len(BATCHES)))
    assert folds[0][0] == [len(BATCHES) - 2] and folds[1][0] == [len(BATCHES) - 1]
    assert len(folds) == 6 and {medquad for _, medquad in folds} <= {-100 - k for k in range(MEDQUAD_FOLDS)}
    for batches, _ in folds[2:]:
        assert batches == list(range(batches[0], batches[-1] + 1)), "earlier batches go in runs of neighbours"


def test_rates_flag_the_budget_of_questions_needing_no_banner_and_escalate_when_unsure() -> None:
    # 100 questions needing none, scored 0.00-0.99 red; an emergency, an urgent one and a MedQuAD question.
    red = np.r_[np.linspace(0, 0.99, 100), 0.995, 0.995, 0.995]
    emergency_share = np.r_[np.zeros(100), 0.4, 0.2, 0.0]  # of red: the first escalates (0.4 >= 0.5 * 0.6)
    probabilities = np.c_[1 - red, red * (1 - emergency_share), red * emergency_share]
    examples = Examples(
        texts=["q"] * 103,
        level=np.r_[np.zeros(100, int), 2, 2, 0],
        group=np.r_[np.zeros(102, int), -100],
        kind=np.array(["benign"] * 50 + ["answerable"] * 50 + ["red_flag", "red_flag", "medquad"]),
    )
    rates = flag_rates(probabilities, examples, np.ones(103, bool), budget=0.02)
    assert rates["emergency at level"] == "0.500 (1/2)"  # the second is flagged urgent only: a miss at level
    assert rates["false alarms"] == "0.000 (0/50) / 0.040 (2/50) / -"
    assert rates["medquad"] == "1.000 (1/1)"


def test_medquad_negatives_keep_away_from_the_retrieval_benchmark_and_its_tuning_draw() -> None:
    require_shared(MEDQUAD)
    negatives = medquad_negatives(MEDQUAD, n=300)
    benchmark = load_benchmark(MEDQUAD)
    tuning = load_benchmark(MEDQUAD, tuning=True)
    asked = set(benchmark.queries.values()) | set(tuning.queries.values())
    in_use = question_lines_in_use(16_407)
    assert len(in_use) == len(benchmark.queries) + len(tuning.queries)
    assert len(negatives) == 300 and not asked & set(negatives) - _repeated_questions()
    assert medquad_negatives(MEDQUAD, n=300) == negatives


def _repeated_questions() -> set[str]:
    """MedQuAD asks some questions on several lines ("What is (are) X ?" for one X in two sources)."""
    import gzip
    import json
    from collections import Counter

    with gzip.open(MEDQUAD, "rt", encoding="utf-8") as handle:
        counts = Counter(" ".join(json.loads(line)["question"].split()) for line in handle if line.strip())
    return {question for question, n in counts.items() if n > 1}
