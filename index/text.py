"""What counts as an invisible or control character in a user's text: one definition for the API and red flags.

`answer.clean_question` (every question and search query), the request schemas (a question must hold a
visible character) and `triage.normalise` (the text the catalogue's patterns read) all use it, so
a character the API keeps is a character red-flag matching sees, and one it drops is dropped for both.

Usage example::

    >>> strip_invisible("nu\\u200bmb\\x00legs")
    'numb legs'
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["CONTROL_CHARACTERS", "FORMAT_CHARACTERS", "INVISIBLE_CHARACTERS", "VISIBLE_TEXT_PATTERN", "strip_invisible"]

# Control characters (Unicode category Cc) other than tab and line feed, plus the line and paragraph separators:
# they may stand between words, so each becomes a space.
CONTROL_CHARACTERS: Final = r"\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029"
# Invisible format characters (category Cf): zero-width spaces and joiners, bidi controls, word joiners, BOM,
# soft hyphen, interlinear annotation marks, tag characters. They sit inside words ("nu\u200bmb"), so each is
# removed.
FORMAT_CHARACTERS: Final = (
    r"\xad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000e0000-\U000e007f"
)
# Both, as the body of a regex character class.
INVISIBLE_CHARACTERS: Final = CONTROL_CHARACTERS + FORMAT_CHARACTERS
# A question must hold at least one character that is neither white space nor invisible (a Python and
# JSON-Schema compatible pattern: pydantic checks it and the OpenAPI schema publishes it).
VISIBLE_TEXT_PATTERN: Final = rf"[^\s{INVISIBLE_CHARACTERS}]"

_CONTROL: Final = re.compile(f"[{CONTROL_CHARACTERS}]")
_FORMAT: Final = re.compile(f"[{FORMAT_CHARACTERS}]")


def strip_invisible(text: str) -> str:
    """Return ``text`` with control characters turned into spaces and invisible format characters removed."""
    return _CONTROL.sub(" ", _FORMAT.sub("", text))
