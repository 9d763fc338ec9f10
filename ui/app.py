"""The healthqa web page: ask about back pain, read the cited answer, its sources and any warning signs.

Run it with ``healthqa ui`` (or ``python -m streamlit run ui/app.py``); it talks to the API at
``HEALTHQA_UI_API_URL``. Every text from the API or an article is escaped in ``ui.render``.
"""

from __future__ import annotations

from typing import NamedTuple, cast

import streamlit as st

from ui import render
from ui.client import (
    Answer,
    ApiError,
    Document,
    HealthQAClient,
    SearchMode,
    SearchResults,
    ServiceStatus,
    get_client,
    service_status,
)
from ui.config import UISettings, get_ui_settings

EXAMPLES = (
    "is it normal for my knees to ache after the gym?",
    "should I stay in bed with lower back pain?",
    "what helps sciatica pain down my leg?",
    "does sitting all day cause back pain?",
)
MODES = {"hybrid": "Hybrid (meaning + keywords)", "dense": "Dense (meaning)", "sparse": "Sparse (keywords, BM25)"}
DEFAULT_K = 5
INTRO = (
    "Answers to questions about back and joint pain, quoted from a small set of reviewed health articles, "
    "each sentence cited. **Not medical advice.** In an emergency, call your local emergency number."
)
FALLBACK_DISCLAIMER = (
    "This is general health information, not medical advice or a diagnosis. If you are worried about a symptom, "
    "talk to a doctor, pharmacist or other qualified clinician. In an emergency, call your local emergency number."
)


class Options(NamedTuple):
    k: int
    show_passages: bool
    mode: SearchMode


class Outcome(NamedTuple):
    """The answer to one (question, k), kept in the session so reruns don't ask again."""

    key: tuple[str, int]
    answer: Answer | None = None
    documents: dict[str, Document] = {}  # never mutated: a shared empty default is safe here
    error: ApiError | None = None


class Passages(NamedTuple):
    key: tuple[str, int, str]
    results: SearchResults | None = None
    error: ApiError | None = None


def main() -> None:
    st.set_page_config(page_title="healthqa: back pain questions", page_icon=":material/healing:")
    st.html(render.STYLE)
    settings = get_ui_settings()
    client = get_client(settings.api_url, settings.timeout)
    status = service_status(settings.api_url, settings.timeout)
    options = sidebar(settings, status)
    doc_id = st.query_params.get("article")
    if doc_id:
        article_page(client, settings, doc_id)
    else:
        ask_page(client, settings, status, options)


# --- sidebar ---------------------------------------------------------------------------------------------


def sidebar(settings: UISettings, status: ServiceStatus) -> Options:
    with st.sidebar:
        st.header("Retrieval settings")
        k = st.slider(
            "Passages to retrieve (k)",
            min_value=1,
            max_value=20,
            value=DEFAULT_K,
            key="k",
            help="How many article passages the answer is chosen from.",
        )
        show = st.toggle("Show raw passages", key="show_passages", help="List what the search finds, with scores.")
        mode = st.selectbox(
            "Search mode for raw passages",
            options=list(MODES),
            format_func=MODES.__getitem__,
            key="mode",
            disabled=not show,
        )
        st.header("Service")
        if status.problem:
            st.caption(":material/cloud_off: The healthqa service isn't available right now.")
        else:
            st.markdown(
                f"Index **{render.md_escape(status.index_version or '?')}** · **{len(status.documents)}** articles"
            )
            with st.expander("Browse the articles"):
                items = "".join(
                    f"<li>{render.link(render.article_view_href(d.doc_id), d.title)}</li>" for d in status.documents
                )
                st.html(f"<ul>{items}</ul>")
        st.caption(f"API: {render.md_escape(settings.api_url)}")
    return Options(k=int(k), show_passages=bool(show), mode=cast(SearchMode, mode))


# --- the question page ----------------------------------------------------------------------------------

REASONS = {
    "wrong": "It is wrong",
    "unhelpful": "It doesn't answer my question",
    "unsafe": "It could be unsafe",
    "outdated": "It is out of date",
    "other": "Something else",
}
FEEDBACK_NOTICE = "If you send feedback, your question is stored with it so that the team can review the answer."
THANKS = "Thank you for your feedback."


class Turn(NamedTuple):
    """One question of the session, and its outcome once asked; each question is answered on its own."""

    number: int
    question: str
    outcome: Outcome | None = None


