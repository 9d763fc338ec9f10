"""Evaluations of healthqa: labelled questions (eval/data/), calibration, the corpus and MedQuAD suites, the gate, and the speed benchmarks (eval/bench/)."""

from eval.questions import LabelledQuestion, load_questions

__all__ = ["LabelledQuestion", "load_questions"]
