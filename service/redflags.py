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
import unicodedata
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, Literal, cast

import yaml

from service.text import strip_invisible

__all__ = [
    "DEFAULT_CATALOGUE_PATH",
    "RedFlag",
    "RedFlagCatalogue",
    "RedFlagCatalogueError",
    "RedFlagRule",
    "detect_red_flags",
    "load_catalogue",
    "normalise",
]

Level = Literal["emergency", "urgent"]
LEVELS: Final[tuple[Level, ...]] = ("emergency", "urgent")  # most serious first
DEFAULT_CATALOGUE_PATH: Final = Path(__file__).with_name("redflags.yaml")
MIN_TEST_PHRASES: Final = 4
# libyaml's safe loader when PyYAML has it (7x faster on this catalogue, which is read at every start).
_YAML_LOADER: Final = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class RedFlagCatalogueError(ValueError):
    """The red-flag catalogue is malformed; the message names the rule and the field."""


@dataclass(frozen=True)
class RedFlag:
    """One red flag raised by a question: what to tell the user, and where that advice comes from."""

    level: Level
    rule: str
    message: str
    source: str


@dataclass(frozen=True)
class RedFlagRule:
    """A validated catalogue rule. ``patterns``: the rule fires if every regex of any one pattern is affirmed.

    ``unless``: regexes for an ordinary explanation the user gives ("from hunching over my laptop"); when one is
    affirmed in the question, the rule does not fire. Only same-day (urgent) rules and cycling numbness use it.
    """

    id: str
    level: Level
    message: str
    source: str
    patterns: tuple[tuple[re.Pattern[str], ...], ...]
    history: bool = False
    others: bool = False
    test_phrases: tuple[str, ...] = ()
    negative_phrases: tuple[str, ...] = ()
    unless: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True)
class RedFlagCatalogue:
    """The loaded catalogue: its schema version, its rules in file order, and ``similar``: per level, the flag the
    learned backstop raises (``service/redflag_backstop.py``) when a question reads like a warning sign that no rule
    matched."""

    version: int
    rules: tuple[RedFlagRule, ...]
    similar: Mapping[Level, RedFlag] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- loading

_RULE_REQUIRED: Final = ("id", "level", "message", "source", "patterns", "test_phrases")
_RULE_OPTIONAL: Final = ("negative_phrases", "history", "others", "unless")
_RULE_ID: Final = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_TERM_NAME: Final = re.compile(r"[a-z_]+")
_TERM_REF: Final = re.compile(r"\{([a-z_]+)\}")


