"""The answer page as people use it, in Chromium: Enter asks, earlier questions stay above, ``?q=`` links
answer on open, thumbs up / down reach the feedback store, an answer copies as plain text, and each source
carries its own safety text and editor's note. Screenshots land in var/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
from typer.testing import CliRunner

from cli.main import app as cli_app
from feedback import FeedbackStore
from ingest import ingest
from service.main import create_app
from settings import ChunkerSettings, Settings
from tests import editor_note as note
from tests.ui import test_browser as browser_tests
from tests.ui.conftest import serve_in_thread

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

ANSWER_TIMEOUT_MS = browser_tests.ANSWER_TIMEOUT_MS
# The real-browser fixtures of test_browser.py, shared rather than copied (pytest finds fixtures by name).
chromium = browser_tests.chromium
browser = browser_tests.browser
page = browser_tests.page
ui_url = browser_tests.ui_url
ask, screenshot, tops = browser_tests.ask, browser_tests.screenshot, browser_tests.tops
slow, needs_chromium = browser_tests.slow, browser_tests.needs_chromium

KNEES = "is it normal for my knees to ache after the gym?"
MATTRESS = "does my mattress matter for back pain?"
COMMENT = "It never said <b>when</b> to see someone [bold]really[/bold]"


def wait_for_answers(page: Page, count: int) -> None:
    page.locator(".hq-answer").nth(count - 1).wait_for(timeout=ANSWER_TIMEOUT_MS)
    page.locator(".hq-disclaimer").nth(count - 1).wait_for(timeout=ANSWER_TIMEOUT_MS)


def first_sentence(api_url: str, question: str) -> str:
    return str(httpx.post(f"{api_url}/v1/ask", json={"question": question}, timeout=60).json()["sentences"][0]["text"])


@slow
@needs_chromium
def test_enter_asks_and_earlier_questions_stay_above(page: Page, ui_url: str, api_url: str) -> None:
    ask(page, ui_url, KNEES)
    wait_for_answers(page, 1)
    ask(page, None, MATTRESS)
    wait_for_answers(page, 2)
    assert page.get_by_placeholder(browser_tests.CHAT_PLACEHOLDER).input_value() == "", "the box is ready again"
    questions = page.locator('[data-testid="stChatMessage"]', has_text=KNEES)
    first_top, second_top = tops(
        page,
        f'[data-testid="stChatMessage"]:has-text("{KNEES}")',
        f'[data-testid="stChatMessage"]:has-text("{MATTRESS}")',
    )
    assert first_top < second_top, "newest last"
    assert questions.count() >= 1
    answers = page.locator(".hq-answer")
    assert answers.count() == 2 and page.locator(".hq-disclaimer").count() == 2
    # Each question is answered on its own: as the API answers it alone, whatever came before.
    assert first_sentence(api_url, KNEES) in answers.nth(0).inner_text()
    assert first_sentence(api_url, MATTRESS) in answers.nth(1).inner_text()
    assert parse_qs(urlparse(page.url).query)["q"] == [MATTRESS], "the address shares the latest question"
    screenshot(page, "conversation.png")


@slow
@needs_chromium
def test_a_shared_link_answers_on_open(page: Page, ui_url: str, api_url: str) -> None:
    page.goto(f"{ui_url}/?{urlencode({'q': MATTRESS})}")
    wait_for_answers(page, 1)
    assert first_sentence(api_url, MATTRESS) in page.locator(".hq-answer").inner_text()
    assert page.locator('[data-testid="stChatMessage"]', has_text=MATTRESS).count() >= 1
    link = page.get_by_role("link", name="Link to this question")
    assert parse_qs(urlparse(link.get_attribute("href") or "").query)["q"] == [MATTRESS]
    page.wait_for_timeout(1000)  # a rerun must not ask it a second time
    assert page.locator(".hq-answer").count() == 1
    screenshot(page, "shared-link.png")


@slow
@needs_chromium
def test_thumbs_down_with_reason_and_comment_is_stored_once(page: Page, ui_url: str, feedback_db: Path) -> None:
    question = "what helps sciatica pain down my leg?"
    ask(page, ui_url, question)
    wait_for_answers(page, 1)
    down = page.get_by_role("button", name="Not helpful")
    notice = page.get_by_text("If you send feedback, your question is stored with it")
    notice.wait_for(timeout=ANSWER_TIMEOUT_MS)  # it is drawn after the answer, in the same run
    # The notice stands beside the buttons: both positions read in one script, so the chat's own scrolling
    # while the answer finishes rendering cannot move one between two reads.
    gap = page.evaluate(
        """() => {
            const button = [...document.querySelectorAll('button')].find(b => b.innerText.includes('Not helpful'));
            const text = [...document.querySelectorAll('p, span, div')].filter(
                e => e.children.length === 0 && e.innerText && e.innerText.startsWith('If you send feedback'))[0];
            return Math.abs(button.getBoundingClientRect().top - text.getBoundingClientRect().top);
        }"""
    )
    assert gap < 60, gap
    down.click()
    form = page.locator('[data-testid="stForm"]')
    form.wait_for(timeout=ANSWER_TIMEOUT_MS)
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    selectbox = form.locator('[data-testid="stSelectbox"]')
    option = page.get_by_role("option", name="It doesn't answer my question")
    for attempt in range(6):
        # A click that lands while Streamlit re-renders the form does not open the list (a CI run saw five in a
        # row), so clicks alternate with the keyboard (focus the combobox, arrow down), as a keyboard user opens it.
        if attempt % 2 == 0:
            selectbox.click()
        else:
            selectbox.get_by_role("combobox").focus()
            page.keyboard.press("ArrowDown")
        try:
            option.wait_for(timeout=5_000)
            break
        except PlaywrightTimeoutError:
            page.keyboard.press("Escape")
    try:
        option.click(timeout=5_000)
    except PlaywrightTimeoutError:
        # Below a long answer the list can open outside the viewport, where no click lands (a CI run): choose by
        # keyboard instead, moving the list's focus to the option and pressing Enter, as a keyboard user does.
        for _ in range(8):
            if option.get_attribute("data-focused") == "true":
                break
            page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")
    form.get_by_label("Anything else? (optional)").fill(COMMENT)
    assert "your question is stored" in form.inner_text()
    screenshot(page, "feedback-form.png")
    form.get_by_role("button", name="Send feedback").click()
    page.get_by_text("Thank you for your feedback.").wait_for(timeout=ANSWER_TIMEOUT_MS)
    assert page.get_by_role("button", name="Not helpful").count() == 0
    assert page.get_by_role("button", name="Helpful").count() == 0, "no second vote on the same answer"
    ask(page, None, KNEES)  # the page runs again: the first answer still takes no second vote
    wait_for_answers(page, 2)
    assert page.get_by_role("button", name="Not helpful").count() == 1, "only the new answer can be rated"
    assert page.get_by_text("Thank you for your feedback.").count() == 1
    screenshot(page, "feedback.png")
    stored = [r for r in FeedbackStore(feedback_db).list() if r.question == question]
    assert len(stored) == 1
    assert (stored[0].rating, stored[0].reason, stored[0].comment) == ("down", "unhelpful", COMMENT)
    assert stored[0].chunk_ids, "the cited passages are stored with it"
    listed = CliRunner().invoke(cli_app, ["feedback", "list", "--db", str(feedback_db)], env={"COLUMNS": "250"})
    assert listed.exit_code == 0 and question in listed.output and COMMENT in listed.output


@slow
@needs_chromium
def test_thumbs_up_is_thanked(page: Page, ui_url: str, feedback_db: Path) -> None:
    question = "should I stay in bed with lower back pain?"
    ask(page, ui_url, question)
    wait_for_answers(page, 1)
    page.get_by_role("button", name="Helpful", exact=True).click()
    form = page.locator('[data-testid="stForm"]')
    form.wait_for(timeout=ANSWER_TIMEOUT_MS)
    assert form.locator('[data-testid="stSelectbox"]').count() == 0, "reasons are for a thumbs down"
    form.get_by_role("button", name="Send feedback").click()
    page.get_by_text("Thank you for your feedback.").wait_for(timeout=ANSWER_TIMEOUT_MS)
    stored = [r for r in FeedbackStore(feedback_db).list(rating="up") if r.question == question]
    assert len(stored) == 1 and stored[0].reason is None


@slow
@needs_chromium
def test_an_answer_copies_as_plain_text_with_numbered_sources(page: Page, ui_url: str, api_url: str) -> None:
    body = httpx.post(f"{api_url}/v1/ask", json={"question": KNEES}, timeout=60).json()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=ui_url)
    ask(page, ui_url, KNEES)
    wait_for_answers(page, 1)
    page.get_by_text("Copy this answer as plain text").click()
    code = page.locator('[data-testid="stCode"]').first
    code.wait_for(timeout=ANSWER_TIMEOUT_MS)
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    copy = code.locator("button").first  # Streamlit's own copy button
    for _ in range(5):  # while the expander animates open, the toolbar button moves and a click waits for it
        code.hover()
        try:
            copy.click(timeout=5_000)
            break
        except PlaywrightTimeoutError:
            continue
    else:
        copy.click()
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied.startswith(f"Question: {KNEES}\n")
    assert body["answer"] in copied
    numbered = re.findall(r"^\[(\d+)\] (.+?) <(https?://\S+)>$", copied, re.MULTILINE)
    assert [(int(n), title) for n, title, _ in numbered] == [(c["id"], c["title"]) for c in body["citations"]]
    assert copied.rstrip().endswith(body["safety"]["general"]) and "<mark>" not in copied
    screenshot(page, "copy.png")


# --- an article with an editor's note ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def note_api_url(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[str]:
    corpus = note.write_note_articles(tmp_path_factory.mktemp("note-corpus"))
    index_dir = tmp_path_factory.mktemp("note-index")
    ingest([corpus], index_dir=index_dir, embedder=embedder, chunker=ChunkerSettings(), progress=False)
    settings = Settings(index_dir=index_dir, rate_limit="off", feedback_db=index_dir.parent / "feedback.sqlite")
    with serve_in_thread(create_app(settings, embedder=embedder)) as url:
        yield url


@pytest.fixture(scope="module")
def note_ui_url(browser: BrowserContext, note_api_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with browser_tests.serve_ui(note_api_url, tmp_path_factory.mktemp("ui-log") / "streamlit.log") as url:
        yield url


@slow
@needs_chromium
def test_each_source_shows_its_safety_text_once_and_its_editors_note(page: Page, note_ui_url: str) -> None:
    ask(page, note_ui_url, note.QUESTION)
    wait_for_answers(page, 1)
    page.locator(".hq-source").nth(1).wait_for(timeout=ANSWER_TIMEOUT_MS)
    noted = page.locator(".hq-source", has_text="Knee care after exercise (test article)").first
    twin = page.locator(".hq-source", has_text="Knee care twin (test article)").first
    editor = noted.locator(".hq-editor-note")
    assert editor.count() == 1 and twin.locator(".hq-editor-note").count() == 0
    assert editor.inner_text().startswith("Editor's note: " + note.EDITOR_NOTE), "its markup reads as text"
    assert editor.get_by_role("link", name="nhs.uk").get_attribute("href") == note.NOTE_SOURCE
    safety = " ".join(page.locator(".hq-safety").all_inner_texts())
    assert safety.count("A hot, swollen knee with a fever needs same-day care.") == 1
    assert safety.count("See a physiotherapist if the ache lasts weeks.") == 1
    assert "This article is general information" not in safety, "left to the one general disclaimer"
    assert page.locator(".hq-disclaimer").count() == 1
    screenshot(page, "editor-note.png")