def ask_page(client: HealthQAClient, settings: UISettings, status: ServiceStatus, options: Options) -> None:
    st.title("healthqa")
    st.markdown(INTRO)
    _ask_from_url()
    turns: list[Turn] = st.session_state.setdefault("turns", [])
    if status.problem and not turns:
        show_problem(status.problem, retry_key="retry-status")
    if not turns:
        st.caption("Type your question in the box at the bottom and press Enter, or try an example:")
        columns = st.columns(2)
        for number, example in enumerate(EXAMPLES):
            columns[number % 2].button(
                example, key=f"example-{number}", on_click=_ask, args=(example,), width="stretch"
            )
    for position, turn in enumerate(turns):
        if turn.outcome is None:  # just asked
            with st.spinner("Looking through the articles…"):
                turn = turns[position] = turn._replace(outcome=fetch_outcome(client, turn.question, options.k))
        show_turn(turn, client=client, settings=settings)
    if st.session_state.get("blank"):
        st.info("Type a question first, or pick one of the examples.")
    if turns and options.show_passages:
        show_passages(_passages(client, turns[-1].question, options))
    st.chat_input("Ask a question about back or joint pain", key="question", on_submit=_submit)


def _ask(question: str) -> None:
    """Add ``question`` to the session (answered on this run) and put it in the page's URL to share."""
    question = question.strip()
    st.session_state["blank"] = not question
    if not question:
        return
    turns: list[Turn] = st.session_state.setdefault("turns", [])
    turns.append(Turn(len(turns) + 1, question))
    st.session_state["url_question"] = question
    st.query_params["q"] = question


def _submit() -> None:
    _ask(str(st.session_state.get("question") or ""))


def _ask_from_url() -> None:
    """A shared link (``?q=...``) asks its question once, when the page opens with it."""
    question = st.query_params.get("q")
    if question and question != st.session_state.get("url_question"):
        _ask(question)


def _retry(number: int | None = None) -> None:
    """Ask turn ``number`` again (and refresh the service status)."""
    turns: list[Turn] = st.session_state.get("turns", [])
    st.session_state["turns"] = [t._replace(outcome=None) if t.number == number else t for t in turns]
    st.session_state.pop("passages", None)
    service_status.clear()


def fetch_outcome(client: HealthQAClient, question: str, k: int) -> Outcome:
    """Ask, then fetch each cited article once (its text holds the context around the quotes)."""
    try:
        answer = client.ask(question, k=k)
    except ApiError as exc:
        return Outcome(key=(question, k), error=exc)
    documents: dict[str, Document] = {}
    for citation in answer.citations:
        if citation.doc_id not in documents:
            try:
                documents[citation.doc_id] = client.document(citation.doc_id)
            except ApiError:
                continue  # the source card then shows the quote without its surroundings
    return Outcome(key=(question, k), answer=answer, documents=documents)


def _passages(client: HealthQAClient, question: str, options: Options) -> Passages:
    key = (question, options.k, options.mode)
    passages: Passages | None = st.session_state.get("passages")
    if passages is None or passages.key != key:
        try:
            passages = Passages(key, results=client.search(question, k=options.k, mode=options.mode))
        except ApiError as exc:
            passages = Passages(key, error=exc)
        st.session_state["passages"] = passages
    return passages


# --- pieces of the page ---------------------------------------------------------------------------------


def show_turn(turn: Turn, *, client: HealthQAClient, settings: UISettings) -> None:
    """The question, then its answer (or what went wrong), as a pair of chat messages."""
    with st.chat_message("user", avatar=":material/person:"):
        st.markdown(render.md_escape(turn.question))
        st.html(
            f'<div class="hq-meta">{render.link(render.question_href(turn.question), "Link to this question")}</div>'
        )
    outcome = turn.outcome
    assert outcome is not None
    with st.chat_message("assistant", avatar=":material/healing:"):
        if outcome.error is not None:
            show_error(outcome.error, retry_key=f"retry-ask-{turn.number}", number=turn.number)
        elif outcome.answer is not None:
            show_answer(outcome.answer, outcome.documents, client=client, settings=settings, turn=turn)


def show_problem(message: str, *, retry_key: str, number: int | None = None) -> None:
    """The API is down, slow or not ready: say so kindly and offer to try again."""
    st.warning(render.md_escape(message), icon=":material/cloud_off:", title="The healthqa service isn't available")
    st.button("Retry", key=retry_key, on_click=_retry, args=(number,), icon=":material/refresh:")


