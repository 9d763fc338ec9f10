"""The corpus suite: the labelled questions over the shipped articles, per split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from answer import LearnedModels
from eval.answers import evaluate_answers
from eval.metrics import recall_curve, retrieval_metrics
from eval.questions import QUESTIONS_FILE, load_questions
from eval.retrieval import run_queries
from eval.splits import Split
from index import SEARCH_MODES, SearchIndex
from settings import AnswerSettings

# Questions whose relevant articles are a short, specific list; red-flag questions list every
# article with a "when to get help" section and are scored by the red-flag checks instead.
RETRIEVAL_KINDS = ("answerable", "benign")


def run_corpus_suite(
    index: SearchIndex,
    models: LearnedModels,
    qa: AnswerSettings,
    *,
    split: Split,
    questions_file: Path = QUESTIONS_FILE,
) -> dict[str, Any]:
    """Retrieval per mode, answers, abstention, red flags and citation integrity on one split."""
    questions = load_questions(questions_file, split=split)
    retrievable = [q for q in questions if q.kind in RETRIEVAL_KINDS and q.relevant]
    qrels = {q.id: dict.fromkeys(q.relevant, 1) for q in retrievable}
    texts = {q.id: q.question for q in retrievable}
    retrieval: dict[str, dict[str, float]] = {}
    curves: dict[str, list[float]] = {}
    for mode in SEARCH_MODES:
        run = run_queries(index, texts, mode=mode)
        retrieval[mode] = retrieval_metrics(qrels, run)
        curves[mode] = recall_curve(qrels, run)
    answers = evaluate_answers(index, models, qa, split=split, questions=questions)
    return {
        "questions": len(questions),
        "retrieval_questions": len(retrievable),
        "retrieval": retrieval,
        "recall_curves": curves,
        "answers": answers.rates(),
        "answer_counts": {
            name: str(getattr(answers, name))
            for name in (
                "first_citation_right",
                "expected_sentence_cited",
                "answered_in_scope",
                "declined_out_of_scope",
                "citation_integrity_answered",
            )
        },
        "red_flag_counts": answers.red_flag_counts(),
        "confidences": answers.confidences,
        "abstain_threshold": models.abstention.threshold if qa.abstain_threshold is None else qa.abstain_threshold,
        "failures": answers.failures,
    }
