"""The nearest-neighbour cross-validation in `eval.redflag_sweep`: its vote, folds and setting choice on toy data."""

from __future__ import annotations

import numpy as np

from eval.questions import LabelledQuestion
from eval.redflag_sweep import choose_setting, id_block_folds, knn_fire

LEVELS = ["urgent", "emergency", "urgent"]


def _question(qid: str, kind: str, level: str | None = None) -> LabelledQuestion:
    return LabelledQuestion(
        id=qid,
        question="toy",
        kind=kind,  # type: ignore[arg-type]
        relevant=(),
        answer_sentences=(),
        red_flag_level=level,  # type: ignore[arg-type]
        split="tune",
    )


def test_knn_fire_needs_threshold_margin_and_a_positive_majority() -> None:
    positive, negative = np.array([0.82, 0.80, 0.3]), np.array([0.6, 0.5])
    assert knn_fire(positive, negative, LEVELS, (0.8, 0.1, False, 1), vetoed=False) == "urgent"
    assert knn_fire(positive, negative, LEVELS, (0.85, 0.1, False, 1), vetoed=False) is None  # under threshold
    assert knn_fire(positive, negative, LEVELS, (0.8, 0.3, False, 1), vetoed=False) is None  # margin too small
    assert knn_fire(positive, np.array([0.81, 0.81]), LEVELS, (0.8, 0.0, False, 3), vetoed=False) is None  # 1 of 3


def test_knn_fire_escalates_to_the_most_serious_neighbour() -> None:
    positive, negative = np.array([0.82, 0.80, 0.3]), np.array([0.1])
    assert knn_fire(positive, negative, LEVELS, (0.8, 0.1, False, 2), vetoed=False) == "emergency"


def test_knn_fire_veto_applies_only_when_the_setting_uses_it() -> None:
    positive, negative = np.array([0.9, 0.1, 0.1]), np.array([0.1])
    assert knn_fire(positive, negative, LEVELS, (0.8, 0.1, True, 1), vetoed=True) is None
    assert knn_fire(positive, negative, LEVELS, (0.8, 0.1, False, 1), vetoed=True) == "urgent"
    assert knn_fire(positive, negative, LEVELS, (0.8, 0.1, True, 1), vetoed=False) == "urgent"


def test_id_block_folds_keep_neighbouring_ids_together() -> None:
    ids = ["q10", "q2", "q1", "q3", "q9", "q4"]
    folds = id_block_folds(ids, folds=3)
    by_id = dict(zip(ids, folds, strict=True))
    assert by_id["q1"] == by_id["q2"] == 0
    assert by_id["q3"] == by_id["q4"] == 1
    assert by_id["q9"] == by_id["q10"] == 2


def test_choose_setting_keeps_false_alarms_within_bounds() -> None:
    questions = [
        _question("q1", "red_flag", "emergency"),
        _question("q2", "red_flag", "urgent"),
        _question("q3", "benign"),
        _question("q4", "answerable"),
    ]
    loose, strict, useless = (0.5, 0.0, False, 1), (0.7, 0.1, False, 1), (0.9, 0.2, False, 1)
    fired: dict[tuple[float, float, bool, int], list[str | None]] = {
        loose: ["emergency", "urgent", "urgent", None],  # best recall but fires on the look-alike
        strict: ["urgent", "urgent", None, None],  # the emergency only at urgent: not at level
        useless: [None, None, None, None],
    }
    assert choose_setting(fired, questions, [0, 1, 2, 3]) == strict
    assert choose_setting(fired, questions, [0, 1, 3]) == loose  # without the look-alike the loose one is allowed
    assert choose_setting({loose: fired[loose]}, questions, [2]) is None
