"""Held-out wording stays out of tests: a phrase that nearly copies a held-out question would make that
question a test of remembered wording instead of new wording."""

from __future__ import annotations

from collections.abc import Iterable
from difflib import SequenceMatcher

from eval.questions import load_questions
from triage import normalise


def near_copies_of_held_out(phrases: Iterable[str]) -> list[tuple[str, str]]:
    """``(phrase, held-out question)`` pairs that share most of their words (Jaccard >= 0.6) or most of
    their characters (difflib ratio >= 0.8), both normalised as the red-flag detector reads text."""
    held_out = [normalise(q.question) for q in load_questions(split="heldout")]
    mine = [(phrase, normalise(phrase)) for phrase in phrases]
    near = []
    for question in held_out:
        theirs = set(question.split())
        similar = SequenceMatcher(None, autojunk=False)
        similar.set_seq2(question)  # indexed once per question, compared with every phrase
        for phrase, text in mine:
            words = set(text.split())
            overlap = len(words & theirs) / max(1, len(words | theirs))
            # real_quick_ratio's bound from the lengths alone, before any matching work
            lengths = len(text) + len(question)
            close_in_length = lengths == 0 or 2 * min(len(text), len(question)) / lengths >= 0.8
            if overlap < 0.6 and not close_in_length:
                continue
            similar.set_seq1(text)
            if overlap >= 0.6 or (similar.quick_ratio() >= 0.8 and similar.ratio() >= 0.8):
                near.append((phrase, question))
    return near
