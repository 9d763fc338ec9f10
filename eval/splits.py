"""The split rules of the labelled question files: which questions are held out, fixed by rule, never by hand.

- ``eval/data/questions.jsonl`` (written batches): within each kind, every third question in id order is
  held out, so the held-out half is stratified by kind and a new batch continues each kind's count.
- Exported feedback (its own file, e.g. ``eval/data/feedback.jsonl``): a question is held out when a hash of
  its text says so (one in three), so the split does not depend on the order or the day lines were exported.
- MEDIQA's consumer questions (``../shared``): held out when the SHA-256 of the question's id, read as an
  integer, is divisible by 3 (declared before any tuning).
"""

from __future__ import annotations

import hashlib
from typing import Literal

Split = Literal["tune", "heldout"]
HELD_OUT_EVERY = 3  # one question in three is held out, under both rules


def split_by_rule(position_in_kind: int) -> Split:
    """The question file's split for the ``position_in_kind``-th question (from 1) of its kind in id order."""
    return "heldout" if position_in_kind % HELD_OUT_EVERY == 0 else "tune"


def rule_splits(kinds: list[str]) -> list[Split]:
    """The split of each question of a file whose kinds in id order are ``kinds``."""
    seen: dict[str, int] = {}
    splits = []
    for kind in kinds:
        seen[kind] = seen.get(kind, 0) + 1
        splits.append(split_by_rule(seen[kind]))
    return splits


def mediqa_split(question_id: str) -> Split:
    """A MEDIQA consumer question's split, fixed by its id."""
    digest = int(hashlib.sha256(question_id.encode("utf-8")).hexdigest(), 16)
    return "heldout" if digest % HELD_OUT_EVERY == 0 else "tune"


def feedback_split(question: str) -> Split:
    """An exported feedback question's split, fixed by a hash of its text (case and spacing ignored)."""
    digest = hashlib.sha256(" ".join(question.lower().split()).encode("utf-8")).digest()
    return "heldout" if int.from_bytes(digest[:8], "big") % HELD_OUT_EVERY == 0 else "tune"
