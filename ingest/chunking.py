"""Split a document into sentences and token-bounded chunks.

Sentence boundaries come from blingfire (a fast, rule-based segmenter that
returns character offsets); the document's structure (Markdown headings,
list items, blank-line paragraphs, short title lines) is read here first so
that headings never become sentences and list markers never start one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import blingfire

from index import Chunk, Document, PreparedDocument, Span
from settings import ChunkerSettings

TokenCounter = Callable[[Sequence[str]], list[int]]

_MARKDOWN_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(?P<text>.*?)\s*#*\s*$")
_LIST_MARKER = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+")
_LEADING_MARKER = re.compile(r"^(?:[-*+•]|\d{1,3}[.)])\s+")
_ONLY_MARKER = re.compile(r"^(?:[-*+•]|\d{1,3}[.)]|\(?\d{1,3}\))$")
_ENDS_WITH_ABBREVIATION = re.compile(r"(?:^|\s)(?:Dr|Mr|Mrs|Ms|Prof|St|vs|approx|No)\.$")
_HEADING_LINE_MAX_WORDS = 12
_TERMINAL = (".", "!", "?", ":", ";", '"', "”", ")", "'", "’")
_SPECIAL_TOKENS = 2  # [CLS] and [SEP]: counted once per chunk, not per sentence


@dataclass(frozen=True)
class _Block:
    """A paragraph or a list item (with any lines that continue it), and what lies above it."""

    start: int
    end: int
    section: str
    list_item: bool
    after_heading: bool  # a heading lies between this block and the one before it


def split_sentences(document: Document) -> list[tuple[Span, str]]:
    """Sentences of a document, with their block marks, and the section heading each falls under.

    Returns:
        ``(span, section)`` pairs in document order; ``span.text`` equals
        ``document.text[span.start:span.end]``, and ``span.block`` counts the document's
        paragraphs and list items from 0.
    """
    spans: list[tuple[Span, str]] = []
    heading_above = False  # a heading since the last sentence (a block can hold no sentence)
    for ordinal, block in enumerate(_blocks(document.text, title=document.title)):
        heading_above = heading_above or block.after_heading
        offsets = _sentence_offsets(document.text, block.start, block.end)
        for i, (start, end) in enumerate(offsets):
            span = Span(
                start,
                end,
                document.text[start:end],
                block=ordinal,
                in_list_item=block.list_item,
                starts_list_item=block.list_item and i == 0,
                follows_heading=heading_above,
            )
            spans.append((span, block.section))
            heading_above = False
    return spans


def _blocks(text: str, *, title: str) -> list[_Block]:
    """Paragraphs and list items, with their section; headings set the section."""
    blocks: list[_Block] = []
    section = ""
    open_start: int | None = None
    open_end = 0
    open_lines = 0
    open_item = False
    heading_above = False
    title_key = title.strip().casefold()

    def close() -> None:
        nonlocal open_start, section, heading_above
        if open_start is None:
            return
        content = text[open_start:open_end]
        if open_lines == 1 and _looks_like_heading(content, title_key):
            section = "" if content.strip().casefold() == title_key else content.strip()
            # A short list item read as a title line sets the section, but it is no heading over the
            # items that follow it: they are still its list's items.
            heading_above = heading_above or not open_item
        else:
            blocks.append(_Block(open_start, open_end, section, list_item=open_item, after_heading=heading_above))
            heading_above = False
        open_start = None

    offset = 0
    for line in text.splitlines(keepends=True):
        line_start, offset = offset, offset + len(line)
        stripped = line.strip()
        content_end = line_start + len(line.rstrip())
        if not stripped:
            close()
            continue
        heading = _MARKDOWN_HEADING.match(line)
        if heading:
            close()
            heading_text = heading.group("text").strip()
            section = "" if heading_text.casefold() == title_key else heading_text
            heading_above = True
            continue
        marker = _LIST_MARKER.match(line)
        if marker:
            close()
            open_start, open_end, open_lines = line_start + marker.end(), content_end, 1
            open_item = True
            continue
        if open_start is None:
            open_start = line_start + (len(line) - len(line.lstrip()))
            open_end, open_lines, open_item = content_end, 1, False
        else:
            open_end, open_lines = content_end, open_lines + 1
    close()
    return blocks


def _looks_like_heading(line: str, title_key: str) -> bool:
    stripped = line.strip()
    if stripped.casefold() == title_key:
        return True
    return (
        not stripped.endswith(_TERMINAL)
        and len(stripped.split()) <= _HEADING_LINE_MAX_WORDS
        and not _LEADING_MARKER.match(stripped)
    )


def _sentence_offsets(text: str, start: int, end: int) -> list[tuple[int, int]]:
    segment = text[start:end]
    _, offsets = blingfire.text_to_sentences_and_offsets(segment)
    merged: list[tuple[int, int]] = []
    for local_start, local_end in offsets:
        piece = segment[local_start:local_end]
        marker = _LEADING_MARKER.match(piece)
        if marker:
            local_start += marker.end()
            piece = segment[local_start:local_end]
        if not piece.strip() or _ONLY_MARKER.match(piece.strip()):
            continue
        if merged and _ENDS_WITH_ABBREVIATION.search(segment[merged[-1][0] : merged[-1][1]]):
            merged[-1] = (merged[-1][0], local_end)
            continue
        merged.append((local_start, local_end))
    return [(start + a, start + b) for a, b in merged]


def chunk_document(document: Document, *, count_tokens: TokenCounter, settings: ChunkerSettings) -> PreparedDocument:
    """Cut a document into chunks of whole sentences that fit the token budget.

    A sentence that alone exceeds the budget is cut into word windows that
    fit, so every chunk's ``n_tokens`` is ``<= settings.chunk_tokens``.

    Args:
        document: The document to split.
        count_tokens: The embedding model's token counter (special tokens included).
        settings: Budget, overlap and context settings.
    """
    sentences, sections = _fitting_sentences(document, count_tokens, settings)
    if not sentences:
        return PreparedDocument(document, (), ())
    lengths = [n - _SPECIAL_TOKENS for n in count_tokens([s.text for s in sentences])]
    chunks: list[Chunk] = []
    first = 0
    while first < len(sentences):
        last = _last_fitting(document, sentences, sections, lengths, first, count_tokens, settings)
        chunks.append(_make_chunk(document, sentences, sections, first, last, len(chunks), count_tokens, settings))
        if last + 1 >= len(sentences):
            break
        next_first = last + 1 - settings.chunk_overlap
        # Overlap only within a section, and always move forward.
        if next_first <= first or sections[next_first] != sections[last + 1]:
            next_first = last + 1
        first = next_first
    return PreparedDocument(document, tuple(sentences), tuple(chunks))


def _context_prefix(document: Document, section: str, settings: ChunkerSettings) -> str:
    if not settings.contextualize:
        return ""
    parts = [document.title.strip()]
    if section and section.casefold() != document.title.strip().casefold():
        parts.append(section)
    prefix = " — ".join(p for p in parts if p)
    return f"{prefix}\n" if prefix else ""


def _fitting_sentences(
    document: Document, count_tokens: TokenCounter, settings: ChunkerSettings
) -> tuple[list[Span], list[str]]:
    """Sentences, with any too long for one chunk cut into word windows."""
    pairs = split_sentences(document)
    if not pairs:
        return [], []
    prefixes = [_context_prefix(document, section, settings) for _, section in pairs]
    totals = count_tokens([prefix + span.text for (span, _), prefix in zip(pairs, prefixes, strict=True)])
    sentences: list[Span] = []
    sections: list[str] = []
    for (span, section), prefix, total in zip(pairs, prefixes, totals, strict=True):
        if total <= settings.chunk_tokens:
            sentences.append(span)
            sections.append(section)
            continue
        budget = settings.chunk_tokens - count_tokens([prefix])[0]
        for piece in _word_windows(document.text, span, budget, count_tokens):
            sentences.append(piece)
            sections.append(section)
    return sentences, sections


def _word_windows(text: str, span: Span, budget: int, count_tokens: TokenCounter) -> list[Span]:
    """Cut one over-long sentence at word boundaries into pieces of <= budget tokens."""
    words = [(m.start() + span.start, m.end() + span.start) for m in re.finditer(r"\S+", span.text)]
    word_tokens = [n - _SPECIAL_TOKENS for n in count_tokens([text[a:b] for a, b in words])]
    pieces: list[Span] = []
    piece_start, used = 0, 0
    for i, tokens in enumerate(word_tokens):
        if i > piece_start and used + tokens > budget - _SPECIAL_TOKENS:
            pieces.append(_piece(text, span, words[piece_start][0], words[i - 1][1]))
            piece_start, used = i, 0
        used += tokens
    pieces.append(_piece(text, span, words[piece_start][0], words[-1][1]))
    # A single "word" longer than the budget (a URL, a gene sequence) is cut by tokens.
    return [p for piece in pieces for p in _split_overlong_word(text, piece, budget, count_tokens)]


def _split_overlong_word(text: str, piece: Span, budget: int, count_tokens: TokenCounter) -> list[Span]:
    if count_tokens([piece.text])[0] <= budget:
        return [piece]
    middle = (piece.start + piece.end) // 2
    halves = (_piece(text, piece, piece.start, middle), _piece(text, piece, middle, piece.end))
    return [part for half in halves for part in _split_overlong_word(text, half, budget, count_tokens)]


def _piece(text: str, sentence: Span, start: int, end: int) -> Span:
    """Part of a sentence: in the sentence's block, and only the first part starts an item or follows a heading."""
    first = start == sentence.start
    return replace(
        sentence,
        start=start,
        end=end,
        text=text[start:end],
        starts_list_item=sentence.starts_list_item and first,
        follows_heading=sentence.follows_heading and first,
    )


