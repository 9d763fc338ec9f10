"""The committed abstention model matches a fresh calibration, and answers meet their floors on the tuning split."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.answers import evaluate_answers
from eval.calibrate import calibrate
from index import SearchIndex
from service.abstention import DEFAULT_ABSTENTION
from service.config import Settings
from service.qa import DEFAULT_ABSTAIN_THRESHOLD, QASettings
from service.redflags import load_catalogue

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def index(corpus_index: Path, embedder) -> SearchIndex:
    return SearchIndex.load(corpus_index, embedder=embedder)


def test_committed_abstention_model_matches_a_fresh_calibration(index: SearchIndex) -> None:
    """Fails when the corpus, model or chunker changed without re-running 'healthqa calibrate --write'.

    The calibration is deterministic (fixed folds, lbfgs); the tolerances only absorb float
    differences between machines, far below one step between the observed confidences."""
    result = calibrate(index, QASettings())
    assert result.model.features == DEFAULT_ABSTENTION.features
    assert result.model.weights == pytest.approx(DEFAULT_ABSTENTION.weights, rel=1e-3)
    assert result.model.bias == pytest.approx(DEFAULT_ABSTENTION.bias, rel=1e-3)
    assert result.threshold == pytest.approx(DEFAULT_ABSTAIN_THRESHOLD, abs=1e-3)
    assert Settings().abstain_threshold == DEFAULT_ABSTAIN_THRESHOLD
    assert result.auc >= 0.95
    assert result.answer_rate_in_scope >= 0.95


def test_answers_on_the_tuning_questions_meet_their_floors(index: SearchIndex) -> None:
    report = evaluate_answers(index, load_catalogue(), QASettings(), split="tune")
    assert report.citation_integrity_answered.value == 1.0
    assert report.first_citation_right.value >= 0.85, report.failures
    assert report.answered_in_scope.value >= 0.9
    # q199-q307 added dose questions beside clot and joint words: 23/27 declined (eval/thresholds.toml).
    assert report.declined_out_of_scope.value >= 0.82
    recall = report.red_flag_recall_at_level
    assert recall["emergency"].value == 1.0 and recall["urgent"].value >= 0.9, report.failures
    assert report.red_flag_under_triage["emergency"].hits == 0, report.failures
    assert report.false_alarms["benign"].value == 0.0
