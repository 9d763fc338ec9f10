"""The UI's only way to the API: typed results, or an ``ApiError`` whose message can be shown as it is.

Usage example::

    client = get_client("http://127.0.0.1:8000", 15.0)   # one httpx.Client per process (st.cache_resource)
    try:
        answer = client.ask("is it normal for my knees to ache after the gym?", k=5)
    except ApiError as exc:
        st.warning(exc.message)
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, TypeVar
from urllib.parse import quote

import httpx
import streamlit as st
from pydantic import BaseModel, ConfigDict, Field, ValidationError

SearchMode = Literal["hybrid", "dense", "sparse"]
ErrorKind = Literal["unreachable", "timeout", "unavailable", "server", "rejected", "not_found", "bad_response"]
# The problems that may go away by themselves: the page offers a Retry button for these.
RETRYABLE: frozenset[str] = frozenset({"unreachable", "timeout", "unavailable", "server", "bad_response"})


class ApiError(Exception):
    """A request to the API that failed, with a message fit for the person using the UI.

    Args:
        message: What went wrong and what to do, in plain words.
        kind: The family of problem; ``retryable`` follows from it.
        status: The HTTP status, when the API answered at all.
        request_id: The API's request id, to quote when reporting a problem.
    """

    def __init__(
        self, message: str, *, kind: ErrorKind, status: int | None = None, request_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.message, self.kind, self.status, self.request_id = message, kind, status, request_id

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


class _Model(BaseModel):
    # The API may add fields; the UI reads the ones it shows.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Citation(_Model):
    id: int
    doc_id: str
    title: str
    url: str = ""
    chunk_id: str = ""
    quote: str
    start: int
    end: int
    section: str = ""
    reviewed: str | None = None


class Sentence(_Model):
    text: str
    citations: list[int] = Field(default_factory=list)


class RedFlag(_Model):
    level: Literal["emergency", "urgent"]
    rule: str = ""
    message: str
    source: str = ""


class ArticleRef(_Model):
    doc_id: str
    title: str
    url: str = ""


class SourceSafety(_Model):
    doc_id: str
    title: str = ""
    text: str = ""
    editor_note: str = ""
    editor_note_sources: list[str] = Field(default_factory=list)


class Safety(_Model):
    general: str
    sources: list[SourceSafety] = Field(default_factory=list)


class Answer(_Model):
    answer: str
    sentences: list[Sentence] = Field(default_factory=list)
    citations: list[Citation] = Field(default_factory=list)
    abstained: bool
    abstain_reason: str | None = None
    red_flags: list[RedFlag] = Field(default_factory=list)
    disclaimer: str
    related: list[ArticleRef] = Field(default_factory=list)
    confidence: float = 0.0
    index_version: str = ""
    safety: Safety | None = None  # None from an API older than the safety parts: show `disclaimer` instead
    answer_id: str = ""


class FeedbackReceipt(_Model):
    id: int
    created_at: str = ""


class Passage(_Model):
    rank: int
    score: float
    doc_id: str
    title: str
    url: str = ""
    section: str = ""
    text: str


class SearchResults(_Model):
    results: list[Passage]
    index_version: str = ""


class DocumentSummary(_Model):
    doc_id: str
    title: str
    url: str = ""
    summary: str = ""
    reviewed: str | None = None


class DocumentList(_Model):
    documents: list[DocumentSummary]
    index_version: str = ""


class Document(DocumentSummary):
    text: str
    disclaimer: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    index_version: str = ""


class Readiness(_Model):
    status: str
    index_version: str | None = None
    detail: str | None = None


ModelT = TypeVar("ModelT", bound=_Model)


class HealthQAClient:
    """The healthqa query API over HTTP.

    Args:
        api_url: Base URL, e.g. ``http://127.0.0.1:8000``.
        timeout: Seconds to wait for each request.
        transport: An httpx transport to use instead of the network (tests).
    """

    def __init__(self, api_url: str, *, timeout: float, transport: httpx.BaseTransport | None = None) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=self.api_url, timeout=timeout, transport=transport, headers={"user-agent": "healthqa-ui"}
        )

    def ask(self, question: str, *, k: int | None = None) -> Answer:
        """``POST /v1/ask``: the cited answer, or an abstention, with red flags and the disclaimer."""
        body: dict[str, Any] = {"question": question}
        if k is not None:
            body["k"] = k
        return self._call("POST", "/v1/ask", Answer, json=body)

    def feedback(
        self, *, question: str, answer: Answer, rating: Literal["up", "down"], reason: str | None, comment: str
    ) -> FeedbackReceipt:
        """``POST /v1/feedback``: a thumbs up or down on ``answer``, with an optional reason and comment."""
        body: dict[str, Any] = {"question": question, "rating": rating}
        if answer.answer_id:
            body["answer_id"] = answer.answer_id
        else:  # an API without answer ids: name the answer by its version and cited passages
            body.update(index_version=answer.index_version, chunk_ids=[c.chunk_id for c in answer.citations])
        if reason:
            body["reason"] = reason
        if comment.strip():
            body["comment"] = comment
        return self._call("POST", "/v1/feedback", FeedbackReceipt, json=body)

    def search(self, query: str, *, k: int, mode: SearchMode) -> SearchResults:
        """``POST /v1/search``: the top ``k`` passages by one retriever, with their scores."""
        return self._call("POST", "/v1/search", SearchResults, json={"query": query, "k": k, "mode": mode})

    def documents(self) -> DocumentList:
        """``GET /v1/documents``: every article in the served index, without text."""
        return self._call("GET", "/v1/documents", DocumentList)

    def document(self, doc_id: str) -> Document:
        """``GET /v1/documents/{doc_id}``: one article with the text citation offsets refer to."""
        return self._call("GET", self.document_path(doc_id), Document)

    def ready(self) -> Readiness:
        """``GET /readyz``: ``status == "ready"`` with the index version, or ``not_ready`` with the reason."""
        response = self._send("GET", "/readyz")
        if response.status_code == 503:
            return self._parse(response, Readiness)
        return self._result(response, Readiness)

    def document_url(self, doc_id: str) -> str:
        """The absolute URL of an article in the API."""
        return self.api_url + self.document_path(doc_id)

    @staticmethod
    def document_path(doc_id: str) -> str:
        return "/v1/documents/" + quote(doc_id, safe="")

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, model: type[ModelT], *, json: Any = None) -> ModelT:
        return self._result(self._send(method, path, json=json), model)

    def _send(self, method: str, path: str, *, json: Any = None) -> httpx.Response:
        try:
            return self._http.request(method, path, json=json)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ApiError(
                f"The healthqa service isn't answering at {self.api_url}. It may be starting up or stopped; "
                "please try again in a moment.",
                kind="unreachable",
            ) from exc
        except httpx.TimeoutException as exc:
            raise ApiError(
                f"The healthqa service took longer than {self.timeout:g} seconds to answer. It may be busy; "
                "please try again in a moment.",
                kind="timeout",
            ) from exc
        except httpx.TransportError as exc:
            raise ApiError(
                f"The connection to the healthqa service at {self.api_url} broke off ({type(exc).__name__}). "
                "Please try again in a moment.",
                kind="unreachable",
            ) from exc

    def _result(self, response: httpx.Response, model: type[ModelT]) -> ModelT:
        if response.is_success:
            return self._parse(response, model)
        raise _error(response)

    @staticmethod
    def _parse(response: httpx.Response, model: type[ModelT]) -> ModelT:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise ApiError(
                "The healthqa service sent a reply this page doesn't understand; it may be a different version. "
                "Please try again, or tell whoever runs it.",
                kind="bad_response",
                status=response.status_code,
            ) from exc


def _error(response: httpx.Response) -> ApiError:
    """Turn an error response (``{"error": {code, message, request_id, details}}``) into an ``ApiError``."""
    status = response.status_code
    code, message, request_id = "", "", response.headers.get("x-request-id")
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code, message = str(error.get("code") or ""), str(error.get("message") or "")
        request_id = str(error.get("request_id") or request_id or "") or None
    reference = f" (request id {request_id})" if request_id else ""
    if code == "feedback_unavailable":
        return ApiError(
            f"Your feedback could not be saved right now. Please try again later{reference}.",
            kind="unavailable",
            status=status,
            request_id=request_id,
        )
    if status == 503 or code == "index_unavailable":
        return ApiError(
            "The healthqa service is running but has no article index loaded, so it can't answer right now. "
            f"Please try again in a moment. Details: {message or 'service unavailable'}{reference}",
            kind="unavailable",
            status=status,
            request_id=request_id,
        )
    if status >= 500:
        return ApiError(
            f"Something went wrong on the healthqa service's side (HTTP {status}). Please try again; if it keeps "
            f"happening, tell whoever runs it{reference}.",
            kind="server",
            status=status,
            request_id=request_id,
        )
    return ApiError(
        message or f"The healthqa service refused the request (HTTP {status}).",
        kind="not_found" if status == 404 else "rejected",
        status=status,
        request_id=request_id,
    )


@st.cache_resource(show_spinner=False)
def get_client(api_url: str, timeout: float) -> HealthQAClient:
    """One client (and its connection pool) per API address, shared by every session of the app."""
    return HealthQAClient(api_url, timeout=timeout)


class ServiceStatus(NamedTuple):
    """What the sidebar shows about the API: its index and articles, or the problem reaching it."""

    index_version: str | None
    documents: tuple[DocumentSummary, ...]
    problem: str | None = None


@st.cache_resource(ttl=15, show_spinner=False)
def service_status(api_url: str, timeout: float) -> ServiceStatus:
    """``GET /readyz`` and ``GET /v1/documents``, remembered for 15 s (``service_status.clear()`` forgets).

    Never raises: a problem is returned in ``problem``, ready to show.
    """
    client = get_client(api_url, timeout)
    try:
        readiness = client.ready()
        if readiness.status != "ready":
            return ServiceStatus(
                None,
                (),
                "The healthqa service is running but has no article index loaded, so it can't answer right now. "
                f"Details: {readiness.detail or 'not ready'}",
            )
        listing = client.documents()
    except ApiError as exc:
        return ServiceStatus(None, (), exc.message)
    return ServiceStatus(listing.index_version or readiness.index_version, tuple(listing.documents))
