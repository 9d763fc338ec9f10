"""The red-flag catalogue: its types, and loading the versioned YAML rules (``redflags.yaml`` beside this module).

Each rule states the advice to give and the source it follows; its patterns are regexes over normalised text
(``triage.normalise``), compiled once here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, Literal, cast

import yaml

from triage.normalise import normalise

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
    """One red flag raised by a question: what to tell the user, and where that advice comes from.

    The API's ``RedFlagPublic`` derives from this type; a field's ``description`` metadata documents it there.
    """

    level: Level
    rule: str = field(metadata={"description": "Id of the red-flag rule that matched."})
    message: str = field(metadata={"description": "What to do, for the person asking."})
    source: str = field(metadata={"description": "Public source the rule rests on."})


@dataclass(frozen=True)
class RedFlagRule:
    """A validated catalogue rule. ``patterns``: the rule fires if every regex of any one pattern is affirmed.

    ``unless``: regexes for an ordinary explanation the user gives ("from hunching over my laptop"); when one is
    affirmed in the question, the rule does not fire. Only same-day (urgent) rules and cycling numbness use it.
    """

    id: str
    level: Level
    families: tuple[str, ...]  # ids of the catalogue's ``families``: the conditions the rule's signs point to
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
    """The loaded catalogue: its schema version, its warning-sign families (id -> the condition's name), its rules
    in file order, and ``similar``: per level, the flag the learned backstop raises (``triage/backstop.py``) when
    a question reads like a warning sign that no rule matched."""

    version: int
    families: Mapping[str, str]
    rules: tuple[RedFlagRule, ...]
    similar: Mapping[Level, RedFlag] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- loading

_RULE_REQUIRED: Final = ("id", "level", "family", "message", "source", "patterns", "test_phrases")
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
    _check_keys(data, required=("version", "families", "rules"), optional=("terms", "similar"), where=where)
    version = data["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RedFlagCatalogueError(f"{where}: version must be a positive integer, got {version!r}")
    families = _parse_families(data["families"], where)
    terms = _parse_terms(data.get("terms", {}), where)
    items = data["rules"]
    if not isinstance(items, list) or not items:
        raise RedFlagCatalogueError(f"{where}: rules must be a non-empty list, got {items!r}")
    rules: list[RedFlagRule] = []
    for index, item in enumerate(items):
        rule = _parse_rule(item, where=where, index=index, terms=terms, families=families)
        if any(seen.id == rule.id for seen in rules):
            raise RedFlagCatalogueError(f"{where}: rule {rule.id!r}: id is used by more than one rule")
        rules.append(rule)
    similar = _parse_similar(data.get("similar", {}), where)
    if any(rule.id == flag.rule for rule in rules for flag in similar.values()):
        raise RedFlagCatalogueError(f"{where}: similar: an id is also a rule's id")
    return RedFlagCatalogue(version=version, families=families, rules=_most_selective_first(rules), similar=similar)


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


def _parse_families(raw: object, where: str) -> dict[str, str]:
    """``families: {id: the condition's name}``."""
    families: dict[str, str] = {}
    for family_id, title in _mapping(raw, f"{where}: families").items():
        label = f"{where}: families.{family_id}"
        if not _RULE_ID.fullmatch(family_id):
            raise RedFlagCatalogueError(f"{label}: must be lowercase words joined by hyphens")
        families[family_id] = _text(title, label)
    if not families:
        raise RedFlagCatalogueError(f"{where}: families must name at least one family")
    return families


def _parse_rule(
    item: object, *, where: str, index: int, terms: Mapping[str, str], families: Mapping[str, str]
) -> RedFlagRule:
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
    named = data["family"] if isinstance(data["family"], list) else [data["family"]]
    if not named or any(family not in families for family in named):
        raise RedFlagCatalogueError(
            f"{label}: family must be one of the catalogue's families, or a list of them, got {data['family']!r}"
        )
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
        families=tuple(str(family) for family in named),
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
