"""Article text with <script>, <img onerror> and javascript: links is shown as text and never runs.

A fast check parses every fragment ``ui.render`` makes from the hostile article with an HTML tokenizer.
The browser test asks the real UI (Debian's Chromium, real API over the corpus plus the hostile article)
questions that quote the payloads, opens the whole article, and checks that the payloads read as
literal text, that no element they describe exists, and that none of them ran. A canary proves the
check can fail: the same kind of inline handler, inserted as markup, does run on that page.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from ingest import ingest
from service.main import create_app
from settings import ChunkerSettings, Settings
from tests.conftest import CORPUS
from tests.hostile import HOSTILE_BODY, HOSTILE_ID, IMG, INJECTION, LINK, PAYLOADS, SCRIPT, write_hostile_articles
from tests.ui import test_browser as browser_tests
from tests.ui.conftest import serve_in_thread
from ui import render

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

ANSWER_TIMEOUT_MS = browser_tests.ANSWER_TIMEOUT_MS
# The real-browser fixtures of test_browser.py, shared rather than copied (pytest finds fixtures by name).
chromium = browser_tests.chromium
browser = browser_tests.browser
page = browser_tests.page
# Every element and attribute ui.render writes itself; anything else came from the text.
RENDER_TAGS = {"div", "span", "strong", "blockquote", "mark", "a", "p", "h2", "h3", "h4", "ul", "ol", "li"}
RENDER_ATTRIBUTES = {"class", "title", "href", "target", "id"}


class Fragment(HTMLParser):
    """The elements, attributes and visible text of an HTML fragment, as a browser would parse it."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: dict[str, str] = {}
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update((name, value or "") for name, value in attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def sentence_with(payload: str) -> tuple[int, int]:
    """Offsets of the paragraph line holding ``payload`` in the hostile article."""
    at = HOSTILE_BODY.index(payload)
    start = HOSTILE_BODY.rfind("\n", 0, at) + 1
    end = HOSTILE_BODY.find("\n", at)
    return start, len(HOSTILE_BODY) if end < 0 else end


def fragments() -> list[tuple[str, str, str]]:
    """``(name, html, payload)``: every render function given article text that holds a payload."""
    cases = []
    for payload in PAYLOADS:
        start, end = sentence_with(payload)
        sentence = HOSTILE_BODY[start:end]
        cases += [
            ("answer", render.answer_html([(sentence, [1])], titles={1: payload}, fallback=""), payload),
            ("passage", render.highlighted_passage_html(HOSTILE_BODY, start, end), payload),
            ("quote", render.quote_html(sentence), payload),
            (
                "raw passage",
                render.raw_passage_html(rank=1, score=0.5, title=payload, section="", text=sentence),
                payload,
            ),
            ("disclaimer", render.disclaimer_html(sentence), payload),
            ("source safety", render.source_safety_html(sentence), payload),
            (
                "editor's note",
                render.source_safety_html("", editor_note=payload, note_sources=["javascript:alert(1)", payload]),
                payload,
            ),
            ("article", render.article_html(HOSTILE_BODY, highlight=(start, end)), payload),
            (
                "source",
                render.source_html(
                    number=1, title=payload, title_href=None, meta=[payload], links=[], passage=render.quote_html("q")
                ),
                payload,
            ),
        ]
    return cases


FRAGMENTS = fragments()


@pytest.mark.parametrize(
    ("name", "html", "payload"), FRAGMENTS, ids=[f"{name}-{PAYLOADS.index(p)}" for name, _, p in FRAGMENTS]
)
def test_render_shows_markup_from_articles_as_text(name: str, html: str, payload: str) -> None:
    parsed = Fragment(html)
    assert parsed.tags <= RENDER_TAGS, (name, parsed.tags - RENDER_TAGS)
    assert set(parsed.attributes) <= RENDER_ATTRIBUTES, (name, parsed.attributes)
    assert not parsed.attributes.get("href", "").lower().startswith("javascript:")
    assert payload in "".join(parsed.text), f"{name}: the payload must read as the literal text it is"


# --- in a real browser ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def water_api_url(tmp_path_factory: pytest.TempPathFactory, corpus_index: Path, embedder) -> Iterator[str]:
    """The real API over the shipped corpus plus the hostile article (added to a copy: one article embedded)."""
    index_dir = tmp_path_factory.mktemp("water") / "index"
    shutil.copytree(corpus_index, index_dir)
    sources = write_hostile_articles(tmp_path_factory.mktemp("water-src"))
    ingest([CORPUS, sources], index_dir=index_dir, embedder=embedder, chunker=ChunkerSettings(), progress=False)
    with serve_in_thread(create_app(Settings(index_dir=index_dir), embedder=embedder)) as url:
        yield url


@pytest.fixture(scope="module")
def water_ui_url(
    browser: BrowserContext, water_api_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with browser_tests.serve_ui(water_api_url, tmp_path_factory.mktemp("ui-log") / "streamlit.log") as url:
        yield url


@pytest.fixture
def dialogs(page: Page) -> list[str]:
    """Messages of every alert() the page opens (dismissed at once, so nothing blocks)."""
    opened: list[str] = []

    def dismiss(dialog) -> None:
        opened.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    return opened


def flat(text: str) -> str:
    return " ".join(text.split())


def assert_nothing_ran(page: Page, dialogs: list[str]) -> None:
    """No element the payloads describe exists, and none of their code ran, while a canary's did."""
    for selector in ("img[src='x']", "[onerror]", "[onload]", "a[href^='javascript:' i]", "script:not([src])"):
        found = page.evaluate(
            "(selector) => [...document.querySelectorAll(selector)].filter("
            "  (e) => e.tagName !== 'SCRIPT' || e.textContent.includes('hqPwned')).length",
            selector,
        )
        assert found == 0, selector
    # The canary: the same inline handler, inserted as markup, runs here (Streamlit sets no policy against it).
    page.evaluate(
        """() => { const box = document.createElement('div');
                   box.innerHTML = '<img src="canary-missing.png" onerror="window.hqCanary = 1">';
                   document.body.appendChild(box); }"""
    )
    page.wait_for_function("() => window.hqCanary === 1", timeout=ANSWER_TIMEOUT_MS)
    assert page.evaluate("() => window.hqPwned === undefined"), page.evaluate("() => window.hqPwned")
    assert dialogs == []


@browser_tests.slow
@browser_tests.needs_chromium
@pytest.mark.parametrize(
    ("question", "payload"),
    [
        ("does drinking water keep my body cool in hot weather?", SCRIPT),
        ("is thirst a sign i need more water in the heat?", IMG),
    ],
)
def test_quoted_markup_shows_as_text_and_never_runs(
    page: Page, dialogs: list[str], water_api_url: str, water_ui_url: str, question: str, payload: str
) -> None:
    expected = httpx.post(f"{water_api_url}/v1/ask", json={"question": question}, timeout=60).json()
    quotes = [c["quote"] for c in expected["citations"] if c["doc_id"] == HOSTILE_ID and payload in c["quote"]]
    assert quotes, "the answer must quote the payload, or this test checks nothing"
    browser_tests.ask(page, water_ui_url, question)
    answer = page.locator(".hq-answer")
    answer.wait_for(timeout=ANSWER_TIMEOUT_MS)
    page.locator(".hq-disclaimer").wait_for(timeout=ANSWER_TIMEOUT_MS)
    page.locator(".hq-source").first.wait_for(timeout=ANSWER_TIMEOUT_MS)
    assert payload in answer.inner_text(), "the quoted sentence reads with its markup as plain text"
    sources = flat(" ".join(page.locator(".hq-source").all_inner_texts()))
    assert flat(quotes[0]) in sources
    assert_nothing_ran(page, dialogs)
    browser_tests.screenshot(page, f"hostile-answer-{PAYLOADS.index(payload)}.png")


@browser_tests.slow
@browser_tests.needs_chromium
def test_whole_article_shows_every_payload_as_text(page: Page, dialogs: list[str], water_ui_url: str) -> None:
    page.goto(f"{water_ui_url}/?article={HOSTILE_ID}")
    article = page.locator(".hq-article")
    article.wait_for(timeout=ANSWER_TIMEOUT_MS)
    shown = flat(article.inner_text())
    for text in (INJECTION, SCRIPT, IMG, LINK):
        assert flat(text) in shown, text
    assert_nothing_ran(page, dialogs)
    browser_tests.screenshot(page, "hostile-article.png")
