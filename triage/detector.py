"""Red-flag triage: spot warning signs in a user's question before retrieval.

The rules live in a versioned YAML catalogue (``redflags.yaml`` beside this module). Each rule is a set of
regexes over normalised text. A regex match counts only where the user affirms it about themselves (or
someone with them, right now): a match inside a negation ("no fever", "my legs are fine"), a mention of
someone else ("my mum had cancer"), an information request ("what is cauda equina") or, unless the rule
allows history, a long-past event ("years ago") does not count. Everything else counts, hedges included
("kind of numb", "i think i peed myself"): when unsure, escalate.

Pure regex and string work, compiled once by `load_catalogue`; a typical question takes well under 1 ms.

### Usage example
    >>> catalogue = load_catalogue()
    >>> [flag.rule for flag in detect_red_flags("cant feel my bum when i wipe", catalogue)]
    ['cauda-equina-saddle-numbness']
    >>> detect_red_flags("no numbness anywhere, just stiff", catalogue)
    []
"""

from __future__ import annotations

import re

from triage.catalogue import LEVELS, RedFlag, RedFlagCatalogue, RedFlagRule
from triage.normalise import normalise
from triage.scopes import Scopes, find_scopes


def detect_red_flags(question: str, catalogue: RedFlagCatalogue) -> list[RedFlag]:
    """Find the red flags a user's question raises about themselves or someone with them.

    Args:
        question: The user's question, as typed (any length, any characters).
        catalogue: Rules from `load_catalogue`.

    Returns:
        One flag per rule that fires: emergency flags first, then urgent, each level in catalogue order.
        Empty when nothing fires.
    """
    text = normalise(question)
    if not text:
        return []
    scopes = find_scopes(text)
    flags = [
        RedFlag(level=rule.level, rule=rule.id, message=rule.message, source=rule.source)
        for rule in catalogue.rules
        if any(all(_affirmed(regex, text, scopes, rule) for regex in pattern) for pattern in rule.patterns)
        and not any(_affirmed(regex, text, scopes, rule) for regex in rule.unless)
    ]
    flags.sort(key=lambda flag: LEVELS.index(flag.level))  # stable, so catalogue order holds within a level
    return flags


def _affirmed(regex: re.Pattern[str], text: str, scopes: Scopes, rule: RedFlagRule) -> bool:
    # Overlapping matches are tried too: a negated first match ("no numbness ...") must not hide a later one.
    position = 0
    while (match := regex.search(text, position)) is not None:
        if not scopes.block(match.start(), match.end(), rule):
            return True
        position = match.start() + 1
    return False
