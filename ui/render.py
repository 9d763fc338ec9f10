"""Text to safe HTML and Markdown: every string from an article or the API is escaped here.

No function in this module returns a fragment in which text it was given can act as markup:
HTML goes through ``html.escape`` (attributes too), Markdown through ``md_escape``. The page
(``ui/app.py``) passes only these fragments to ``st.html`` / ``unsafe_allow_html``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from html import escape
from typing import NamedTuple
from urllib.parse import urlencode, urljoin

CONTEXT_CHARS = 150  # on each side of a quote: about 300 characters of surrounding text in all

STYLE = """
<style>
.hq-answer { font-size: 1.1rem; line-height: 1.65; margin: 0.25rem 0 0.5rem 0; }
.hq-cite { font-size: 0.8em; font-weight: 600; color: #1c64b4; white-space: nowrap; cursor: help; }
.hq-disclaimer { border-left: 4px solid #8a8f98; background: rgba(138, 143, 152, 0.12); padding: 0.6rem 0.9rem;
  border-radius: 0.4rem; font-size: 0.9rem; line-height: 1.5; margin: 0.5rem 0; }
.hq-source { border: 1px solid rgba(128, 128, 128, 0.3); border-radius: 0.5rem; padding: 0.7rem 0.9rem;
  margin: 0 0 0.75rem 0; }
.hq-source-head { font-weight: 600; font-size: 1rem; }
.hq-num { color: #1c64b4; margin-right: 0.3rem; }
.hq-meta { font-size: 0.85rem; opacity: 0.75; margin: 0.15rem 0 0.45rem 0; }
.hq-meta a { opacity: 1; }
.hq-passage { border-left: 3px solid #e0b400; margin: 0; padding: 0.2rem 0 0.2rem 0.8rem; font-size: 0.95rem;
  line-height: 1.55; }
.hq-passage mark, .hq-article mark { background: #fff0a0; color: #1a1a1a; padding: 0 0.1rem; border-radius: 0.2rem; }
.hq-safety { border-left: 3px solid #c0392b; background: rgba(192, 57, 43, 0.06); padding: 0.35rem 0.7rem;
  margin: 0.5rem 0 0 0; font-size: 0.9rem; line-height: 1.5; border-radius: 0.3rem; }
.hq-editor-note { border-left: 3px solid #1c64b4; background: rgba(28, 100, 180, 0.07); padding: 0.35rem 0.7rem;
  margin: 0.5rem 0 0 0; font-size: 0.9rem; line-height: 1.5; border-radius: 0.3rem; }
.hq-score { font-family: monospace; font-size: 0.85rem; opacity: 0.8; }
.hq-article { line-height: 1.6; }
.hq-article h2 { font-size: 1.35rem; } .hq-article h3 { font-size: 1.15rem; } .hq-article h4 { font-size: 1.05rem; }
</style>
"""

_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+")
_HEADING = re.compile(r"^(#{1,6})\s+")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
# Markdown (and Streamlit's extensions: $math$, :color[text]) that plain text must not trigger.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}<>#$~|&])")
_MD_LINE_START = re.compile(r"^(\s*)([-+=]|\d+[.)])", re.MULTILINE)
# Markers inserted around a highlight before escaping; control characters never survive into article text.
_OPEN, _CLOSE = "\x02", "\x03"


class Context(NamedTuple):
    """A quote and the text around it, cleaned for display (no Markdown markers, single spaces)."""

    before: str
    quote: str
    after: str


def md_escape(text: str) -> str:
    """Escape ``text`` so that Markdown (and Streamlit's Markdown) shows it literally."""
    return _MD_LINE_START.sub(r"\1\\\2", _MD_SPECIAL.sub(r"\\\1", text))


def attr(text: str) -> str:
    """Escape ``text`` for a double-quoted HTML attribute."""
    return escape(text, quote=True)


def safe_href(url: str, *, base: str | None = None) -> str | None:
    """An http(s) link for ``url``, resolved against ``base`` when relative; ``None`` when there is none.

    Only http and https survive, so an article's ``javascript:`` or ``data:`` url is never a link.
    """
    url = url.strip()
    if base and not re.match(r"^[a-z][a-z0-9+.-]*:", url, re.IGNORECASE):
        url = urljoin(base.rstrip("/") + "/", url.lstrip("/"))
    return url if re.match(r"^https?://", url, re.IGNORECASE) else None


def link(href: str | None, text: str) -> str:
    """``<a>`` opening in a new tab (so the answer stays), or the plain escaped text without a usable href."""
    if href is None:
        return escape(text)
    return f'<a href="{attr(href)}" target="_blank">{escape(text)}</a>'


def md_link(href: str | None, text: str) -> str:
    """A Markdown link (Streamlit opens it in a new tab), or the escaped text without a usable href."""
    if href is None:
        return md_escape(text)
    target = href.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")
    return f"[{md_escape(text)}]({target})"


def article_view_href(doc_id: str, *, start: int | None = None, end: int | None = None) -> str:
    """The UI's own view of an article (``?article=...``), optionally with a passage highlighted."""
    params: dict[str, str | int] = {"article": doc_id}
    if start is not None and end is not None:
        params.update(start=start, end=end)
    return "?" + urlencode(params)


def question_href(question: str) -> str:
    """The page's shareable link to a question (``?q=...``): opening it asks the question."""
    return "?" + urlencode({"q": question})


def passage_context(text: str, start: int, end: int, *, chars: int = CONTEXT_CHARS) -> Context:
    """The quote ``text[start:end]`` with up to ``chars`` characters either side, within its paragraph.

    The context is cut at word boundaries and never crosses a blank line (so a section heading
    is not glued to the quote); list bullets become "•" and line breaks single spaces.
    """
    start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
    before, after = text[max(0, start - chars) : start], text[end : end + chars]
    before_cut = start - chars > 0
    after_cut = end + chars < len(text)
    paragraphs = _BLANK_LINE.split(before)
    if len(paragraphs) > 1:
        before, before_cut = paragraphs[-1], False
    else:
        before = _drop_partial_word(before, side="start") if before_cut else before
    paragraphs = _BLANK_LINE.split(after)
    if len(paragraphs) > 1:
        after, after_cut = paragraphs[0], False
    else:
        after = _drop_partial_word(after, side="end") if after_cut else after
    before, after = _flatten(before), _flatten(after)
    return Context(
        before=("… " if before_cut and before else "") + before.lstrip(),
        quote=_flatten(text[start:end]),
        after=after.rstrip() + (" …" if after_cut and after else ""),
    )


def highlighted_passage_html(text: str, start: int, end: int, *, chars: int = CONTEXT_CHARS) -> str:
    """A ``<blockquote>`` of the quote highlighted with ``<mark>`` in its surrounding text, all escaped."""
    context = passage_context(text, start, end, chars=chars)
    return (
        f'<blockquote class="hq-passage">{escape(context.before)}'
        f"<mark>{escape(context.quote)}</mark>{escape(context.after)}</blockquote>"
    )


def quote_html(quote: str) -> str:
    """The quote alone, highlighted (when the article's text is not to hand)."""
    return f'<blockquote class="hq-passage"><mark>{escape(_flatten(quote))}</mark></blockquote>'


def answer_html(sentences: Iterable[tuple[str, Sequence[int]]], *, titles: dict[int, str], fallback: str) -> str:
    """The answer paragraph: each sentence followed by its [n] markers (hover: the source's title)."""
    parts = []
    for text, citations in sentences:
        markers = "".join(f'<span class="hq-cite" title="{attr(titles.get(n, ""))}">[{n}]</span>' for n in citations)
        parts.append(f"{escape(text)}&nbsp;{markers}" if markers else escape(text))
    body = " ".join(parts) if parts else escape(fallback)
    return f'<div class="hq-answer">{body}</div>'


def disclaimer_html(text: str) -> str:
    """The disclaimer box shown with every answer, abstention and escalation."""
    return f'<div class="hq-disclaimer"><strong>Not medical advice.</strong> {escape(text)}</div>'


def source_html(
    *,
    number: int,
    title: str,
    title_href: str | None,
    meta: Sequence[str],
    links: Sequence[str],
    passage: str,
    safety: str = "",
) -> str:
    """One source card. ``meta`` is plain text (escaped here); ``links``, ``passage`` and ``safety`` come from
    ``link``, ``highlighted_passage_html`` and ``source_safety_html`` (already safe)."""
    details = [escape(m) for m in meta if m] + list(links)
    return (
        f'<div class="hq-source"><div class="hq-source-head"><span class="hq-num">[{number}]</span>'
        f"{link(title_href, title)}</div>"
        f'<div class="hq-meta">{" · ".join(details)}</div>{passage}{safety}</div>'
    )


def source_safety_html(text: str, *, editor_note: str = "", note_sources: Sequence[str] = ()) -> str:
    """A source's own safety advice ("When to get help") and its editor's note, escaped; "" when it has neither."""
    parts = []
    if text.strip():
        parts.append(f'<div class="hq-safety"><strong>When to get help:</strong> {escape(text)}</div>')
    if editor_note.strip():
        links = [link(safe_href(s), _site_of(s)) for s in note_sources if safe_href(s)]
        based_on = f' <span class="hq-meta">(sources: {", ".join(links)})</span>' if links else ""
        parts.append(
            f'<div class="hq-editor-note"><strong>Editor\'s note:</strong> {escape(editor_note)}{based_on}</div>'
        )
    return "".join(parts)


def answer_plain_text(
    *,
    question: str,
    answer: str,
    sources: Sequence[tuple[int, str, str]],
    warnings: Sequence[str] = (),
    disclaimer: str = "",
) -> str:
    """An answer with its numbered sources as plain text, to copy and paste elsewhere.

    Args:
        question: What was asked.
        answer: The answer text with its ``[n]`` markers (or the abstention message).
        sources: ``(number, title, link)`` per citation, in order; ``link`` may be "".
        warnings: Red-flag messages, shown first.
        disclaimer: The general disclaimer, last.
    """
    lines = [f"Question: {question}", ""]
    lines += [f"Warning: {w}" for w in warnings] + ([""] if warnings else [])
    lines += [answer.strip(), ""]
    if sources:
        lines.append("Sources:")
        lines += [f"[{n}] {title}" + (f" <{href}>" if href else "") for n, title, href in sources]
        lines.append("")
    if disclaimer:
        lines.append(f"Not medical advice. {disclaimer}")
    return "\n".join(lines).strip() + "\n"


def _site_of(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0].removeprefix("www.")


def raw_passage_html(*, rank: int, score: float, title: str, section: str, text: str) -> str:
    """A retrieved passage in the raw-passages view, with its rank and score."""
    where = f"{title} — {section}" if section else title
    return (
        f'<div class="hq-source"><div class="hq-source-head"><span class="hq-num">#{rank}</span>{escape(where)} '
        f'<span class="hq-score">score {score:.4f}</span></div>'
        f'<div class="hq-passage">{escape(_flatten(text))}</div></div>'
    )


def article_html(text: str, *, highlight: tuple[int, int] | None = None, skip_title: str | None = None) -> str:
    """An article's Markdown text as simple, escaped HTML: headings, paragraphs and lists.

    Args:
        text: The article text, whose offsets citations refer to.
        highlight: ``(start, end)`` of a passage to wrap in ``<mark>``; ignored when out of range.
        skip_title: Leave out a first-level heading with this text (the page shows the title already).
    """
    text = text.replace(_OPEN, " ").replace(_CLOSE, " ")
    if highlight is not None and 0 <= highlight[0] < highlight[1] <= len(text):
        start, end = highlight
        while start < end and text[start].isspace():  # keep the markers off blank lines and line starts
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        text = text[:start] + _OPEN + text[start:end] + _CLOSE + text[end:]
    marker = _Marker()
    out: list[str] = []
    for block in _BLANK_LINE.split(text.strip()):
        lines = [line for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        heading = _HEADING.match(lines[0])
        if heading:
            title = lines[0][heading.end() :].strip()
            level = len(heading.group(1))
            if not (level == 1 and skip_title and title.replace(_OPEN, "").replace(_CLOSE, "") == skip_title):
                tag = f"h{min(level + 1, 4)}"
                out.append(f"<{tag}>{marker.inline(title)}</{tag}>")
            lines = lines[1:]
        if lines and _LIST_ITEM.match(lines[0]):
            out.append(_list_html(lines, marker))
        elif lines:
            out.append(f"<p>{marker.inline(' '.join(line.strip() for line in lines))}</p>")
    return f'<div class="hq-article">{"".join(out)}</div>'


class _Marker:
    """Turns the highlight markers into balanced ``<mark>`` tags, block by block."""

    def __init__(self) -> None:
        self.inside = False

    def inline(self, text: str) -> str:
        out = ["<mark>"] if self.inside else []
        for part in re.split(f"([{_OPEN}{_CLOSE}])", text):
            if part == _OPEN:
                out.append('<mark id="hq-quote">')
                self.inside = True
            elif part == _CLOSE:
                out.append("</mark>")
                self.inside = False
            else:
                out.append(escape(part))
        if self.inside:
            out.append("</mark>")
        return "".join(out)


def _list_html(lines: list[str], marker: _Marker) -> str:
    items: list[str] = []
    for line in lines:
        item = _LIST_ITEM.match(line)
        if item or not items:
            items.append(line[item.end() :] if item else line.strip())
        else:
            items[-1] += " " + line.strip()
    tag = "ol" if re.match(r"^\s*\d", lines[0]) else "ul"
    return f"<{tag}>" + "".join(f"<li>{marker.inline(i.strip())}</li>" for i in items) + f"</{tag}>"


def _flatten(text: str) -> str:
    """One line: bullets become "•", headings lose their "#", runs of whitespace a single space."""
    text = re.sub(r"(^|\n)[ \t]*(?:[-*+]|\d{1,3}[.)])[ \t]+", r"\1• ", text)
    text = re.sub(r"(^|\n)#{1,6}[ \t]+", r"\1", text)
    return re.sub(r"\s+", " ", text)


def _drop_partial_word(text: str, *, side: str) -> str:
    if side == "start":
        cut = re.search(r"\s", text)
        return text[cut.end() :] if cut else ""
    spaces = [m.start() for m in re.finditer(r"\s", text)]
    return text[: spaces[-1]] if spaces else ""