def show_error(error: ApiError, *, retry_key: str, number: int | None = None) -> None:
    if error.retryable:
        show_problem(error.message, retry_key=retry_key, number=number)
    else:
        st.warning(
            render.md_escape(error.message),
            icon=":material/edit_note:",
            title="The service couldn't take this question",
        )


def show_answer(
    answer: Answer,
    documents: dict[str, Document],
    *,
    client: HealthQAClient,
    settings: UISettings,
    turn: Turn | None = None,
) -> None:
    """Red flags first, then the answer (or the abstention), one short disclaimer, feedback and copy, then the
    sources, each with its own safety advice, and related articles."""
    for flag in answer.red_flags:
        source = render.safe_href(flag.source)
        based_on = f"  \nBased on: {render.md_link(source, _site(source))}" if source else ""
        if flag.level == "emergency":
            st.error(
                render.md_escape(flag.message) + based_on,
                icon=":material/emergency:",
                title="This could be an emergency",
            )
        else:
            st.warning(
                render.md_escape(flag.message) + based_on, icon=":material/warning:", title="Get medical advice today"
            )
    if answer.abstained:
        heading = {
            "instructions": "This service only answers health questions.",
            "dose": "This service gives no medicine doses",
        }.get(answer.abstain_reason or "", "No answer from these articles")
        st.info(render.md_escape(answer.answer), icon=":material/search_off:", title=heading)
    else:
        st.subheader("Answer")
        titles = {c.id: c.title for c in answer.citations}
        st.html(
            render.answer_html(((s.text, s.citations) for s in answer.sentences), titles=titles, fallback=answer.answer)
        )
    general = answer.safety.general if answer.safety is not None else answer.disclaimer
    st.html(render.disclaimer_html(general or FALLBACK_DISCLAIMER))
    if turn is not None:
        show_feedback(answer, turn, client=client)
        show_copy(answer, turn, client=client, settings=settings)
    if answer.citations:
        st.subheader("Sources")
        safety = {s.doc_id: s for s in answer.safety.sources} if answer.safety is not None else {}
        for citation in answer.citations:
            document = documents.get(citation.doc_id)
            if document is not None and document.text[citation.start : citation.end] == citation.quote:
                passage = render.highlighted_passage_html(document.text, citation.start, citation.end)
            else:  # the article changed since (a reload), or could not be fetched
                passage = render.quote_html(citation.quote)
            own = safety.pop(citation.doc_id, None)  # with the article's first citation only
            st.html(
                render.source_html(
                    number=citation.id,
                    title=citation.title,
                    title_href=render.article_view_href(citation.doc_id, start=citation.start, end=citation.end),
                    meta=[citation.section, f"Reviewed {citation.reviewed}" if citation.reviewed else ""],
                    links=_article_links(client, settings, citation.doc_id, citation.url),
                    passage=passage,
                    safety=render.source_safety_html(
                        own.text, editor_note=own.editor_note, note_sources=own.editor_note_sources
                    )
                    if own is not None
                    else "",
                )
            )
    if answer.related:
        st.subheader("Related articles")
        items = "".join(f"<li>{render.link(render.article_view_href(a.doc_id), a.title)}</li>" for a in answer.related)
        st.html(f"<ul>{items}</ul>")


def show_feedback(answer: Answer, turn: Turn, *, client: HealthQAClient) -> None:
    """Thumbs up or down, then an optional reason and comment, then a thank-you: one vote per answer."""
    votes: dict[int, str] = st.session_state.setdefault("votes", {})
    key = f"feedback-{turn.number}"
    if votes.get(turn.number) == "sent":
        st.success(THANKS, icon=":material/volunteer_activism:")
        return
    rating = st.session_state.get(f"{key}-rating")
    if rating is None:
        up, down, notice = st.columns([1.1, 1.4, 3.5], vertical_alignment="center")
        up.button("Helpful", key=f"{key}-up", icon=":material/thumb_up:", on_click=_rate, args=(key, "up"))
        down.button("Not helpful", key=f"{key}-down", icon=":material/thumb_down:", on_click=_rate, args=(key, "down"))
        notice.caption(FEEDBACK_NOTICE)
        return
    with st.form(f"{key}-form", border=True):
        st.markdown("**You found this helpful.**" if rating == "up" else "**You found this not helpful.**")
        reason = None
        if rating == "down":
            reason = st.selectbox(
                "What was wrong with it? (optional)",
                options=list(REASONS),
                format_func=REASONS.__getitem__,
                index=None,
                key=f"{key}-reason",
                placeholder="Choose a reason",
            )
        comment = st.text_area("Anything else? (optional)", key=f"{key}-comment", max_chars=1000, height=80)
        st.caption(FEEDBACK_NOTICE)
        send = st.form_submit_button("Send feedback", type="primary")
    if send:
        try:
            client.feedback(question=turn.question, answer=answer, rating=rating, reason=reason, comment=comment)
        except ApiError as exc:
            st.warning(render.md_escape(exc.message), icon=":material/cloud_off:", title="Feedback not sent")
            return
        votes[turn.number] = "sent"
        st.rerun()  # the thank-you replaces the form


