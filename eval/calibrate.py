"""Calibrate the abstention threshold on the tuning questions (never the held-out ones).

The service abstains when no sentence of the retrieved passages reaches
``abstain_threshold`` cosine similarity to the question. In-scope questions
(answerable, red-flag, benign) should clear it; out-of-scope ones should not.
The threshold chosen maximises Youden's J (true-answer rate minus false-answer
rate) on the ROC curve, computed with scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from eval.questions import LabelledQuestion, load_questions
from index import SearchIndex
from service.qa import QASettings, answer_question
from service.redflags import RedFlagCatalogue


@dataclass(frozen=True)
class Calibration:
    threshold: float
    auc: float
    answer_rate_in_scope: float
    decline_rate_out_of_scope: float
    questions: int


def confidences(
    questions: list[LabelledQuestion], index: SearchIndex, catalogue: RedFlagCatalogue, settings: QASettings
) -> np.ndarray:
    """The abstention score of each question, with abstention switched off."""
    never_abstain = replace(settings, abstain_threshold=-1.0)
    return np.array(
        [answer_question(q.question, index, settings=never_abstain, catalogue=catalogue).confidence for q in questions]
    )


def calibrate(index: SearchIndex, catalogue: RedFlagCatalogue, settings: QASettings) -> Calibration:
    """Pick the threshold from the tuning split alone."""
    questions = load_questions(split="tune")
    scores = confidences(questions, index, catalogue, settings)
    labels = np.array([q.in_scope for q in questions])
    fpr, tpr, thresholds = roc_curve(labels, scores)
    best = int(np.argmax(tpr - fpr))
    # roc_curve's thresholds are observed scores; answer at >= threshold, so step just below it.
    threshold = float(np.round(thresholds[best] - 1e-4, 4))
    answered = scores >= threshold
    return Calibration(
        threshold=threshold,
        auc=float(roc_auc_score(labels, scores)),
        answer_rate_in_scope=float(answered[labels].mean()),
        decline_rate_out_of_scope=float((~answered[~labels]).mean()),
        questions=len(questions),
    )