def load_catalogue(path: Path | None = None) -> RedFlagCatalogue:
    """Read, validate and compile a red-flag catalogue.

    Args:
        path: The YAML file; defaults to ``redflags.yaml`` beside this module.

    Returns:
        The catalogue, with every pattern compiled.

    Raises:
        FileNotFoundError: If the file does not exist.
        RedFlagCatalogueError: If the YAML is invalid or breaks the schema; the message names the rule and field.
    """
    path = path or DEFAULT_CATALOGUE_PATH
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        raise RedFlagCatalogueError(f"{path}: not valid YAML: {exc}") from exc
    where = str(path)
    data = _mapping(raw, where)
    _check_keys(data, required=("version", "rules"), optional=("terms", "similar"), where=where)
    version = data["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RedFlagCatalogueError(f"{where}: version must be a positive integer, got {version!r}")
    terms = _parse_terms(data.get("terms", {}), where)
    items = data["rules"]
    if not isinstance(items, list) or not items:
        raise RedFlagCatalogueError(f"{where}: rules must be a non-empty list, got {items!r}")
    rules: list[RedFlagRule] = []
    for index, item in enumerate(items):
        rule = _parse_rule(item, where=where, index=index, terms=terms)
        if any(seen.id == rule.id for seen in rules):
            raise RedFlagCatalogueError(f"{where}: rule {rule.id!r}: id is used by more than one rule")
        rules.append(rule)
    similar = _parse_similar(data.get("similar", {}), where)
    if any(rule.id == flag.rule for rule in rules for flag in similar.values()):
        raise RedFlagCatalogueError(f"{where}: similar: an id is also a rule's id")
    return RedFlagCatalogue(version=version, rules=_most_selective_first(rules), similar=similar)


def _most_selective_first(rules: list[RedFlagRule]) -> tuple[RedFlagRule, ...]:
    """Each ``all:`` pattern's parts reordered so that the part matching the fewest of the catalogue's negative phrases
    (everyday wording) is tried first: a question usually fails a rule on its rarest part, and ``all`` stops at the
    first miss (about 0.2 ms off the red-flag stage's p50, about 0.25 s more to load). The result of a pattern does not
    depend on the order of its parts."""
    phrases = [normalise(phrase) for rule in rules for phrase in rule.negative_phrases]
    hits: dict[str, int] = {}

    def selectivity(regex: re.Pattern[str]) -> int:
        if regex.pattern not in hits:
            hits[regex.pattern] = sum(1 for phrase in phrases if regex.search(phrase))
        return hits[regex.pattern]

    return tuple(
        replace(rule, patterns=tuple(tuple(sorted(parts, key=selectivity)) for parts in rule.patterns))
        for rule in rules
    )


def _parse_similar(raw: object, where: str) -> dict[Level, RedFlag]:
    """``similar: {emergency: {id, message, source}, urgent: {...}}``: what the learned backstop says."""
    similar: dict[Level, RedFlag] = {}
    for level, item in _mapping(raw, f"{where}: similar").items():
        label = f"{where}: similar.{level}"
        if level not in LEVELS:
            raise RedFlagCatalogueError(f"{label}: level must be one of {', '.join(LEVELS)}")
        entry = _mapping(item, label)
        _check_keys(entry, required=("id", "message", "source"), optional=(), where=label)
        flag_id = _text(entry["id"], f"{label}.id")
        if not _RULE_ID.fullmatch(flag_id):
            raise RedFlagCatalogueError(f"{label}.id: must be lowercase words joined by hyphens, got {flag_id!r}")
        similar[level] = RedFlag(
            level=level,
            rule=flag_id,
            message=_text(entry["message"], f"{label}.message"),
            source=_text(entry["source"], f"{label}.source"),
        )
        if not similar[level].source.startswith("https://"):
            raise RedFlagCatalogueError(f"{label}.source: must be an https:// address")
    return similar


def _parse_rule(item: object, *, where: str, index: int, terms: Mapping[str, str]) -> RedFlagRule:
    label = f"{where}: rules[{index}]"
    data = _mapping(item, label)
    rule_id = data.get("id")
    if not isinstance(rule_id, str) or not _RULE_ID.fullmatch(rule_id):
        raise RedFlagCatalogueError(f"{label}: id must be kebab-case text like 'fever-with-back-pain', got {rule_id!r}")
    label = f"{where}: rule {rule_id!r}"
    _check_keys(data, required=_RULE_REQUIRED, optional=_RULE_OPTIONAL, where=label)
    level = data["level"]
    if level not in LEVELS:
        raise RedFlagCatalogueError(f"{label}: level must be one of {', '.join(LEVELS)}, got {level!r}")
    source = _text(data["source"], f"{label}: source")
    if not source.startswith("https://"):
        raise RedFlagCatalogueError(f"{label}: source must be an https:// address, got {source!r}")
    history, others = data.get("history", False), data.get("others", False)
    for name, flag in (("history", history), ("others", others)):
        if not isinstance(flag, bool):
            raise RedFlagCatalogueError(f"{label}: {name} must be true or false, got {flag!r}")
    return RedFlagRule(
        id=rule_id,
        level=level,
        message=_text(data["message"], f"{label}: message"),
        source=source,
        patterns=_parse_patterns(data["patterns"], terms, f"{label}: patterns"),
        history=history is True,
        others=others is True,
        test_phrases=_phrases(data["test_phrases"], f"{label}: test_phrases", minimum=MIN_TEST_PHRASES),
        negative_phrases=_phrases(data.get("negative_phrases", []), f"{label}: negative_phrases", minimum=0),
        unless=_unless(data.get("unless", []), terms, f"{label}: unless"),
    )


def _unless(raw: object, terms: Mapping[str, str], label: str) -> tuple[re.Pattern[str], ...]:
    if not isinstance(raw, list):
        raise RedFlagCatalogueError(f"{label}: must be a list of regexes, got {raw!r}")
    return tuple(
        _compile(_text(part, f"{label}[{index}]"), terms, f"{label}[{index}]") for index, part in enumerate(raw)
    )


def _parse_terms(raw: object, where: str) -> dict[str, str]:
    terms: dict[str, str] = {}
    for name, value in _mapping(raw, f"{where}: terms").items():
        label = f"{where}: terms.{name}"
        if not isinstance(name, str) or not _TERM_NAME.fullmatch(name):
            raise RedFlagCatalogueError(f"{label}: a term name must be lowercase letters and underscores")
        # A term may use the terms above it, so one pass in file order expands everything.
        terms[name] = f"(?:{_compile(_text(value, label), terms, label).pattern})"
    return terms


def _parse_patterns(raw: object, terms: Mapping[str, str], label: str) -> tuple[tuple[re.Pattern[str], ...], ...]:
    if not isinstance(raw, list) or not raw:
        raise RedFlagCatalogueError(f"{label}: must be a non-empty list, got {raw!r}")
    patterns: list[tuple[re.Pattern[str], ...]] = []
    for index, item in enumerate(raw):
        where = f"{label}[{index}]"
        if isinstance(item, dict):
            _check_keys(item, required=("all",), optional=(), where=where)
            parts = item["all"]
            if not isinstance(parts, list) or not parts:
                raise RedFlagCatalogueError(f"{where}: all must be a non-empty list of regexes, got {parts!r}")
        else:
            parts = [item]
        patterns.append(tuple(_compile(_text(part, where), terms, where) for part in parts))
    return tuple(patterns)


def _compile(source: str, terms: Mapping[str, str], label: str) -> re.Pattern[str]:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in terms:
            raise RedFlagCatalogueError(f"{label}: unknown term {{{name}}} (known: {', '.join(terms) or 'none'})")
        return terms[name]

    expanded = _TERM_REF.sub(substitute, source)
    try:
        regex = re.compile(expanded)
    except re.error as exc:
        raise RedFlagCatalogueError(f"{label}: invalid regex {source!r}: {exc}") from exc
    if regex.search("") is not None:
        raise RedFlagCatalogueError(f"{label}: regex {source!r} matches empty text, so it would match every question")
    return regex


def _mapping(raw: object, label: str) -> dict[str, object]:
    if not isinstance(raw, dict):
        raise RedFlagCatalogueError(f"{label}: must be a mapping, got {type(raw).__name__}")
    return cast(dict[str, object], raw)


def _check_keys(
    data: Mapping[str, object], *, required: tuple[str, ...], optional: tuple[str, ...], where: str
) -> None:
    for key in required:
        if key not in data:
            raise RedFlagCatalogueError(f"{where}: missing field {key!r}")
    for key in data:
        if key not in required and key not in optional:
            raise RedFlagCatalogueError(f"{where}: unknown field {key!r} (expected {', '.join(required + optional)})")


def _text(raw: object, label: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise RedFlagCatalogueError(f"{label}: must be non-empty text, got {raw!r}")
    return raw


def _phrases(raw: object, label: str, *, minimum: int) -> tuple[str, ...]:
    if not isinstance(raw, list) or len(raw) < minimum:
        raise RedFlagCatalogueError(f"{label}: must be a list of at least {minimum} phrases, got {raw!r}")
    return tuple(_text(phrase, f"{label}[{index}]") for index, phrase in enumerate(raw))


# ---------------------------------------------------------------------------------------------- normalising

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
    text = strip_invisible(_LINE_BREAKS.sub(" ; ", text))  # line breaks end a clause; see service/text.py
    text = "".join(_clean_char(char) for char in text)
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    return text.strip()


def _clean_char(char: str) -> str:
    # Emoji and other symbols, and what strip_invisible leaves of category C (tab, private use, unassigned,
    # surrogates), separate words.
    return " " if unicodedata.category(char) in _SPACE_CATEGORIES else char


_SPACE_CATEGORIES: Final = frozenset({"So", "Sk", "Cc", "Co", "Cn", "Cs"})


# ---------------------------------------------------------------------------------------------- scopes

_ScopeKind = Literal["negation", "other", "info"]

_TOKEN: Final = re.compile(r"\d+(?:[.,]\d+)+|\w+|[^\w\s]")
_HARD_BREAKS: Final = frozenset(
    {".", ";", "!", "?", "(", ")", "[", "]", ":", "but", "however", "although", "though", "whereas", "yet"}
    | {"except", "unless", "anyway"}
)
_FIRST_PERSON: Final = frozenset({"i", "im", "ive", "id", "ill", "me", "my", "myself", "mine"})
# A comma ends a scope unless what follows looks like the next item of a short list ("no fever, chills or sweats").
_NEW_CLAUSE: Final = _FIRST_PERSON | {
    *("it", "its", "just", "only", "now", "then", "since", "is", "are", "was", "were", "has", "have", "had"),
    *("feel", "feels", "felt", "still", "also", "so", "he", "she", "they", "this", "that", "the", "been"),
    *("got", "get", "gets", "keep", "keeps", "started", "cant", "dont", "can", "will", "wont", "doesnt"),
    *("didnt", "back", "after", "when", "because", "but"),
}
_NEGATION_STOPS: Final = frozenset(
    {"just", "only", "now", "since", "then", "until", "because", "so", "when", "while", "after", "still", "apart"}
    | {"otherwise", "today", "recently", "lately", "suddenly"}
)
_NEW_SUBJECT: Final = _FIRST_PERSON | {"it", "its", "now", "then", "the", "this", "today", "both", "since", "also"}
_BACKWARD_STOPS: Final = frozenset({",", "and", "or", "but", "with", "so", "because"})
_PAST_STOPS: Final = frozenset(
    {",", "now", "since", "today", "currently", "recently", "lately", "still", "then", "this"}
)
_MAX_WORDS: Final[dict[_ScopeKind, int]] = {"negation": 8, "other": 12, "info": 12}
_MAX_BACKWARD_WORDS: Final = 6

_NEGATION_CUE: Final = re.compile(
    r"\b(?:no|not|without|never|nor|neither|none|deny|denies|denied|havent|hasnt|hadnt|didnt|isnt|arent|wasnt"
    r"|werent|doesnt|dont (?:have|get|think|notice|see|feel) any|dont (?:have|get|think|feel|seem|look|notice)|free (?:of|from)"
    r"|zero|nil|negative for|not any|lack of"
    r"|ruled out|rule out|absence of|nothing (?:like|wrong with))\b"
)
# Negation words that do not negate a symptom ("no longer", "not sure", "never felt anything like this").
_PSEUDO_NEGATION: Final = re.compile(
    r"\b(?:no longer|no matter|no idea|no clue|no reason|no one|no way|no better|no relief|no position|no apparent"
    r"|no warning|not sure|not certain|not know|not just|not only|not (?:getting|any) better|not improving"
    r"|not easing|not going away|not normal|not right|not the same"
    r"|never (?:had|felt|experienced|known|been)(?: \w+){0,4} (?:like (?:this|it)|before|so bad|this bad)"
    r"|never ending|didnt (?:notice|realise|realize|know|feel it)|doesnt feel (?:normal|right|the same)"
    r"|(?:doesnt|wont|didnt|isnt) (?:fade|disappear)|dont think (?:anyone|anybody|people|they|he|she) (?:would|will|d)"
    r"|not (?:even )?trying|without (?:even )?(?:trying|realising|realizing|noticing|knowing|warning|meaning to|dieting"
    r"|reason))\b"
)
# "... my legs are fine", "cauda equina was ruled out": negates the words just before.
_BACKWARD_NEGATION_CUE: Final = re.compile(
    r"\b(?:(?:is|are|am|feels?|felt|seems?|looks?|looked|was|were|been|still)(?: (?!not\b|no\b|never\b)\w+)?"
    r" (?:fine|ok|okay|normal|good|alright|all right|unaffected)"
    r"|(?:was|were|been|got|is|are) (?:\w+ )?ruled out|(?:came back|were|was) (?:clear|normal|negative)"
    r"|(?<=\w )free(?! of| from))\b"
)
_RESOLVED_CUE: Final = re.compile(
    r"\b(?:(?:its|it has|it is|that has|thats|which has|they have|theyve|has|have|is|are|both) (?:all |now |since )?"
    r"(?:gone|passed|cleared|settled|resolved|stopped|over|better)(?: away| off)?"
    r"|(?:went|gone|passed|wore) (?:away|off)|cleared up|(?:all )?gone now|back to normal"
    r"|(?:fully |completely |totally )?recovered(?: now)?|(?:gone|over|clear) (?:for )?(?:\d+|a|two|three|several) (?:days|weeks|months))\b"
    # Only where the clause ends there: "my legs have gone numb" is a symptom, "its gone now" is not.
    r"(?=\s*(?:$|[,.;!?)]|(?:now|completely|totally|again|since|but|and|so|though|thankfully)\b))"
)
# "had a high fever, but fully recovered now", "a fever last week, temperatures been normal for 3 days": the whole
# sentence before it is over, commas and all.
_FULL_RECOVERY: Final = re.compile(
    r"\b(?:fully|completely|totally) (?:recovered|better|over it|healed)\b|\b(?:recovered|healed) (?:fully|completely|up)\b"
    r"|\b(?:temperatures?|temps?|fevers?) (?:has |have |s )?(?:been (?:back to )?normal|(?:gone|come) (?:back )?(?:down|to normal)|back to normal)\b"
    r"|\b(?:(?:it|feeling|the feeling|sensation|everything) )?(?:all )?came back (?:within|after|in) (?:a |an |\d+|one|two|five|ten|fifteen|twenty|thirty|a few|few|half an?) ?(?:\w+ )?(?:seconds?|minutes?|mins?|hours?)\b"
)
# "... went away but came back within an hour", "came back again": the sign returned, it is not over.
_RECURRENCE: Final = re.compile(
    r"\b(?:went|gone|go|goes|going) away|\b(?:stopped|eased|settled|disappeared|cleared|again|keeps?|kept)\b"
)
_RESOLVED_STOPS: Final = _HARD_BREAKS | {"and", "or", "so", "because", "now"}
# Only "it" and its kind point back past "but" ("a fever yesterday but its gone"); "my legs are numb but my back is
# better" resolves the back alone.
_CONTRAST: Final = frozenset({"but", "though", "although", "yet"})
# "... tingled for a minute, all back to normal now": these point back past one comma too.
_POINTING_BACK: Final = frozenset({"it", "its", "that", "thats", "which", "they", "theyve", "both", "this", "all"})
_MAX_RESOLVED_WORDS: Final = 10
_NOT_BEFORE: Final = re.compile(r"\b(?:not|never|no|\w+nt)\s+(?:\w+\s+)?$")
_OTHER_PERSON_CUE: Final = re.compile(
    r"\b(?:(?:my|our|his|her|a|the|their) )?(?:friends?|mates?|mum|mom|mother|mam|mummy|dad|daddy|father|wife"
    r"|husband|hubby|partner|boyfriend|girlfriend|bf|gf|son|daughter|kids?|child|children|baby|toddler|brother"
    r"|sister|gran|granny|grandma|grandmother|grandad|granddad|grandpa|grandfather|nan|nana|nanna|uncle|aunt"
    r"|auntie|cousin|colleague|coworker|boss|neighbou?r|flatmate|roommate|housemate|client|patients?|fiancee?"
    r"|in laws?|stepdad|stepmum|stepmom|niece|nephew|teammate|doctor|gp|physio|nurse|consultant|surgeon|chiro"
    r"|osteopath|family|relatives?)s?\b"  # "my brothers leg": a possessive without its apostrophe
    r"|\b(?:my|our|her|his|a|the) (?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve) (?:month|week|year|yr)s? old\b"
    r"|\b(?:someone|somebody|anyone|anybody|people|person|he|she|him|them|others|everyone|you|your|yourself)\b"
    # "they found ... on a scan", "they said": clinicians telling the user about the user.
    r"|\bthey\b(?! (?:found|said|told|diagnosed|think|thought|reckon|saw|spotted|picked|checked|scanned|did|want|wanted"
    r"|gave|put|took|sent|referred|called|named|confirmed|suspect\w*)\b)"
)
# Someone the user only knows of ("a guy at work", "saw on the news", "in a film"): never with the user, so these
# open an other-person scope even where another cue says someone is present ("... his spine").
_DISTANT_PERSON_CUE: Final = re.compile(
    r"\b(?:a|an|this|some|one) (?:guy|bloke|man|woman|lady|girl|boy|lad|chap|fella)"
    r" (?:(?:at|from) (?:my |our |the )?(?:work|gym|office|school|college|uni|club|church|job|class|team)"
    r"|i (?:know|knew|heard of|heard about|read about|met))\b"
    r"|\b(?:on|in) (?:the |a |an )?(?:news|tv|telly|radio|paper|papers|newspaper|film|movie|show|series|documentary|podcast"
    r"|youtube|reddit|tiktok|instagram|facebook|forum)\b"
)
# A pet as the subject ("my dachshund slipped a disc and his back legs are wobbly"): its signs are not a person's.
_ANIMAL_SUBJECT: Final = re.compile(
    r"\b(?:my|our|the) (?:dog|puppy|pup|cat|kitten|dachshund|labrador|spaniel|terrier|collie|greyhound|pet|rabbit|bunny)"
    r"(?:s|s has|s is| has| is| was| had| slipped| hurt| injured| cant| wont| keeps)\b"
)
_FIRST_PERSON_WORD: Final = re.compile(r"\b(?:i|im|ive|id|me|my|myself)\b")
# "me and my partner", "my wife and i": the user is part of the subject.
_WITH_ME: Final = re.compile(
    r"\b(?:me|i) and (?:my |our )?\w+|\b(?:my|our) \w+ and (?:i|me)\b"
    r"|\b(?:with|and) (?:my|our) (?:partner|wife|husband|hubby|boyfriend|girlfriend|bf|gf|fiancee?)\b(?! (?:is|has|was|had|says|said|thinks|s)\b)"
    r"|\b(?:as|when i was|since i was|back when i was) (?:a |an )?(?:child|kid|baby|toddler|teen\w*|little one)\b"
)
# Signs that the other person is with the user now, so their symptoms count ("should we lift him", "his neck").
_PRESENCE: Final = re.compile(
    r"\b(?:(?:should|do|can|shall|must) (?:we|i) (?:\w+ )?(?:move|lift|carry|drive|take|get|sit|lie|lay|put|roll|turn"
    r"|wake|leave|let|give) (?:him|her|them)|cant (?:wake|rouse|move|get) (?:him|her|them)"
    r"|(?:he|she)(?: is|s)? (?:says|saying|keeps|cant|wont|isnt|just|complaining|whinging|whining|moaning|groaning|wincing|limping|hobbling|struggling|screaming|crying)"
    r"|(?:hes|shes) (?:been|got|not|now|so|really)"
    # "his wrist", but not "help her back pain": there the user asks how to care for someone, not what is wrong now.
    r"|(?<!help )(?<!helping )(?<!ease )(?<!relieve )(?<!for )(?<!about )(?<!treat )(?<!massage )(?<!massaging )"
    r"(?<!spread to )(?<!spread into )(?:his|her) (?:(?:lower|upper|mid|middle|left|right|bad) )?(?:back|neck|legs?|spine|head|chest|bladder|lips|breathing|feet|arms?|hands?|knees?|ankles?"
    r"|hips?|elbows?|wrists?|shoulders?|calf|calves|skin)"
    r"|(?:glass|tumbler) test|press\w* (?:a |the )?(?:glass|tumbler)"
    r"|with me|next to me|right now|just now|here now|(?:call|ring) (?:an )?(?:ambulance|999|911|112)"
    r"|(?:has |just )?(?:collapsed|fainted)(?! (?:at|in|on|last|yesterday|a|two|three|years))|unconscious|not breathing"
    r"|(?:baby|toddler|child|kid|little one|son|daughter|boy|girl|(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten) (?:month|year|yr)s? old)(?: is| has(?! had)| hasnt| isnt| keeps| wont| cant| seems| looks| feels)"
    r"|(?:hes|shes) (?:got|not|now|so|really|very|too|burning|floppy|sleepy|drowsy|limp)"
    r"|(?:he|she) (?:tells?|told) (?:me|us)|(?:he|she) not\b"
    r"|(?:staying|living|lives|stays|sitting|lying|here) with (?:us|me)\b|(?:sat|sitting|standing|lying) (?:right )?(?:here|next to me|beside me)\b"
    r"|(?:hes|shes|theyre|he is|she is|they are) (?:still |just )?(?:lying|laying|stuck|trapped|on the (?:floor|ground))"
    # Where someone the user is watching is now: "has been sat on the commode", "is in the bath".
    r"|(?:has|have|s) been (?:sat |sitting |lying |laid up |stuck )?(?:on|in) (?:the|a) (?:commode|toilet|loo|floor|bed|sofa|couch"
    r"|chair|armchair|bath)|(?:is|s) (?:in|on) the (?:bath|shower|loo|toilet|commode|floor)"
    # "my father ... he fell from the roof": the user tells what just happened to someone in their care.
    r"|(?:he|she) (?:has |just |had )?(?:fell|fall|fallen|crashed|was hit|got hit|landed|was knocked)"
    # "the gp saw her this morning" is when a doctor looked, not that she is here.
    r"|(?<!saw her )(?<!saw him )(?<!seen her )(?<!seen him )(?<!saw them )"
    r"(?:this morning|this afternoon|this evening|tonight|(?:an|one|two|three|a few|a couple of) hours? ago|minutes ago)"
    r"|(?:he|she|hes|shes) (?:is |s |looks |seems |feels |has gone |went |gone |turned |going |turning )?(?:\w+ )?(?:sleepy|drowsy|floppy|limp|hot|burning|pale|grey|gray|blue"
    r"|confused|unwell|poorly|vomiting|being sick|shaking|shivering|sweating|clammy|not (?:himself|herself|making sense)))\b"
)
_INFO_CUE: Final = re.compile(
    r"\b(?:what (?:(?:actually|exactly|even|really) )?(?:is|are|does|do|causes|counts as|happens|would|should (?:you|someone"
    r"|people|a person))|whats|what signs"
    r"|how (?:do|can|would|does|is|are|common|likely) (?:you|someone|people|doctors|they|it|a person|one)"
    r"|why (?:do|does|would) (?:people|you|someone)|(?:read|reading|heard|hearing|learn\w*|asking|curious|wondering"
    r"|question|info\w*|article|articles|video|leaflet|poster|essay|project|presentation|assignment|lecture|course"
    r"|exam|study\w*|writing) (?:about|on|for|regarding|re)|(?:read|heard|saw|seen|told) (?:that|somewhere)"
    r"|signs? (?:of|for)|symptoms? (?:of|for)|warning signs|red flags?|tell me about|explain|define|definition of"
    r"|meaning of|difference between|is it true|in general|generally|hypothetically|for example|eg|such as"
    r"|list of|examples? of|(?:is|are|does|do) (?:a|an) (?:\w+ ){1,3}always"  # "is a stiff neck always ...", not "is my"
    r"|(?:what )?if (?:i|you|someone|somebody|anyone|he|she|they|we) (?:ever|were to|was to|should ever)"
    r"|how (?:to|do|can|would|will|should|could) (?:i |you |we |they )?(?:tell|know|check|spot|recogni[sz]e)"
    r"|(?:just )?in case (?:i|you|someone|anyone|he|she|they|we) ever|hypothetical\w*"
    r"|(?:scared|afraid|worried|frightened|terrified|paranoid|anxious|nervous) (?:of|about) (?:getting|developing|catching"
    r"|ending up with)|(?:how (?:do|can|should|would|could) (?:i|we|you) |how to |ways? to |tips? (?:to|for) |best way to )"
    r"(?:avoid|prevent|reduce the (?:risk|chance) of|lower the (?:risk|chance) of|stop (?:myself )?getting))\b"
)
# A sign in a condition about the future ("if my sciatica ever gets into both legs", "say my knee blew up ..."):
# hypothetical to the end of its clause, which "now", "but" or "today" also ends.
_CONDITIONAL: Final = re.compile(
    r"(?:\b(?:if|when|once) (?:my |your |his |her |the |it |this |that |i |you )?\w+ (?:ever|were to|should ever|ever starts? to)"
    r"|(?:^|(?<=[.!?] ))(?:say|suppose|supposing|imagine|lets say|let us say|what if))\b(?:(?! (?:now|but|today|tonight|this morning|and now)\b)[^.;!?,])*"
)
# "is numbness in the groin a sign of cauda equina?": a question about what a symptom means, with no "i" or "my".
_SENTENCE: Final = re.compile(r"[^.!?;]+")
_SENTENCE_END: Final = re.compile(r"[.!?;]")
_GENERIC_OPENER: Final = re.compile(r"\s*(?:is|are|does|do|can|could|would|will|what|whats|how|when|which)\b")
_ABOUT_MEANING: Final = re.compile(
    r"\b(?:signs?|symptoms?|mean|means|meaning|causes?|caused|red flags?|warning|linked|related|associated|common"
    r"|affects?|spreads?|possible|normal for|happens?|contagious|catching|infectious|serious|dangerous|curable"
    r"|treatable|hereditary|genetic|preventable|fatal|deadly|treated|diagnosed|feels? like|looks? like|mistaken for)\b"
)
_SELF: Final = re.compile(r"\b(?:i|im|ive|id|me|my|myself|mine|we|us|our)\b")
_PAST_CUE: Final = re.compile(
    r"\b(?:(?:(?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|few|a few|couple|a couple"
    r"|couple of|a couple of|several|many|some|\d+ or \d+) )?(?:years?|yrs?|decades?|months?|mths?) ago"
    r"|last (?:year|summer|winter|spring|autumn)|years (?:back|before|earlier)|used to|in the past"
    r"|as a (?:kid|child|teen\w*|baby|youngster)"
    r"|when i was (?:a kid|younger|little|small|a child|a teen\w*|pregnant|\d+)"
    r"|back in (?:19|20)\d\d|in (?:19|20)\d\d|long time ago|ages ago|once before|had (?:it|that|this) before"
    r"|since (?:i was (?:a kid|a child|little|young|a teen\w*|born)|childhood|birth)"
    r"|when i was (?:at|in) \w+|(?:back )?(?:at|in) (?:high |secondary |primary |middle |grammar )?school(?= *(?:$|[,.;!?]|now\b|but\b))"
    r"|(?:at|in) (?:uni|university|college)(?= *(?:$|[,.;!?(]|now\b|but\b))"
    r"|in my (?:teens|twenties|thirties|20s|30s|youth|younger days)|as a (?:student|teenager|schoolboy|schoolgirl)"
    r"|previously|an old (?:\w+ )?injury|years (?:and years )?ago|a (?:while|long while|good while) (?:back|ago)"
    r"|some time ago|(?:history|hx) of|once had|had (?:one|it|that|a \w+) once)\b"
)
# A clause about something over: someone's presence in it ("he collapsed in his garden last month") is not now.
_OVER_NOW: Final = re.compile(r"\b(?:(?<!since )last (?:month|year)|died|passed away|didnt make it|funeral)\b")
_POSSESSIVES: Final = ("my ", "our ", "his ", "her ", "their ")
# "started 2 months ago" is how long a current symptom has lasted, not a past event.
_PAST_PSEUDO: Final = re.compile(
    r"\b(?:started|began|begun|since|came on|kicked in|first noticed|noticed it|been going on)(?: \w+){0,4} ago\b"
)


@dataclass(frozen=True)
class _Tokens:
    words: tuple[str, ...]
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    @classmethod
    def of(cls, text: str) -> _Tokens:
        matches = list(_TOKEN.finditer(text))
        return cls(
            words=tuple(m.group() for m in matches),
            starts=tuple(m.start() for m in matches),
            ends=tuple(m.end() for m in matches),
        )

    def word(self, index: int) -> str:
        return self.words[index] if 0 <= index < len(self.words) else ""


@dataclass(frozen=True)
class _Scopes:
    """Character ranges of a normalised question in which a match is not affirmed."""

    forward: tuple[tuple[int, int], ...]  # a match *starting* here is negated or informational
    others: tuple[tuple[int, int], ...]  # a match starting here is about someone else
    backward: tuple[tuple[int, int], ...]  # a match *ending* here is negated by what follows ("... are fine")
    past: tuple[tuple[int, int], ...]  # a match starting here is long past
    named_others: tuple[int, ...] = ()  # where "my aunts", "his dads" ... end: a match holding one is about them

    def block(self, start: int, end: int, rule: RedFlagRule) -> bool:
        if any(lo <= start < hi for lo, hi in self.forward):
            return True
        if any(lo <= end - 1 < hi for lo, hi in self.backward):
            return True
        # About someone else: the match starts in their scope, or names them inside it ("after my aunts fusion").
        if not rule.others and (
            any(lo <= start < hi for lo, hi in self.others) or any(start < at < end for at in self.named_others)
        ):
            return True
        return not rule.history and any(lo <= start < hi for lo, hi in self.past)


def _find_scopes(text: str) -> _Scopes:
    tokens = _Tokens.of(text)
    forward: list[tuple[int, int]] = []
    pseudo = [m.span() for m in _PSEUDO_NEGATION.finditer(text)]
    for cue in _NEGATION_CUE.finditer(text):
        if not any(lo < cue.end() and cue.start() < hi for lo, hi in pseudo):
            # From just after the cue's first letter: "no feeling" and "not able to pee" are symptoms that start
            # with the cue, while "have" in "dont have cancer" is negated.
            forward.append((cue.start() + 1, _walk_forward(tokens, cue.end(), "negation")))
    forward += [(cue.end(), _walk_forward(tokens, cue.end(), "info")) for cue in _INFO_CUE.finditer(text)]
    forward += [cue.span() for cue in _CONDITIONAL.finditer(text)]
    forward += [
        sentence.span()
        for sentence in _SENTENCE.finditer(text)
        if _GENERIC_OPENER.match(sentence.group())
        and _ABOUT_MEANING.search(sentence.group())
        and not _SELF.search(sentence.group())
    ]
    others = [(cue.end(), _walk_forward(tokens, cue.end(), "other")) for cue in _DISTANT_PERSON_CUE.finditer(text)]
    others += [(cue.end(), _animal_scope_end(text, cue.end())) for cue in _ANIMAL_SUBJECT.finditer(text)]
    named_others: list[int] = []
    if not _someone_present_now(text, tokens):
        with_me = [m.span() for m in _WITH_ME.finditer(text)]
        cues = [
            cue
            for cue in _OTHER_PERSON_CUE.finditer(text)
            if not any(lo < cue.end() and cue.start() < hi for lo, hi in with_me)
        ]
        others += [(cue.end(), _walk_forward(tokens, cue.end(), "other")) for cue in cues]
        # "my aunts fusion" (a possessive without its apostrophe), not "with my husband".
        named_others = [cue.end() for cue in cues if cue.group().startswith(_POSSESSIVES) and cue.group().endswith("s")]
    backward = [(_walk_backward(tokens, cue.start()), cue.start()) for cue in _BACKWARD_NEGATION_CUE.finditer(text)]
    backward += [
        (_walk_back_resolved(tokens, cue.start(), cue.group()), cue.start())
        for cue in _RESOLVED_CUE.finditer(text)
        if not _NOT_BEFORE.search(text, 0, cue.start())  # "it hasnt gone away" is not resolved
    ]
    backward += [
        (_recovered_from(text, cue), cue.start())
        for cue in _FULL_RECOVERY.finditer(text)
        if not _NOT_BEFORE.search(text, 0, cue.start())  # "not fully recovered" is not over
        and not (
            "came back" in cue.group()
            and _RECURRENCE.search(text, _sentence_start(text, cue.start()), _sentence_end(text, cue.end()))
        )
    ]
    not_past = [m.span() for m in _PAST_PSEUDO.finditer(text)]
    past = [
        _clause(tokens, cue.start(), cue.end())
        for cue in _PAST_CUE.finditer(text)
        if not any(lo <= cue.start() < hi for lo, hi in not_past)
    ]
    return _Scopes(
        forward=tuple(forward),
        others=tuple(others),
        backward=tuple(backward),
        past=tuple(past),
        named_others=tuple(named_others),
    )


def _someone_present_now(text: str, tokens: _Tokens) -> bool:
    """A presence cue ("his back", "collapsed") in a clause that is not about the past ("last month", "died")."""
    for cue in _PRESENCE.finditer(text):
        lo, hi = _clause(tokens, cue.start(), cue.end())
        if not (_PAST_CUE.search(text, lo, hi) or _OVER_NOW.search(text, lo, hi)):
            return True
    return False


def _recovered_from(text: str, cue: re.Match[str]) -> int:
    """Where a full recovery reaches back to: its sentence, or the one before when the cue opens its sentence
    pointing back ("my bum went numb on the ride. it came back within ten minutes")."""
    start = _sentence_start(text, cue.start())
    if text[start : cue.start()].strip() == "" and cue.group().split(" ", 1)[0] in _POINTING_BACK:
        start = _sentence_start(text, max(start - 1, 0))
    return start


def _sentence_start(text: str, position: int) -> int:
    return max(text.rfind(mark, 0, position) for mark in ".;!?") + 1


def _sentence_end(text: str, position: int) -> int:
    end = _SENTENCE_END.search(text, position)
    return end.start() if end else len(text)


def _animal_scope_end(text: str, position: int) -> int:
    """The end of the sentence, or the user's own first word after ``position``, whichever is first."""
    ends = [
        match.start()
        for match in (_SENTENCE_END.search(text, position), _FIRST_PERSON_WORD.search(text, position))
        if match
    ]
    return min(ends, default=len(text))


def _walk_forward(tokens: _Tokens, position: int, kind: _ScopeKind) -> int:
    """Return where a scope opened at ``position`` ends: at a clause break, or for people/info at "i"/"my"."""
    end, words = position, 0
    for index in range(bisect_left(tokens.starts, position), len(tokens.words)):
        word = tokens.words[index]
        if word in _HARD_BREAKS or (word == "," and not _list_continues(tokens, index + 1)):
            break
        if word == ",":
            continue
        if kind == "negation":
            if word in _NEGATION_STOPS or (word in ("and", "or") and tokens.word(index + 1) in _NEW_SUBJECT):
                break
        elif word in _FIRST_PERSON:
            break
        words += 1
        if words > _MAX_WORDS[kind]:
            break
        end = tokens.ends[index]
    return end


def _list_continues(tokens: _Tokens, index: int) -> bool:
    count = 0
    while index < len(tokens.words) and tokens.words[index] != "," and tokens.words[index] not in _HARD_BREAKS:
        if tokens.words[index] in _NEW_CLAUSE:
            return False
        count, index = count + 1, index + 1
    return 0 < count <= 4


def _walk_backward(tokens: _Tokens, position: int) -> int:
    start = position
    for words, index in enumerate(range(bisect_left(tokens.starts, position) - 1, -1, -1)):
        word = tokens.words[index]
        if word in _HARD_BREAKS or word in _BACKWARD_STOPS or words >= _MAX_BACKWARD_WORDS:
            break
        start = tokens.starts[index]
    return start


def _walk_back_resolved(tokens: _Tokens, position: int, cue: str) -> int:
    """Where a symptom that "has gone" starts: back to a clause break, "and" or "now", and past "but" only when
    the cue points back with "it" or the like."""
    first = bisect_left(tokens.starts, position)
    pointing = cue.split(" ", 1)[0] in _POINTING_BACK or tokens.word(first - 1) in _POINTING_BACK
    start = position
    for words, index in enumerate(range(first - 1, -1, -1)):
        word = tokens.words[index]
        if word in _CONTRAST or word == ",":
            if not pointing:
                break
            pointing = False  # across one contrast or comma at most
        elif word in _RESOLVED_STOPS or words >= _MAX_RESOLVED_WORDS:
            break
        start = tokens.starts[index]
    return start


def _clause(tokens: _Tokens, start: int, end: int) -> tuple[int, int]:
    """Return the clause around ``start:end``, bounded by breaks, commas and words such as "now" or "since"."""
    first = bisect_left(tokens.starts, start)
    lo = start
    for index in range(first - 1, -1, -1):
        if tokens.words[index] in _HARD_BREAKS or tokens.words[index] in _PAST_STOPS:
            break
        lo = tokens.starts[index]
    hi = end
    for index in range(bisect_left(tokens.starts, end), len(tokens.words)):
        if tokens.words[index] in _HARD_BREAKS or tokens.words[index] in _PAST_STOPS:
            break
        hi = tokens.ends[index]
    return lo, hi


# ---------------------------------------------------------------------------------------------- detecting


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
    scopes = _find_scopes(text)
    flags = [
        RedFlag(level=rule.level, rule=rule.id, message=rule.message, source=rule.source)
        for rule in catalogue.rules
        if any(all(_affirmed(regex, text, scopes, rule) for regex in pattern) for pattern in rule.patterns)
        and not any(_affirmed(regex, text, scopes, rule) for regex in rule.unless)
    ]
    flags.sort(key=lambda flag: LEVELS.index(flag.level))  # stable, so catalogue order holds within a level
    return flags


def _affirmed(regex: re.Pattern[str], text: str, scopes: _Scopes, rule: RedFlagRule) -> bool:
    # Overlapping matches are tried too: a negated first match ("no numbness ...") must not hide a later one.
    position = 0
    while (match := regex.search(text, position)) is not None:
        if not scopes.block(match.start(), match.end(), rule):
            return True
        position = match.start() + 1
    return False
