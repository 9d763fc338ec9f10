"""Two test articles about knees: one with an editor's note in its front matter, and a twin that repeats one
of its safety sentences. Used by the API test of the safety parts and the browser test of the editor's note."""

from __future__ import annotations

from pathlib import Path

NOTED_ID = "knee-care-test"
TWIN_ID = "knee-care-twin"
QUESTION = "my knees ache after squats, what should I do?"
EDITOR_NOTE = "Editors' test note: a <b>swollen</b> knee that is hot needs care the same day."
NOTE_SOURCE = "https://www.nhs.uk/conditions/septic-arthritis/"
NOTED_ARTICLE = f"""\
---
id: {NOTED_ID}
title: Knee care after exercise (test article)
reviewed: 2026-11-30
disclaimer: "This article is general information, not a diagnosis or medical advice. A hot, swollen knee with a \
fever needs same-day care. This article is general information, not a diagnosis or medical advice."
editor_note: "{EDITOR_NOTE}"
editor_note_sources:
  - {NOTE_SOURCE}
---
# Knee care after exercise (test article)

Knees that ache after squats usually settle with a few days of lighter training.
"""
TWIN_ARTICLE = f"""\
---
id: {TWIN_ID}
title: Knee care twin (test article)
disclaimer: "A hot, swollen knee with a fever needs same-day care. See a physiotherapist if the ache lasts weeks."
---
# Knee care twin (test article)

If your knees ache after squats, rest them and ice them for fifteen minutes.
"""


def write_note_articles(folder: Path) -> Path:
    """Write both articles into ``folder`` and return it."""
    (folder / f"{NOTED_ID}.md").write_text(NOTED_ARTICLE, encoding="utf-8")
    (folder / f"{TWIN_ID}.md").write_text(TWIN_ARTICLE, encoding="utf-8")
    return folder
