"""`eval.triage_families`: the blind family labels, and what a banner naming a family counts as."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from eval.questions import LabelledQuestion, load_questions
from eval.triage_families import (
    FAMILIES_FILE,
    LABEL_FAMILIES,
    FamilyLabel,
    family_rows,
    load_family_labels,
    outcome,
)
from triage import RedFlag, load_catalogue

FAMILIES_OF = {
    "saddle": ("cauda-equina",),
    "chest": ("heart-attack", "aortic-aneurysm"),
    "fever": ("spinal-infection",),
}


def flag(rule: str, level: str = "emergency") -> RedFlag:
    return RedFlag(level=level, rule=rule, message="m", source="https://www.nhs.uk/")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("flags", "label", "level", "expected"),
    [
        ([], FamilyLabel("cauda-equina"), "emergency", "none"),
        ([flag("saddle")], FamilyLabel("cauda-equina"), "emergency", "right family at level"),
        ([flag("saddle", "urgent")], FamilyLabel("cauda-equina"), "emergency", "right family below level"),
        ([flag("saddle")], FamilyLabel("cauda-equina"), "urgent", "right family at level"),  # over-triage is at level
        ([flag("chest")], FamilyLabel("aortic-aneurysm"), "emergency", "right family at level"),  # a rule of two
        ([flag("chest")], FamilyLabel("spinal-cancer", also="heart-attack"), "emergency", "right family at level"),
        ([flag("chest")], FamilyLabel("cauda-equina"), "emergency", "wrong family"),
        # Only the highest level's flags name the banner: a right urgent flag under a wrong emergency one is wrong.
        ([flag("chest"), flag("saddle", "urgent")], FamilyLabel("cauda-equina"), "urgent", "wrong family"),
        ([flag("possible-emergency-sign")], FamilyLabel("cauda-equina"), "emergency", "unnamed"),
    ],
)
def test_a_banner_counts_by_the_family_it_names_at_its_highest_level(
    flags: list[RedFlag], label: FamilyLabel, level: str, expected: str
) -> None:
    assert outcome(flags, label, level, FAMILIES_OF) == expected


def test_every_red_flag_question_has_one_family_label_and_nothing_else_has_one() -> None:
    labels = load_family_labels()
    red = {q.id for q in load_questions() if q.kind == "red_flag"}
    assert set(labels) == red
    assert all(label.family != "other" for label in labels.values()), "an 'other' label needs a family of its own"


def test_the_catalogues_families_are_among_the_labelling_families() -> None:
    catalogue = load_catalogue()
    assert set(catalogue.families) <= set(LABEL_FAMILIES)
    assert {family for rule in catalogue.rules for family in rule.families} == set(catalogue.families)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "q1", "family": "knees"}', "'knees' is not one of the labelling families"),
        ('{"id": "q1", "family": "fracture", "also": "elbows"}', "'elbows' is not one of the labelling families"),
        ('{"id": "q1"}', "not a family label"),
        ('{"id": "q1", "family": "fracture"}\n{"id": "q1", "family": "fracture"}', "q1 is labelled twice"),
    ],
)
def test_a_bad_label_line_is_named(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "families.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_family_labels(path)


def test_the_tables_count_outcomes_per_split_and_family_and_look_alike_banners() -> None:
    def question(qid: str, text: str, kind: str, level: str | None, split: str) -> LabelledQuestion:
        return LabelledQuestion(qid, text, kind, (), (), level, split)  # type: ignore[arg-type]

    questions = [
        question("q1", "numb bum", "red_flag", "emergency", "tune"),
        question("q2", "chest tight", "red_flag", "emergency", "tune"),
        question("q3", "hot back", "red_flag", "urgent", "heldout"),
        question("q4", "no numbness at all", "benign", None, "heldout"),
    ]
    labels = {
        "q1": FamilyLabel("cauda-equina"),
        "q2": FamilyLabel("cauda-equina"),
        "q3": FamilyLabel("spinal-infection"),
    }
    raised = {"numb bum": [flag("saddle")], "chest tight": [flag("chest")], "no numbness at all": [flag("saddle")]}
    catalogue = load_catalogue()
    catalogue = type(catalogue)(
        version=1,
        families={"cauda-equina": "x", "heart-attack": "y", "aortic-aneurysm": "z"},
        rules=tuple(
            replace(rule, id=rule_id, families=families)
            for rule, (rule_id, families) in zip(catalogue.rules[:3], FAMILIES_OF.items(), strict=True)
        ),
    )
    rows = family_rows(questions, labels, lambda text: raised.get(text, []), catalogue)
    assert "| tune | cauda-equina | 2 | 1 (50%) | 0 (0%) | 1 (50%) | 0 (0%) | 0 (0%) |" in rows
    assert "| heldout | spinal-infection | 1 | 0 (0%) | 0 (0%) | 0 (0%) | 0 (0%) | 1 (100%) |" in rows
    assert "| heldout | 1 | 1 | cauda-equina 1 |" in rows
    assert "| tune | 0 | 0 | - |" in rows


def test_the_shipped_labels_file_is_one_json_object_per_line() -> None:
    lines = FAMILIES_FILE.read_text(encoding="utf-8").splitlines()
    assert all(set(json.loads(line)) <= {"id", "family", "also"} for line in lines)