def _rate(key: str, rating: str) -> None:
    st.session_state[f"{key}-rating"] = rating


def show_copy(answer: Answer, turn: Turn, *, client: HealthQAClient, settings: UISettings) -> None:
    """The answer with its numbered sources as plain text, with Streamlit's copy button."""
    sources = []
    for citation in answer.citations:
        href = render.safe_href(citation.url, base=settings.article_base_url) or client.document_url(citation.doc_id)
        sources.append((citation.id, citation.title, href))
    text = render.answer_plain_text(
        question=turn.question,
        answer=answer.answer,
        sources=sources,
        warnings=[flag.message for flag in answer.red_flags],
        disclaimer=answer.safety.general if answer.safety is not None else answer.disclaimer,
    )
    with st.expander("Copy this answer as plain text", icon=":material/content_copy:"):
        st.code(text, language=None, wrap_lines=True)


def show_passages(passages: Passages) -> None:
    mode = passages.key[2]
    st.subheader(f"Raw passages ({MODES.get(mode, mode)}, k={passages.key[1]})")
    st.caption("What the search returns before any answer is composed; scores are on each retriever's own scale.")
    if passages.error is not None:
        st.warning(render.md_escape(passages.error.message), icon=":material/cloud_off:")
        return
    assert passages.results is not None
    if not passages.results.results:
        st.caption("No passages found.")
    for passage in passages.results.results:
        st.html(
            render.raw_passage_html(
                rank=passage.rank, score=passage.score, title=passage.title, section=passage.section, text=passage.text
            )
        )


def _article_links(client: HealthQAClient, settings: UISettings, doc_id: str, url: str) -> list[str]:
    links = []
    original = render.safe_href(url, base=settings.article_base_url)
    if original is not None:
        links.append(render.link(original, "original article"))
    links.append(render.link(client.document_url(doc_id), "API record"))
    return links


def _site(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0].removeprefix("www.")


# --- one article ----------------------------------------------------------------------------------------


def article_page(client: HealthQAClient, settings: UISettings, doc_id: str) -> None:
    """An article in full, the cited passage (``start``/``end`` query parameters) highlighted."""
    st.button("Ask a question", on_click=st.query_params.clear, icon=":material/arrow_back:")
    try:
        document = client.document(doc_id)
    except ApiError as exc:
        if exc.retryable:
            show_problem(exc.message, retry_key="retry-article")
        else:
            st.warning(f"No article to show: {render.md_escape(exc.message)}", icon=":material/article:")
        return
    st.title(render.md_escape(document.title))
    meta = [f"Reviewed {document.reviewed}" if document.reviewed else "", f"index {document.index_version}"]
    st.caption(" · ".join(render.md_escape(m) for m in meta if m))
    highlight = _highlight(len(document.text))
    if highlight is not None:
        st.caption("The passage cited, highlighted below too:")
        st.html(render.highlighted_passage_html(document.text, *highlight))
    st.html(render.disclaimer_html(document.disclaimer or FALLBACK_DISCLAIMER))
    st.html(render.article_html(document.text, highlight=highlight, skip_title=document.title))
    sources = [s for s in document.metadata.get("sources") or [] if isinstance(s, str)]
    links = [render.link(render.safe_href(s), s) for s in sources]
    if links:
        st.subheader("Based on")
        st.html("<ul>" + "".join(f"<li>{item}</li>" for item in links) + "</ul>")
    st.html('<div class="hq-meta">' + " · ".join(_article_links(client, settings, doc_id, document.url)) + "</div>")


def _highlight(length: int) -> tuple[int, int] | None:
    try:
        start, end = int(st.query_params.get("start", "")), int(st.query_params.get("end", ""))
    except ValueError:
        return None
    return (start, end) if 0 <= start < end <= length else None


main()
