"""Held-out wording stays out of tests: a phrase that nearly copies a held-out question would make that
question a test of remembered wording instead of new wording."""

from __future__ import annotations

import re
from collections.abc import Iterable
from difflib import SequenceMatcher
from re import _parser as regex_parser  # the regex module's own parser: what a pattern matches literally
from typing import Any

import Stemmer

from eval.questions import load_questions
from triage import RedFlagCatalogue, normalise


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


_STEMMER = Stemmer.Stemmer("english")  # the Snowball stemmer BM25 uses: "dribbled" and "dribbles" are one word


def _stems(text: str) -> set[str]:
    """Stems of the words of four letters or more."""
    return set(_STEMMER.stemWords(re.findall(r"[a-z]{4,}", text.lower())))


def _literal_runs(pattern: str) -> list[str]:
    """The runs of literal characters in a regex, each branch of an alternation on its own: the words a
    pattern can only match as written."""
    runs: list[str] = []

    def walk(items: Any) -> None:
        run: list[str] = []
        for op, argument in items:
            if op is regex_parser.LITERAL:
                run.append(chr(argument))
                continue
            if op is regex_parser.AT:  # \b, ^ and $ match no character
                continue
            if run:
                runs.append("".join(run))
                run = []
            if op is regex_parser.BRANCH:
                for branch in argument[1]:
                    walk(branch)
            elif op is regex_parser.SUBPATTERN:
                walk(argument[-1])
            elif op in (regex_parser.MAX_REPEAT, regex_parser.MIN_REPEAT):
                walk(argument[2])
        if run:
            runs.append("".join(run))

    walk(regex_parser.parse(pattern))
    return runs


def _held_out_only_stems(known: str) -> list[set[str]]:
    """Per held-out question, the stems of its words that occur nowhere in ``known``."""
    seen = _stems(known)
    return [_stems(normalise(q.question)) - seen for q in load_questions(split="heldout")]


def held_out_words_in_patterns(
    catalogue: RedFlagCatalogue, *, known: str, least: int = 2
) -> list[tuple[str, list[str]]]:
    """``(rule id, words)`` where one rule's patterns hold ``least`` or more words of one held-out question that
    occur nowhere in ``known`` (the tuning questions, the catalogue's phrases and the articles): a pattern that
    could only have been written from that question's wording."""
    held_out_only = _held_out_only_stems(known)
    found = []
    for rule in catalogue.rules:
        parts = [part for pattern in rule.patterns for part in pattern] + list(rule.unless or ())
        words = set().union(*(_stems(run) for part in parts for run in _literal_runs(part.pattern)))
        for rare in held_out_only:
            shared = sorted(words & rare)
            if len(shared) >= least:
                found.append((rule.id, shared))
    return found


def held_out_paraphrases(phrases: Iterable[str], *, known: str, least: int = 3) -> list[tuple[str, list[str]]]:
    """``(phrase, words)`` where a phrase shares ``least`` or more of one held-out question's rarest words (those
    nowhere in ``known``): a paraphrase of it, however reworded around them."""
    held_out_only = _held_out_only_stems(known)
    found = []
    for phrase in phrases:
        words = _stems(normalise(phrase))
        for rare in held_out_only:
            shared = sorted(words & rare)
            if len(shared) >= least:
                found.append((phrase, shared))
    return found
