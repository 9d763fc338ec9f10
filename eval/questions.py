"""The labelled questions of ``eval/data/questions.jsonl``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from eval.splits import Split, rule_splits
from settings import QUESTIONS_FILE as QUESTIONS_FILE  # one place for the path; re-exported for the evaluations

Kind = Literal["answerable", "out_of_scope", "red_flag", "benign"]
# The batches of questions.jsonl (eval/data/README.md), by id: each was written before the detector saw it.
BATCHES: tuple[tuple[str, int, int], ...] = (
    ("q001-q198", 1, 198),
    ("q199-q307", 199, 307),
    ("q308-q403", 308, 403),
    ("q404-q501", 404, 501),
    ("q502-q593", 502, 593),
    ("q594-q676", 594, 676),
    ("q677-q758", 677, 758),
    ("q759-q841", 759, 841),
    ("q842-q924", 842, 924),
    ("q925-q1007", 925, 1007),
    ("q1008-q1101", 1008, 1101),
    ("q1102-q1185", 1102, 1185),
    ("q1186-q1268", 1186, 1268),
    ("q1269-q1348", 1269, 1348),
    ("q1349-q1430", 1349, 1430),
    ("q1431-q1513", 1431, 1513),
    ("q1514-q1597", 1514, 1597),
    ("q1598-q1762", 1598, 1762),
    ("q1763-q1927", 1763, 1927),
)


def append_questions(new: list[dict[str, Any]], path: Path = QUESTIONS_FILE) -> list[dict[str, Any]]:
    """Append labelled lines to ``path`` as written, numbered after its last ``qNNN`` and split by the rule.

    Any ``id`` or ``split`` the lines carry (a feedback export's ``fb…`` id and hash split) is replaced: the
    file's own rule decides, so the held-out half stays stratified by kind in id order.

    Returns:
        The appended lines, with their ids and splits.

    Raises:
        ValueError: a line is not fully labelled; nothing is written.
    """
    existing = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    last = max(int(r["id"][1:]) for r in existing)
    width = max(3, len(str(last + len(new))))
    kinds = [r["kind"] for r in existing] + [r.get("kind") for r in new]
    splits = rule_splits(kinds)[len(existing) :]
    feedback = [str(r["id"]) for r in new if str(r.get("id", "")).startswith("fb")]
    if feedback:
        raise ValueError(
            f"{feedback[0]} is exported feedback: keep it in a file of its own (eval/data/feedback.jsonl), with the "
            "split it was exported with, and evaluate it with 'healthqa eval --questions'"
        )
    added = []
    for offset, (record, split) in enumerate(zip(new, splits, strict=True), start=1):
        line = {"id": f"q{last + offset:0{width}d}", **{k: v for k, v in record.items() if k not in ("id", "split")}}
        line["split"] = split
        problem = _unlabelled(line)
        if problem:
            raise ValueError(f"line {offset} of the new questions: {problem}")
        added.append(line)
    with path.open("a", encoding="utf-8") as out:
        out.writelines(json.dumps(line, ensure_ascii=False) + "\n" for line in added)
    return added


def batch_of(question_id: str) -> int | None:
    """The index into ``BATCHES`` of a ``qNNN`` id, or None for an id outside them (feedback ``fb...`` ids)."""
    number = question_id[1:]
    if not (question_id.startswith("q") and number.isdigit()):
        return None
    return next((i for i, (_, lo, hi) in enumerate(BATCHES) if lo <= int(number) <= hi), None)


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
    """Labelled questions, optionally one split only (tuning must pass ``split="tune"``).

    Raises:
        ValueError: a line is not JSON or not fully labelled (e.g. a feedback export whose ``kind`` is
            still null), naming the file and line.
        FileNotFoundError: there is no such file.
    """
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} line {number}: not valid JSON ({exc.msg})") from exc
        problem = _unlabelled(r)
        if problem:
            raise ValueError(f"{path} line {number}: {problem}")
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


def _unlabelled(record: Any) -> str | None:
    """What keeps a line from being a labelled question, or None."""
    if not isinstance(record, dict):
        return "not a JSON object"
    missing = [name for name in ("id", "question", "relevant", "answer_sentences") if name not in record]
    if missing:
        return f"missing {', '.join(missing)}"
    if record.get("kind") not in get_args(Kind):
        return f"kind is {record.get('kind')!r}: label it {', '.join(get_args(Kind))}"
    if record.get("split") not in get_args(Split):
        return f"split is {record.get('split')!r}, not tune or heldout"
    if record.get("red_flag_level") not in (None, "emergency", "urgent"):
        return f"red_flag_level is {record['red_flag_level']!r}, not emergency, urgent or null"
    if (record["kind"] == "red_flag") != (record.get("red_flag_level") is not None):
        return "red_flag_level is set on red_flag questions, and only on them"
    return None
