"""Evaluations of healthqa: labelled questions (eval/data/), calibration, and (next) the retrieval suites."""

from eval.questions import LabelledQuestion, load_questions

__all__ = ["LabelledQuestion", "load_questions"]
