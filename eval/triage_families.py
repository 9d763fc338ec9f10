"""Triage per warning-sign family: does a banner name the condition the message describes?

``python -m eval.triage_families`` prints, per split, one row per family of ``eval/data/red-flag-families.jsonl``
(the blind family labels of the ``red_flag`` questions; ``eval/data/README.md``), counting what the detector
raised for those questions:

- **right family**: a flag at the highest level raised names the labelled family (or the second one, ``also``),
  split into at level (an emergency needs an emergency flag) and below it;
- **wrong family**: every flag at that level names another family: the banner sends the person to the wrong
  condition;
- **unnamed**: only the learned backstop fired, and it names no family;
- **none**: nothing fired.

A second table counts the banners on the benign look-alikes by the family they name: each is a false alarm,
and one naming a condition the message does not describe is the worst kind.

By default a question no rule flags goes on to the learned backstop, as in ``/v1/ask``; ``--rules-only``
leaves it out. It reads held-out questions to report them; nothing here chooses a setting.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from eval.answers import LEVEL_ORDER
from eval.questions import QUESTIONS_FILE, LabelledQuestion, load_questions
from eval.triage_batches import FlagDetector, shipped_detector
from triage import RedFlag, RedFlagCatalogue, load_catalogue

FAMILIES_FILE = QUESTIONS_FILE.with_name("red-flag-families.jsonl")
# The families the labeller chose from (eval/data/README.md); the catalogue's families are among them.
LABEL_FAMILIES = (
    "cauda-equina",
    "spinal-cord-neck",
    "nerve-root-arm",
    "leg-weakness-progressive",
    "spinal-cancer",
    "serious-back-cause",
    "spinal-infection",
    "fracture",
    "major-trauma",
    "heart-attack",
    "aortic-aneurysm",
    "meningitis",
    "sudden-headache",
    "stroke",
    "rhabdomyolysis",
    "compartment-syndrome",
    "blood-clot",
    "septic-joint",
    "overdose-poisoning",
    "suicide-self-harm",
    "sepsis",
    "head-injury",
    "heat-illness",
    "breathing-or-collapse",
    "severe-bleeding",
    "tendon-rupture",
    "kidney-stone-or-kidney-infection",
    "pregnancy",
    "child-warning-signs",
    "other",
)
OUTCOMES = ("right family at level", "right family below level", "wrong family", "unnamed", "none")


@dataclass(frozen=True)
class FamilyLabel:
    family: str
    also: str | None = None

    @property
    def families(self) -> frozenset[str]:
        return frozenset(f for f in (self.family, self.also) if f)


def load_family_labels(path: Path = FAMILIES_FILE) -> dict[str, FamilyLabel]:
    """The family labels by question id.

    Raises:
        ValueError: a line is not a label of a known family, or an id is labelled twice; names the line.
    """
    labels: dict[str, FamilyLabel] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            question_id, family, also = record["id"], record["family"], record.get("also")
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path} line {number}: not a family label ({exc!r})") from exc
        for value in (family, also):
            if value is not None and value not in LABEL_FAMILIES:
                raise ValueError(f"{path} line {number}: {value!r} is not one of the labelling families")
        if question_id in labels:
            raise ValueError(f"{path} line {number}: {question_id} is labelled twice")
        labels[question_id] = FamilyLabel(family, also)
    return labels


def outcome(flags: Sequence[RedFlag], label: FamilyLabel, level: str, families_of: Mapping[str, Sequence[str]]) -> str:
    """Which of ``OUTCOMES`` the flags raised for a question of ``label``'s family at ``level`` are."""
    if not flags:
        return "none"
    top = max(LEVEL_ORDER[flag.level] for flag in flags)
    named = {f for flag in flags if LEVEL_ORDER[flag.level] == top for f in families_of.get(flag.rule, ())}
    if not named:
        return "unnamed"
    if not named & label.families:
        return "wrong family"
    return "right family at level" if top >= LEVEL_ORDER[level] else "right family below level"


def family_rows(
    questions: Sequence[LabelledQuestion],
    labels: Mapping[str, FamilyLabel],
    detect: FlagDetector,
    catalogue: RedFlagCatalogue,
) -> list[str]:
    """The two markdown tables: outcomes per split and family, then look-alike banners per split and family."""
    families_of = {rule.id: rule.families for rule in catalogue.rules}
    rows = ["| split | family | questions | " + " | ".join(OUTCOMES) + " |", "| --- | --- | ---: |" + " ---: |" * 5]
    alarms = [
        "",
        "| split | benign look-alikes | with a banner | banners by the family named |",
        "| --- | ---: | ---: | --- |",
    ]
    for split in ("tune", "heldout"):
        counts: dict[str, Counter[str]] = {}
        named: Counter[str] = Counter()
        benign = flagged = 0
        for q in (q for q in questions if q.split == split):
            flags = detect(q.question)
            if q.kind == "red_flag" and q.red_flag_level:
                label = labels[q.id]
                counts.setdefault(label.family, Counter())[outcome(flags, label, q.red_flag_level, families_of)] += 1
            elif q.kind == "benign":
                benign += 1
                flagged += bool(flags)
                named.update({family for flag in flags for family in families_of.get(flag.rule, ("unnamed",))})
        total: Counter[str] = Counter()
        for family in sorted(counts, key=lambda f: (-counts[f].total(), f)):
            total.update(counts[family])
            rows.append(_row(split, family, counts[family]))
        rows.append(_row(split, "**all**", total))
        by_family = ", ".join(f"{family} {n}" for family, n in named.most_common()) or "-"
        alarms.append(f"| {split} | {benign} | {flagged} | {by_family} |")
    return rows + alarms


def _row(split: str, family: str, counts: Counter[str]) -> str:
    n = counts.total()
    return f"| {split} | {family} | {n} | " + " | ".join(f"{counts[o]} ({counts[o] / n:.0%})" for o in OUTCOMES) + " |"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=Path, default=QUESTIONS_FILE, help="labelled questions (JSONL)")
    parser.add_argument("--families", type=Path, default=FAMILIES_FILE, help="family labels (JSONL)")
    parser.add_argument("--rules-only", action="store_true", help="leave the learned backstop out")
    args = parser.parse_args(argv)
    questions = load_questions(args.questions)
    labels = load_family_labels(args.families)
    unlabelled = [q.id for q in questions if q.kind == "red_flag" and q.id not in labels]
    if unlabelled:
        raise SystemExit(f"{args.families} has no family for {len(unlabelled)} red-flag questions: {unlabelled[:5]}")
    catalogue = load_catalogue()
    detect = shipped_detector([q.question for q in questions], backstop=not args.rules_only)
    sys.stdout.write("\n".join(family_rows(questions, labels, detect, catalogue)) + "\n")


if __name__ == "__main__":
    main()
