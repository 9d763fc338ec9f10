"""The UI as a person sees it: Debian's Chromium, driven by Playwright, against the real UI and API servers.

Screenshots land in var/screenshots/ (git-ignored). Without /usr/bin/chromium the tests skip, unless
HEALTHQA_REQUIRE_BROWSER=1 (CI), which makes a missing browser a failure.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.switches import REQUIRED
from tests.ui.conftest import free_port, stop_process, wait_until_up
from ui.launch import PROJECT_ROOT, start_ui

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

slow = pytest.mark.slow
# Listed first, so a missing browser skips before any server (or the model) is started.
needs_chromium = pytest.mark.usefixtures("chromium")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"
BROWSER_REQUIRED = "BROWSER" in REQUIRED
ANSWER_TIMEOUT_MS = 60_000
CHAT_PLACEHOLDER = "Ask a question about back or joint pain"


def require_browser(*, required: bool = BROWSER_REQUIRED) -> None:
    """Skip with the reason when there is no browser to drive; fail instead when HEALTHQA_REQUIRE_BROWSER=1."""
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is absent (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "playwright is not installed (pip install playwright; never 'playwright install')"
    if problem is None:
        return
    if required:
        pytest.fail(f"{problem}, and HEALTHQA_REQUIRE_BROWSER=1 makes the browser tests mandatory")
    pytest.skip(problem)


@contextmanager
def serve_ui(api_url: str, log: Path) -> Iterator[str]:
    """``ui.launch.start_ui`` on a free loopback port; yield its URL; stop it (even after a failure)."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HEALTHQA_", "STREAMLIT_"))}
    with log.open("wb") as output:
        process = start_ui(
            host="127.0.0.1",
            port=port,
            api_url=api_url,
            extra_args=["--server.fileWatcherType", "none"],
            environ=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_up(f"http://127.0.0.1:{port}/_stcore/health", process, log)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_process(process, timeout=20)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """The browser to drive, or a skip (a failure with HEALTHQA_REQUIRE_BROWSER=1) when there is none."""
    require_browser()
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def ui_url(browser: BrowserContext, api_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_ui(api_url, tmp_path_factory.mktemp("ui-log") / "streamlit.log") as url:
        yield url


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    page = browser.new_page()
    try:
        yield page
    finally:
        page.close()


def ask(page: Page, url: str | None, question: str) -> None:
    """Open ``url`` (unless None: stay on the page), type ``question`` in the chat box and press Enter."""
    if url is not None:
        page.goto(url)
    box = page.get_by_placeholder(CHAT_PLACEHOLDER)
    box.wait_for(timeout=ANSWER_TIMEOUT_MS)
    box.fill(question)
    box.press("Enter")


def screenshot(page: Page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its own container, so the window is made as tall as the content."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = page.evaluate(
        """() => Math.max(...["stMain", "stSidebarContent", "stAppScrollToBottomContainer", "stMainBlockContainer"].map(
            (id) => document.querySelector(`[data-testid="${id}"]`)?.scrollHeight || 0))"""
    )
    size = page.viewport_size
    page.set_viewport_size({"width": 1280, "height": min(max(int(height), 800), 8000)})
    page.wait_for_timeout(500)  # let Streamlit lay out again and finish fading in new elements
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)
    if size is not None:
        page.set_viewport_size(size)


def tops(page: Page, *selectors: str) -> list[float]:
    """The top of each selector's first element, all read in one script: Streamlit scrolls its chat while an
    answer finishes rendering, so positions read one after another can straddle a scroll."""
    handles = []
    for selector in selectors:
        handle = page.locator(selector).first.element_handle(timeout=5000)
        assert handle is not None, f"{selector} is not shown"
        handles.append(handle)
    found: Any = page.evaluate("(elements) => elements.map((e) => e.getBoundingClientRect().top)", handles)
    return [float(y) for y in found]


@slow
@needs_chromium
def test_question_shows_answer_sources_and_disclaimer(page: Page, ui_url: str) -> None:
    ask(page, ui_url, "is it normal for my knees to ache after the gym?")
    answer = page.locator(".hq-answer")
    answer.wait_for(timeout=ANSWER_TIMEOUT_MS)
    assert "[1]" in answer.inner_text() and "joint pain" in answer.inner_text().lower()
    page.get_by_text("Related articles").wait_for(timeout=ANSWER_TIMEOUT_MS)  # the last part of the answer
    sources = page.locator(".hq-source")
    assert sources.count() >= 2
    assert sources.first.locator("mark").is_visible()
    assert sources.first.get_by_role("link", name="API record").get_attribute("href", timeout=5000)
    disclaimer = page.locator(".hq-disclaimer")
    assert disclaimer.count() == 1, "one short general disclaimer"
    assert disclaimer.is_visible() and "Not medical advice." in disclaimer.inner_text()
    assert "This article is general information" not in disclaimer.inner_text()
    answer_top, disclaimer_top, source_top = tops(page, ".hq-answer", ".hq-disclaimer", ".hq-source")
    assert answer_top < disclaimer_top < source_top
    safety = page.locator(".hq-source .hq-safety")
    assert safety.count() >= 1 and "When to get help:" in safety.first.inner_text()
    texts = [" ".join(t.split()) for t in safety.all_inner_texts()]
    assert len(texts) == len(set(texts)), "each article's safety text once"
    screenshot(page, "answer.png")


@slow
@needs_chromium
def test_red_flag_question_shows_the_emergency_banner_first(page: Page, ui_url: str) -> None:
    ask(page, ui_url, "i cant feel my bum when i wipe and my back is agony")
    banner = page.locator('[data-testid="stAlert"]', has_text="This could be an emergency")
    banner.wait_for(timeout=ANSWER_TIMEOUT_MS)
    page.locator(".hq-answer").wait_for(timeout=ANSWER_TIMEOUT_MS)
    page.locator(".hq-disclaimer").wait_for(timeout=ANSWER_TIMEOUT_MS)
    assert "Call emergency services or go to the emergency department now" in banner.inner_text()
    banner_top, answer_top = tops(page, '[data-testid="stAlert"]', ".hq-answer")
    assert banner_top < answer_top
    screenshot(page, "red-flag.png")


@slow
@needs_chromium
def test_out_of_scope_question_shows_the_abstention(page: Page, ui_url: str) -> None:
    ask(page, ui_url, "best lasagne recipe")
    notice = page.locator('[data-testid="stAlert"]', has_text="No answer from these articles")
    notice.wait_for(timeout=ANSWER_TIMEOUT_MS)
    page.locator(".hq-disclaimer").wait_for(timeout=ANSWER_TIMEOUT_MS)
    assert "The articles here don't cover this question" in notice.inner_text()
    assert "ask a doctor, pharmacist or nurse" in notice.inner_text()
    assert page.locator(".hq-answer").count() == 0 and page.locator(".hq-source").count() == 0
    screenshot(page, "abstention.png")


@slow
@needs_chromium
def test_raw_passages_and_article_view(page: Page, ui_url: str) -> None:
    page.goto(ui_url)
    page.get_by_text("Show raw passages").click()
    page.get_by_role("button", name="what helps sciatica pain down my leg?").click()
    page.locator(".hq-score").nth(4).wait_for(timeout=ANSWER_TIMEOUT_MS)
    assert page.locator(".hq-score").count() == 5
    screenshot(page, "raw-passages.png")
    with page.context.expect_page() as opened:
        page.locator(".hq-source-head a").first.click()
    article = opened.value
    try:
        article.locator("#hq-quote").wait_for(timeout=ANSWER_TIMEOUT_MS)
        assert article.locator(".hq-article h3").count() >= 3
        screenshot(article, "article.png")
    finally:
        article.close()


@slow
@needs_chromium
def test_api_down_shows_a_friendly_message_and_retry(page: Page, tmp_path: Path, closed_url: str) -> None:
    with serve_ui(closed_url, tmp_path / "streamlit.log") as url:
        page.goto(url)
        notice = page.locator('[data-testid="stAlert"]', has_text="isn't answering")
        notice.wait_for(timeout=ANSWER_TIMEOUT_MS)
        retry = page.get_by_role("button", name="Retry")
        retry.wait_for(timeout=ANSWER_TIMEOUT_MS)
        assert "Traceback" not in page.content()
        screenshot(page, "api-down.png")
        retry.click()
        ask(page, None, "what helps sciatica pain down my leg?")
        notice.wait_for(timeout=ANSWER_TIMEOUT_MS)
        retry.wait_for(timeout=ANSWER_TIMEOUT_MS)
        assert "Traceback" not in page.content()


@pytest.mark.parametrize(("required", "outcome"), [(False, pytest.skip.Exception), (True, pytest.fail.Exception)])
def test_missing_browser_skips_unless_required(monkeypatch, required: bool, outcome: type[BaseException]) -> None:
    monkeypatch.setattr(f"{__name__}.CHROMIUM", Path("/nonexistent/chromium"))
    with pytest.raises(outcome, match="/nonexistent/chromium is absent"):
        require_browser(required=required)
