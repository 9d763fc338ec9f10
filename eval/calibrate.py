"""Calibrate abstention on the tuning questions (never the held-out ones).

The service abstains when its confidence, a logistic model over features the answer pipeline
computes anyway (``answer/abstention.py``: the best passage's and the best sentence's cosine
similarity to the question, whether the best sentence lies in the best-ranked article, and whether the
question raises a red flag), is below a threshold. In-scope questions (answerable, red-flag, benign)
should clear it; out-of-scope ones should not. Requests the service declines by rule before any
similarity is computed are left out: instructions ("ignore your rules ...") and requests for a
medicine's dose ("how many mg ..."; the product gives no doses). ``eval/answers.py`` leaves them out of
its confidence figures for the same reason.

Steps, all deterministic:
1. Each candidate feature set is scored out of fold: a logistic regression (standardised features) is
   cross-validated on the tuning questions (5 stratified folds, repeated with seeds 0-9); on the
   out-of-fold scores, the mean ROC AUC and the operating point of step 3 (its Youden's J) are averaged
   over the repeats. The best mean AUC wins (rounded to 3 decimals), then the best mean J, then the
   smaller set. AUC first: with about 20 out-of-scope tuning questions, J at one threshold moves by a
   whole question per fold, and the feature with the better J but the lower AUC (the best sentence alone)
   answered a plainly out-of-scope test question ("is thirst a sign i need more water in the heat?").
2. That model is fitted on all tuning questions and its weights converted to the raw feature scale.
3. The threshold maximises Youden's J (in-scope answered minus out-of-scope answered) on the ROC
   curve of the fitted model's confidences, among the thresholds that answer at least
   ``MIN_ANSWER_RATE`` of the in-scope tuning questions and of the answerable ones among them (declining a
   question the articles answer is the costlier error for a reader: they get nothing; the product target
   is 0.95). The answerable ones count apart because the red-flag feature lifts red-flag and look-alike
   questions over any threshold: without it, a threshold could decline everyday questions and still answer
   95% of all in-scope ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from answer import AbstentionModel, LearnedModels, gather_evidence, is_dose_request, is_instruction
from eval.questions import LabelledQuestion, load_questions
from index import SearchIndex
from settings import AnswerSettings
from triage import Triage

# The feature sets compared, smallest first (a tie goes to the smaller one).
FEATURE_SETS: tuple[tuple[str, ...], ...] = (
    ("passage",),
    ("sentence",),
    ("passage", "sentence"),
    ("passage", "agree"),
    ("passage", "red_flag"),
    ("passage", "sentence", "agree"),
    ("passage", "sentence", "red_flag"),
    ("passage", "sentence", "agree", "red_flag"),
)
CV_FOLDS = 5
CV_REPEATS = 10
# The least share of in-scope tuning questions a threshold must answer to be chosen.
MIN_ANSWER_RATE = 0.95
# scikit-learn's default inverse regularisation strength; features are standardised first.
REGULARISATION_C = 1.0


@dataclass(frozen=True)
class FeatureSetScore:
    features: tuple[str, ...]
    cv_auc: float
    cv_youden_j: float
    cv_answered_in_scope: float
    cv_declined_out_of_scope: float


@dataclass(frozen=True)
class ThresholdRow:
    threshold: float
    answered_in_scope: float
    declined_out_of_scope: float
    answered_answerable: float

    @property
    def youden_j(self) -> float:
        return self.answered_in_scope - (1 - self.declined_out_of_scope)


@dataclass(frozen=True)
class Calibration:
    model: AbstentionModel
    auc: float
    answer_rate_in_scope: float
    decline_rate_out_of_scope: float
    questions: int
    feature_sets: tuple[FeatureSetScore, ...]
    roc: tuple[ThresholdRow, ...]

    @property
    def threshold(self) -> float:
        return self.model.threshold

    def table(self) -> list[str]:
        """The tables the choice was made from, as printed by ``healthqa calibrate``."""
        lines = [
            f"feature set (out of fold, {CV_REPEATS} x {CV_FOLDS}-fold)      ROC AUC  Youden J  answered  declined"
        ]
        for row in self.feature_sets:
            mark = "*" if row.features == self.model.features else " "
            lines.append(
                f"{mark} {' + '.join(row.features):<38} {row.cv_auc:8.3f} {row.cv_youden_j:9.3f} "
                f"{row.cv_answered_in_scope:9.3f} {row.cv_declined_out_of_scope:9.3f}"
            )
        lines += [
            "",
            "threshold  answered in scope  answered, answerable  declined out of scope  Youden J"
            f"   (eligible: both answered >= {MIN_ANSWER_RATE})",
        ]
        for point in self.roc:
            mark = "*" if point.threshold == self.model.threshold else " "
            lines.append(
                f"{mark} {point.threshold:.4f} {point.answered_in_scope:18.3f} {point.answered_answerable:21.3f} "
                f"{point.declined_out_of_scope:22.3f} {point.youden_j:9.3f}"
            )
        return lines


def scored_questions(questions: list[LabelledQuestion]) -> list[LabelledQuestion]:
    """The questions abstention is calibrated and judged on: all but those a rule declines first."""
    return [q for q in questions if not is_instruction(q.question) and not is_dose_request(q.question)]


def feature_matrix(
    questions: list[LabelledQuestion],
    index: SearchIndex,
    settings: AnswerSettings,
    features: tuple[str, ...],
    triage: Triage,
) -> np.ndarray:
    """(len(questions), len(features)) float64: each question's abstention features, from the answer pipeline's
    own stages."""
    rows = [gather_evidence(q.question, index, settings=settings, triage=triage).features() for q in questions]
    return np.array([[row[name] for name in features] for row in rows], dtype=np.float64)


def calibrate(index: SearchIndex, settings: AnswerSettings, models: LearnedModels) -> Calibration:
    """Choose the abstention model and its threshold from the tuning split alone.

    ``models`` are the ones the service runs with: their triage feeds the ``red_flag`` feature.
    """
    questions = scored_questions(load_questions(split="tune"))
    every = tuple(dict.fromkeys(name for subset in FEATURE_SETS for name in subset))
    matrix = feature_matrix(questions, index, settings, every, models.triage)
    labels = np.array([q.in_scope for q in questions])
    answerable = np.array([q.kind == "answerable" for q in questions])
    scores = [
        _out_of_fold(subset, matrix[:, [every.index(name) for name in subset]], labels, answerable)
        for subset in FEATURE_SETS
    ]
    chosen = max(scores, key=lambda s: (round(s.cv_auc, 3), round(s.cv_youden_j, 3), -len(s.features))).features
    x = matrix[:, [every.index(name) for name in chosen]]
    pipeline = _pipeline().fit(x, labels)
    scaler, regression = pipeline[0], pipeline[1]
    weights = regression.coef_[0] / scaler.scale_
    bias = float(regression.intercept_[0] - np.sum(regression.coef_[0] * scaler.mean_ / scaler.scale_))
    unthresholded = AbstentionModel(chosen, tuple(float(w) for w in weights), bias, threshold=0.0)
    confidences = np.array([unthresholded.confidence(dict(zip(chosen, row, strict=True))) for row in x])
    fpr, tpr, observed = roc_curve(labels, confidences)
    # roc_curve's thresholds are observed confidences; answer at >= threshold, so step just below it.
    thresholds = [float(np.round(t - 1e-4, 4)) if np.isfinite(t) else 1.0 for t in observed]
    answerable_rate = _answer_rates(confidences[answerable], observed)
    best = _operating_point(tpr, fpr, answerable_rate)
    model = AbstentionModel(chosen, unthresholded.weights, bias, threshold=thresholds[best])
    answered = confidences >= model.threshold
    return Calibration(
        model=model,
        auc=float(roc_auc_score(labels, confidences)),
        answer_rate_in_scope=float(answered[labels].mean()),
        decline_rate_out_of_scope=float((~answered[~labels]).mean()),
        questions=len(questions),
        feature_sets=tuple(scores),
        roc=tuple(
            ThresholdRow(t, float(tp), float(1 - fp), float(rate))
            for t, tp, fp, rate in zip(thresholds, tpr, fpr, answerable_rate, strict=True)
        ),
    )


def _out_of_fold(
    features: tuple[str, ...], x: np.ndarray, labels: np.ndarray, answerable: np.ndarray
) -> FeatureSetScore:
    """Mean AUC and operating point of out-of-fold scores over ``CV_REPEATS`` shuffles of the folds."""
    rows = []
    for seed in range(CV_REPEATS):
        folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed)
        predicted = cross_val_predict(_pipeline(), x, labels, cv=folds, method="decision_function")
        fpr, tpr, observed = roc_curve(labels, predicted)
        point = _operating_point(tpr, fpr, _answer_rates(predicted[answerable], observed))
        rows.append((float(roc_auc_score(labels, predicted)), tpr[point] - fpr[point], tpr[point], 1 - fpr[point]))
    auc, youden_j, answered, declined = (float(v) for v in np.mean(rows, axis=0))
    return FeatureSetScore(features, auc, youden_j, answered, declined)


def _answer_rates(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """For each threshold, the share of ``scores`` at or above it (answered)."""
    return (scores[None, :] >= thresholds[:, None]).mean(axis=1)


def _operating_point(tpr: np.ndarray, fpr: np.ndarray, answerable_rate: np.ndarray) -> int:
    """Index of the ROC point with the best Youden's J among those answering >= MIN_ANSWER_RATE of the in-scope
    questions and of the answerable ones (``answerable_rate``, per ROC point).

    The first of equal J is the highest threshold: it declines the most at the same answer rate.
    """
    eligible = (tpr >= MIN_ANSWER_RATE) & (answerable_rate >= MIN_ANSWER_RATE)
    return int(np.argmax(np.where(eligible, tpr - fpr, -np.inf)))


def _pipeline() -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(C=REGULARISATION_C))
