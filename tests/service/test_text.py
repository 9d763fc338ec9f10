"""One definition of invisible and control characters for the API's cleaning and red-flag matching."""

from __future__ import annotations

import re

import pytest

from answer import clean_question
from index import CONTROL_CHARACTERS, FORMAT_CHARACTERS, VISIBLE_TEXT_PATTERN, strip_invisible
from triage import normalise

FORMAT = [
    "\u00ad",
    "\u061c",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u200e",
    "\u202a",
    "\u2060",
    "\u2066",
    "\ufeff",
    "\U000e0041",
]
CONTROL = ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9f", "\u2028"]


@pytest.mark.parametrize("char", FORMAT)
def test_format_characters_are_removed_inside_words_by_both_paths(char: str) -> None:
    word = f"nu{char}mb"
    assert strip_invisible(word) == "numb"
    assert clean_question(f"{word} legs", limit=100) == "numb legs"
    assert normalise(f"{word} legs") == "numb legs"


@pytest.mark.parametrize("char", CONTROL)
def test_control_characters_separate_words_in_the_api(char: str) -> None:
    assert strip_invisible(f"back{char}pain") == "back pain"
    assert clean_question(f"back{char}pain", limit=100) == "back pain"


def test_tab_and_line_feed_are_kept_as_white_space() -> None:
    assert strip_invisible("back\tpain\nnow") == "back\tpain\nnow"


@pytest.mark.parametrize("char", FORMAT + CONTROL + [" ", "\t", "\n"])
def test_a_question_of_only_invisible_characters_is_not_visible_text(char: str) -> None:
    assert re.search(VISIBLE_TEXT_PATTERN, char * 3) is None
    assert re.search(VISIBLE_TEXT_PATTERN, f"{char}a") is not None


def test_the_two_classes_do_not_overlap() -> None:
    control, fmt = re.compile(f"[{CONTROL_CHARACTERS}]"), re.compile(f"[{FORMAT_CHARACTERS}]")
    assert not any(control.match(chr(code)) and fmt.match(chr(code)) for code in range(0x3000))