def _last_fitting(
    document: Document,
    sentences: list[Span],
    sections: list[str],
    lengths: list[int],
    first: int,
    count_tokens: TokenCounter,
    settings: ChunkerSettings,
) -> int:
    """Index of the last sentence that fits in a chunk starting at ``first``."""
    prefix_tokens = count_tokens([_context_prefix(document, sections[first], settings)])[0] - _SPECIAL_TOKENS
    used = _SPECIAL_TOKENS + prefix_tokens + lengths[first]
    last = first
    while last + 1 < len(sentences) and sections[last + 1] == sections[first]:
        if used + lengths[last + 1] > settings.chunk_tokens:
            break
        last += 1
        used += lengths[last]
    return last


def _make_chunk(
    document: Document,
    sentences: list[Span],
    sections: list[str],
    first: int,
    last: int,
    ordinal: int,
    count_tokens: TokenCounter,
    settings: ChunkerSettings,
) -> Chunk:
    # Token counts of parts can differ slightly from the count of the whole;
    # measure the real text and shed sentences until it fits.
    while True:
        start, end = sentences[first].start, sentences[last].end
        text = document.text[start:end]
        embed_text = _context_prefix(document, sections[first], settings) + text
        n_tokens = count_tokens([embed_text])[0]
        if n_tokens <= settings.chunk_tokens or last == first:
            break
        last -= 1
    return Chunk(
        doc_id=document.doc_id,
        ordinal=ordinal,
        section=sections[first],
        start=start,
        end=end,
        text=text,
        sentences=tuple(range(first, last + 1)),
        embed_text=embed_text,
        n_tokens=n_tokens,
    )
