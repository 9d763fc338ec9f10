"""The labelled questions of ``eval/data/questions.jsonl``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

QUESTIONS_FILE = Path(__file__).resolve().parent / "data" / "questions.jsonl"
Kind = Literal["answerable", "out_of_scope", "red_flag", "benign"]
Split = Literal["tune", "heldout"]


@dataclass(frozen=True)
class LabelledQuestion:
    id: str
    question: str
    kind: Kind
    relevant: tuple[str, ...]
    answer_sentences: tuple[str, ...]
    red_flag_level: Literal["emergency", "urgent"] | None
    split: Split
    note: str = ""

    @property
    def in_scope(self) -> bool:
        """The articles cover it: it must be answered, not declined."""
        return self.kind != "out_of_scope"


def load_questions(path: Path = QUESTIONS_FILE, *, split: Split | None = None) -> list[LabelledQuestion]:
    """Labelled questions, optionally one split only (tuning must pass ``split="tune"``)."""
    questions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        questions.append(
            LabelledQuestion(
                id=r["id"],
                question=r["question"],
                kind=r["kind"],
                relevant=tuple(r["relevant"]),
                answer_sentences=tuple(r["answer_sentences"]),
                red_flag_level=r["red_flag_level"],
                split=r["split"],
                note=r.get("note", ""),
            )
        )
    return [q for q in questions if split is None or q.split == split]
