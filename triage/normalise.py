"""The form of a user's text that the red-flag catalogue's regexes are written against."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from index import strip_invisible

_LINE_BREAKS: Final = re.compile(r"[\n\r\v\f\x85\u2028\u2029]")
_QUOTES: Final = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'", "\u00b4": "'"}
    | {"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"', "\u2013": " , ", "\u2014": " , "}
)
_REWRITES: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"(?<=\w)'(?=\w)", ""),  # can't -> cant, i'm -> im, pee'd -> peed
        (r"['\"]", " "),
        (r"\ba ?& ?e\b", " emergency department "),
        (r"\bw/o\b", " without "),
        (r"\bw/", " with "),
        (r"[/\\]", " "),
        (r"&", " and "),
        (r"(?<=\w)-(?=\w)", " "),  # pins-and-needles, self-harm, co-codamol
        (r"\s-+\s|--+", " , "),
        (r"-", " "),
        (r"\be\.?g\.?(?=\s|$)", "eg"),
        (r"\b(?:can ?not|can t|cnt|carnt|cannt|cant)\b", "cant"),
        (r"\b(?:do not|dnt|don t)\b", "dont"),
        (r"\b(does|did|is|are|was|were|have|has|had|could|would|should) not\b", r"\1nt"),
        (r"\bwill not\b", "wont"),
        (r"\bi am\b", "im"),
        (r"\b(?:no|not) can\b", "cant"),  # "i no can feel my legs"
        (r"\bu\b", "you"),
        (r"\bur\b", "your"),
        (r"\bppl\b", "people"),
        # Misspellings of words every rule leans on (seen in people's messages); the terms cover the rest.
        (r"\b(?:leggs|lgs|lges)\b", "legs"),
        (r"\b(?:bak|bck|bakc)\b", "back"),
        (r"\b(?:killin|kiling)\b", "killing"),
        (r"\b(?:swolen|swolled|swolln|swollon|sollen|swollen+)\b", "swollen"),
        (r"\b(?:painfull+|painfu|painfl)\b", "painful"),
        (r"\b(?:realy|rly|relly|reeally|reallly+)\b", "really"),
        (r"\b(?:temprature|tempreture|temperture|temperatur|tempature|tempurature)\b", "temperature"),
        (r"\b(?:nummb|numbb|nunb)\b", "numb"),
        (r"\b(?:breathe?less|breathles+|brethless)\b", "breathless"),
        (r"\b(?:stomache|stomch|stomac)\b", "stomach"),
        (r"\b(?:nausious|nauseus|nautious|nauseaus)\b", "nauseous"),
        (r"\b(?:shoulda|shoudler|sholder|shouldr)\b", "shoulder"),
        # Lay names of a body part every chest rule leans on.
        (r"\b(?:breast ?bone|sternum)\b", "chest"),
        (r"\s+", " "),
    )
)


def normalise(text: str) -> str:
    """Return ``text`` in the form the catalogue's regexes are written against.

    Lowercase and NFKC; control and zero-width characters dropped (so "nu\\u200bmb" reads "numb"); line breaks
    become clause breaks; quotes straightened and apostrophes removed inside words; hyphens and symbols such as
    emoji become spaces; common contractions and typos folded ("can not" -> "cant", "do not" -> "dont");
    whitespace collapsed.
    """
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    text = strip_invisible(_LINE_BREAKS.sub(" ; ", text))  # line breaks end a clause; see index/text.py
    text = "".join(_clean_char(char) for char in text)
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    return text.strip()


def _clean_char(char: str) -> str:
    # Emoji and other symbols, and what strip_invisible leaves of category C (tab, private use, unassigned,
    # surrogates), separate words.
    return " " if unicodedata.category(char) in _SPACE_CATEGORIES else char


_SPACE_CATEGORIES: Final = frozenset({"So", "Sk", "Cc", "Co", "Cn", "Cs"})
