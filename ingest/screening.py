"""Screen articles for content aimed at software rather than readers: AI instructions, scripts, raw HTML.

Screening only reports. A flagged document is ingested all the same with its text unchanged: the
text stays plain text everywhere downstream (answers quote it verbatim, the UI escapes it), so the
flags tell the person running the ingest what to review, not what to block.

Markup is found with the standard library's HTML tokenizer (``html.parser``), which reads ``<`` the
way a browser would, so "blood sugar <70" is text and ``<img src=x onerror=...>`` is a tag with an
event handler, entity-encoded attribute values included. AI instructions are matched by a short list
of phrasings ("ignore previous instructions", "system prompt", ...) chosen to stay silent on health
articles (the shipped corpus and MedQuAD raise none).

Usage example::

    flagged = screen_document(document)
    if flagged:
        print(flagged.doc_id, "; ".join(flagged.reasons))
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Literal

from index import Document

FindingKind = Literal["instructions", "script", "event_handler", "script_url", "active_html", "data_url", "html"]

# Most serious first: findings are listed in this order.
_LABELS: dict[FindingKind, str] = {
    "instructions": "instructions addressed to an AI",
    "script": "<script> element",
    "event_handler": "event-handler attribute",
    "script_url": "script URL",
    "active_html": "active HTML element",
    "data_url": "data: URL",
    "html": "raw HTML",
}
# Elements that load, run or restyle content rather than mark up text.
_ACTIVE_TAGS = frozenset(
    {"iframe", "frame", "frameset", "object", "embed", "applet", "form", "meta", "link", "base", "style", "svg", "math"}
)
_INSTRUCTIONS = re.compile(
    r"\b(?:ignore|disregard|forget|override)\s+(?:(?:all|any|the|your|my|of|these)\s+)*"
    r"(?:previous|prior|above|earlier|preceding|former|original|system)\s+"
    r"(?:instructions?|prompts?|rules|directions|guidelines|messages|context)\b"
    r"|\b(?:system|hidden|initial)\s+prompt\b"
    r"|\byou\s+are\s+now\s+(?:an?|the|in)\s+(?:\w+\s+){0,2}?(?:assistant|AI|bot|chatbot|model|persona|mode)\b"
    r"|\bas\s+an\s+(?:AI|artificial\s+intelligence|LLM)\b|\bas\s+a\s+language\s+model\b"
    r"|\b(?:tell|instruct|advise|inform)\s+(?:the\s+|all\s+|your\s+)?users?\s+(?:to|that)\b"
    r"|\b(?:developer|DAN|god)\s+mode\b|\bjailbreak"
    r"|<\|(?:im_start|im_end|system|user|assistant)\|>|\[/?INST\]|<</?SYS>>",
    re.IGNORECASE,
)
# Every alternative above holds one of these once case and spaces are folded. Looking for them first
# cuts the pattern's time on MedQuAD's 16,407 answers (21 MB) from 2.4 s to 0.5 s.
_INSTRUCTION_CUES = (
    "ignor",
    "disregard",
    "forget",
    "overrid",
    "prompt",
    "you are now",
    "as an ai",
    "as an artificial",
    "as an llm",
    "as a language model",
    "user",
    "mode",
    "jailbreak",
    "<|",
    "inst]",
    "sys>>",
)
# Browsers drop tabs and newlines inside a URL scheme ("java\tscript:"), so they are removed before matching.
_SCRIPT_URL = re.compile(r"\b(?:java|vb|live)script:", re.IGNORECASE)
_DATA_URL = re.compile(r"\bdata:[a-z]+/[a-z0-9.+-]+[;,]", re.IGNORECASE)
_URL_NOISE = re.compile(r"[\x00-\x20]+")
_URL_PATTERNS: tuple[tuple[re.Pattern[str], FindingKind, str], ...] = (
    (_SCRIPT_URL, "script_url", "script:"),
    (_DATA_URL, "data_url", "data:"),
)
_EXAMPLE_CHARS = 80
_EXAMPLES = 3


@dataclass(frozen=True)
class Finding:
    """Suspicious content of one kind in one field of a document.

    Attributes:
        kind: What was found.
        where: The field: ``text``, ``title``, ``url``, ``metadata 'disclaimer'``, or ``HTML source``
            (an HTML page's markup, which text extraction drops).
        examples: Up to three short, printable excerpts of what matched.
        count: How many times it occurs in that field.
    """

    kind: FindingKind
    where: str
    examples: tuple[str, ...]
    count: int = 1

    def __str__(self) -> str:
        times = f" x{self.count}" if self.count > 1 else ""
        dropped = ", dropped from the text" if self.where == "HTML source" else ""
        return f"{_LABELS[self.kind]}{times} in the {self.where}{dropped}: {', '.join(self.examples)}"


@dataclass(frozen=True)
class FlaggedDocument:
    """A document with at least one finding; it was ingested as plain text regardless."""

    doc_id: str
    source: str
    findings: tuple[Finding, ...]

    @property
    def kinds(self) -> list[FindingKind]:
        """The kinds found, most serious first, each once."""
        return list(dict.fromkeys(f.kind for f in self.findings))

    @property
    def reasons(self) -> list[str]:
        """One line per finding, for reports."""
        return [str(f) for f in self.findings]


def screen_document(document: Document, *, html_source: str | None = None) -> FlaggedDocument | None:
    """Screen a document's title, text, url and text metadata; ``None`` when nothing is suspicious.

    Args:
        document: The document as loaded.
        html_source: The page an HTML document was extracted from; its scripts, event handlers and
            embedded content are reported too, although extraction keeps none of them.
    """
    findings = [
        *screen_text(document.title, where="title"),
        *screen_text(document.text, where="text"),
        *screen_text(document.url, where="url"),
    ]
    for name, value in _strings(document.metadata, "metadata"):
        findings.extend(screen_text(value, where=name))
    if html_source is not None:
        findings.extend(
            f for f in screen_text(html_source, where="HTML source") if f.kind not in ("html", "instructions")
        )
    if not findings:
        return None
    order = list(_LABELS)
    findings.sort(key=lambda f: order.index(f.kind))
    return FlaggedDocument(document.doc_id, document.source, tuple(findings))


def screen_text(text: str, *, where: str = "text") -> list[Finding]:
    """Findings in one piece of text, one per kind, in the order of ``FindingKind``.

    Args:
        text: Any text: an article body, a title, a metadata value, an HTML page.
        where: The field name used in the findings.
    """
    hits: dict[FindingKind, list[str]] = {}
    lowered = text.lower()
    folded = " ".join(lowered.split())
    if any(cue in folded for cue in _INSTRUCTION_CUES):
        for match in _INSTRUCTIONS.finditer(text):
            hits.setdefault("instructions", []).append(_excerpt(text, match.start(), match.end()))
    if "<" in text:  # the tokenizer is the slow part; most texts hold no "<" at all
        scanner = _MarkupScanner()
        scanner.feed(text)
        scanner.close()
        for kind, example in scanner.hits:
            hits.setdefault(kind, []).append(example)
    for pattern, kind, cue in _URL_PATTERNS:
        # URLs in attributes were reported by the tokenizer already; these are the ones in plain or Markdown text.
        if kind not in hits and cue in lowered:
            found = [_printable(text[m.start() :].split(maxsplit=1)[0])[:40] for m in pattern.finditer(text)]
            if found:
                hits[kind] = found
    return [Finding(kind, where, _distinct(hits[kind]), len(hits[kind])) for kind in _LABELS if kind in hits]


class _MarkupScanner(HTMLParser):
    """Collects ``(kind, example)`` for every tag, handler, script URL and comment a browser would see."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hits: list[tuple[FindingKind, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        shown = _printable(tag)[:40]
        if tag == "script":
            self.hits.append(("script", "<script>"))
        elif tag in _ACTIVE_TAGS:
            self.hits.append(("active_html", f"<{shown}>"))
        else:
            self.hits.append(("html", f"<{shown}>"))
        for name, value in attrs:
            if name.startswith("on"):
                self.hits.append(("event_handler", f"{_printable(name)[:40]} on <{shown}>"))
            url = _URL_NOISE.sub("", value or "")
            for pattern, kind, _ in _URL_PATTERNS:
                if pattern.match(url):
                    self.hits.append((kind, f"{_printable(name)[:40]}={_printable(value or '')[:40]} on <{shown}>"))

    def handle_comment(self, data: str) -> None:
        self.hits.append(("html", "<!-- comment -->"))

    def handle_decl(self, decl: str) -> None:
        self.hits.append(("html", f"<!{_printable(decl)[:40]}>"))

    def handle_pi(self, data: str) -> None:
        self.hits.append(("html", f"<?{_printable(data)[:40]}>"))

    def unknown_decl(self, data: str) -> None:
        self.hits.append(("html", f"<![{_printable(data)[:40]}]>"))


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every string in nested metadata, named by its top-level key."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"metadata {str(key)!r}" if where == "metadata" else where)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item, where)


def _distinct(examples: list[str]) -> tuple[str, ...]:
    """The first few examples, leaving out any that repeat or sit inside an earlier one."""
    kept: list[str] = []
    for example in examples:
        if not any(example.strip('"') in earlier for earlier in kept):
            kept.append(example)
    return tuple(kept[:_EXAMPLES])


def _excerpt(text: str, start: int, end: int) -> str:
    """The match and what follows it, up to the end of its sentence, as one printable line."""
    stop = min(len(text), max(end, start + _EXAMPLE_CHARS))
    sentence_end = re.search(r"[.!?\n]", text[end:stop])
    snippet = text[start : end + sentence_end.start() + 1 if sentence_end else stop]
    snippet = _printable(snippet)
    return f'"{snippet[: _EXAMPLE_CHARS - 1]}…"' if len(snippet) > _EXAMPLE_CHARS else f'"{snippet}"'


def _printable(text: str) -> str:
    """No control or format characters (a report must not drive the terminal), single spaces."""
    cleaned = "".join(" " if unicodedata.category(c).startswith("C") else c for c in text)
    return " ".join(cleaned.split())
