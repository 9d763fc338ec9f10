"""The docs state what the code does: every setting is in the configuration table, and the abstention
threshold and the backstop's settings they quote are the ones shipped in models/."""

from __future__ import annotations

import json
import re
from pathlib import Path

from settings import MODELS_DIR, Settings
from ui.config import UISettings

ROOT = Path(__file__).resolve().parents[1]
OPERATIONS = ROOT / "docs" / "operations.md"


def _documented_variables() -> set[str]:
    table = [line for line in OPERATIONS.read_text(encoding="utf-8").splitlines() if line.startswith("| `HEALTHQA_")]
    return {name for line in table for name in re.findall(r"`(HEALTHQA_[A-Z0-9_]+)`", line.split(" | ")[0])}


def test_the_configuration_table_lists_every_setting_and_no_other() -> None:
    variables = {f"HEALTHQA_{name.upper()}" for name in Settings.model_fields}
    variables |= {f"HEALTHQA_UI_{name.upper()}" for name in UISettings.model_fields}
    assert _documented_variables() == variables


def test_the_docs_quote_the_shipped_abstention_threshold() -> None:
    shipped = json.loads((MODELS_DIR / "abstention.json").read_text(encoding="utf-8"))["threshold"]
    quoted = {
        float(number)
        for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
        for number in re.findall(r"threshold[^.|]*?\b(0\.\d{4})\b", path.read_text(encoding="utf-8"), re.IGNORECASE)
    }
    assert quoted and quoted == {round(shipped, 4)}


def test_the_triage_docs_quote_the_shipped_backstop() -> None:
    shipped = json.loads((MODELS_DIR / "redflag_backstop.json").read_text(encoding="utf-8"))
    text = " ".join((ROOT / "docs" / "triage.md").read_text(encoding="utf-8").split())

    def quoted(pattern: str) -> str:
        match = re.search(pattern, text)
        assert match, f"docs/triage.md no longer says {pattern!r}"
        return match[1]

    assert float(quoted(r"warning sign at all \(fires at (0\.\d+)\)")) == shipped["threshold"]
    assert float(quoted(r"\(emergency at (0\.\d+): escalate")) == shipped["emergency_threshold"]
    assert int(quoted(r"mean cosine of the (\d+) most similar warning-sign")) == shipped["neighbours"]["k"]
    assert float(quoted(r"it fires at (0\.\d+) or more")) == shipped["neighbours"]["threshold"]
    assert int(quoted(r"SHA-256 of the ([\d,]+) training examples").replace(",", "")) == shipped["examples"]["count"]


def test_no_doc_quotes_wording_found_only_in_held_out_questions() -> None:
    """Held-out questions are never tuned on, so no doc may show their wording: a quoted fragment of two words or
    more that occurs in a held-out question and in no tuning question fails."""
    from eval.questions import load_questions

    held_out = [q.question.lower() for q in load_questions(split="heldout")]
    tuning = [q.question.lower() for q in load_questions(split="tune")]
    docs = [
        ROOT / "README.md",
        ROOT / "CHANGELOG.md",
        ROOT / "eval" / "data" / "README.md",
        *(ROOT / "docs").glob("*.md"),
    ]
    quoted = re.compile(r'"([^"\n]+)"|“([^”\n]+)”')
    leaks = []
    for path in docs:
        for match in quoted.finditer(path.read_text(encoding="utf-8")):
            fragment = (match.group(1) or match.group(2)).lower().strip(" .,?!…")
            if len(fragment.split()) < 2:
                continue
            if any(fragment in q for q in held_out) and not any(fragment in q for q in tuning):
                leaks.append(f"{path.relative_to(ROOT)}: {fragment!r}")
    assert leaks == []
