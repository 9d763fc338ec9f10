"""The HTTP routes: parse, call ``qa`` or ``index``, return."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.deps import (
    CatalogueDep,
    FeedbackStoreDep,
    HolderDep,
    IndexDep,
    MetricsDep,
    QASettingsDep,
    SettingsDep,
    require_admin,
)
from service.errors import ServiceError
from service.feedback import (
    MAX_COMMENT_CHARS,
    FeedbackEntry,
    FeedbackError,
    FeedbackUnavailableError,
    answer_id_for,
    parse_answer_id,
)
from service.qa import Answer, QuestionError, answer_question, answer_to_dict, clean_question
from service.schemas import (
    AskRequest,
    AskResponse,
    DocumentList,
    DocumentPublic,
    DocumentSummary,
    ErrorResponse,
    FeedbackCreated,
    FeedbackRequest,
    HealthResponse,
    ReloadResponse,
    SearchRequest,
    SearchResponse,
    SearchResultPublic,
)
from service.state import LOAD_ERRORS

logger = logging.getLogger(__name__)
router = APIRouter()
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})  # never rate limited, capped or timed out
ADMIN_PATHS = frozenset({"/v1/admin/reload"})  # rate limited, but never capped or timed out
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}}
LIMITED: dict[int | str, dict[str, Any]] = {
    429: {
        "model": ErrorResponse,
        "description": "Too many requests from this client (HEALTHQA_RATE_LIMIT): rate_limited",
        "headers": _RETRY_AFTER,
    },
}
BUSY: dict[int | str, dict[str, Any]] = {
    **LIMITED,
    503: {
        "model": ErrorResponse,
        "description": "No index is loaded (index_unavailable), or the service is at its concurrency cap "
        "(overloaded, with Retry-After)",
        "headers": _RETRY_AFTER,
    },
    504: {"model": ErrorResponse, "description": "The request took longer than HEALTHQA_REQUEST_TIMEOUT_S: timeout"},
}
ERRORS: dict[int | str, dict[str, Any]] = {
    **{
        code: {"model": ErrorResponse, "description": description}
        for code, description in {
            400: "The body is not one JSON document: empty, not JSON, not valid UTF-8, nested too deep",
            408: "The body did not arrive within HEALTHQA_REQUEST_TIMEOUT_S",
            413: "Request body too large",
            415: "The body was not sent as JSON (content-type: application/json)",
            422: "A JSON body with wrong fields (empty or over-long question, unknown field, k out of range)",
        }.items()
    },
    **BUSY,
}


@router.post("/v1/ask", response_model=AskResponse, responses=ERRORS, tags=["answers"])
async def ask(
    request: AskRequest,
    index: IndexDep,
    settings: SettingsDep,
    qa: QASettingsDep,
    catalogue: CatalogueDep,
    metrics: MetricsDep,
) -> AskResponse:
    """Answer a question with sentences quoted from the articles, each cited; abstain when they don't cover it.

    Red flags in the question come first in `red_flags`, whatever the answer.
    """
    question = _clean(request.question, field="question", limit=settings.max_question_chars)
    answer = await run_in_threadpool(answer_question, question, index, settings=qa, catalogue=catalogue, k=request.k)
    _observe(answer, metrics, log_question=settings.log_questions)
    body = answer_to_dict(answer)
    body["answer_id"] = answer_id_for(answer.index_version, [c.chunk_id for c in answer.citations])
    return AskResponse.model_validate(body)


@router.post(
    "/v1/feedback",
    response_model=FeedbackCreated,
    status_code=201,
    responses={
        **ERRORS,
        404: {"model": ErrorResponse, "description": "The answer_id is not one /v1/ask gave out: unknown_answer"},
        409: {
            "model": ErrorResponse,
            "description": "answer_id and index_version / chunk_ids name different answers: answer_mismatch",
        },
        422: {
            "model": ErrorResponse,
            "description": "Invalid feedback (no answer_id nor index_version and chunk_ids, a reason with a thumbs "
            "up, an over-long question or comment, unknown field)",
        },
        503: {
            "model": ErrorResponse,
            "description": "The feedback file cannot be written (feedback_unavailable: disk full, read-only), or "
            "the service is at its concurrency cap (overloaded, with Retry-After)",
            "headers": BUSY[503]["headers"],
        },
    },
    tags=["feedback"],
)
async def feedback(
    request: FeedbackRequest, settings: SettingsDep, store: FeedbackStoreDep, metrics: MetricsDep
) -> FeedbackCreated:
    """Store a thumbs up or down on an answer, with an optional reason and comment; 201 with the stored id.

    The question is stored with it, because the person chose to send it; it can join the evaluation
    questions after review (`healthqa feedback export`).
    """
    entry = _feedback_entry(request, limit=settings.max_question_chars)
    try:
        stored = await run_in_threadpool(store.add, entry)
    except FeedbackUnavailableError as exc:
        logger.error("feedback not stored", extra={"reason": str(exc)})
        raise ServiceError(
            503, "feedback_unavailable", f"your feedback could not be stored right now, please try later: {exc}"
        ) from exc
    metrics.feedback.labels(stored.rating, stored.reason or "none").inc()
    logger.info("feedback", extra={"feedback_id": stored.id, "rating": stored.rating, "reason": stored.reason})
    return FeedbackCreated(id=stored.id, created_at=stored.created_at)


@router.post("/v1/search", response_model=SearchResponse, responses=ERRORS, tags=["search"])
async def search(request: SearchRequest, index: IndexDep, settings: SettingsDep) -> SearchResponse:
    """The passages ranked highest for a query: hybrid (dense and BM25 fused), dense, or sparse."""
    query = _clean(request.query, field="query", limit=settings.max_question_chars)
    hits = await run_in_threadpool(index.search, query, k=request.k, mode=request.mode)
    results = [SearchResultPublic.model_validate(hit, from_attributes=True) for hit in hits]
    return SearchResponse(results=results, index_version=index.version)


@router.get("/v1/documents", response_model=DocumentList, responses=BUSY, tags=["documents"])
async def list_documents(index: IndexDep) -> DocumentList:
    """Every article in the served index, without its text."""
    documents = await run_in_threadpool(index.documents)
    return DocumentList(documents=[_summary(d) for d in documents], index_version=index.version)


@router.get(
    "/v1/documents/{doc_id}",
    response_model=DocumentPublic,
    responses={404: {"model": ErrorResponse, "description": "No such document"}, **BUSY},
    tags=["documents"],
)
async def get_document(doc_id: str, index: IndexDep) -> DocumentPublic:
    """One article: its text (which citation offsets refer to), metadata and disclaimer."""
    document = await run_in_threadpool(index.document, doc_id)
    if document is None:
        raise ServiceError(404, "not_found", f"no document with id {doc_id!r} in index {index.version}")
    summary = _summary(document)
    disclaimer = document.metadata.get("disclaimer")
    return DocumentPublic(
        **summary.model_dump(),
        text=document.text,
        disclaimer=disclaimer if isinstance(disclaimer, str) else "",
        metadata=document.metadata,
        index_version=index.version,
    )


@router.get("/healthz", response_model=HealthResponse, tags=["operations"])
async def healthz() -> HealthResponse:
    """The process is alive (says nothing about the index)."""
    return HealthResponse(status="ok")


@router.get(
    "/readyz",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "Not ready"}},
    tags=["operations"],
)
async def readyz(holder: HolderDep, response: Response) -> HealthResponse:
    """Ready when a verified index is loaded; 503 with the reason otherwise.

    Ready with a ``detail`` when an older version serves because the published one is damaged.
    """
    index, problem = holder.current, holder.problem
    if index is None:
        response.status_code = 503
        return HealthResponse(status="not_ready", detail=problem)
    return HealthResponse(status="ready", index_version=index.version, detail=problem)


@router.get(
    "/metrics",
    tags=["operations"],
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus metrics"}},
)
async def metrics_endpoint(metrics: MetricsDep) -> Response:
    """Prometheus metrics: requests, latency, answer outcomes, red flags, reloads."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.post(
    "/v1/admin/reload",
    response_model=ReloadResponse,
    dependencies=[Depends(require_admin)],
    responses={
        401: {"model": ErrorResponse, "description": "No key given"},
        403: {"model": ErrorResponse, "description": "Wrong key, or admin disabled"},
        409: {
            "model": ErrorResponse,
            "description": "The newest version cannot be served; the current one keeps serving",
        },
        **LIMITED,
    },
    tags=["operations"],
)
async def reload(holder: HolderDep, metrics: MetricsDep) -> ReloadResponse:
    """Load the newest published index version; requests in flight finish on the version they started with."""
    try:
        result = await run_in_threadpool(holder.reload)
    except LOAD_ERRORS as exc:
        metrics.reloads.labels("refused").inc()
        raise ServiceError(
            409, "reload_refused", f"the newest index cannot be served, keeping the current one: {exc}"
        ) from exc
    metrics.reloads.labels("changed" if result.changed else "unchanged").inc()
    return ReloadResponse(**asdict(result))


def _clean(value: str, *, field: str, limit: int) -> str:
    try:
        return clean_question(value, field=field, limit=limit)
    except QuestionError as exc:
        raise ServiceError(422, "validation_error", str(exc)) from exc


def _feedback_entry(request: FeedbackRequest, *, limit: int) -> FeedbackEntry:
    """Validate what the checks of the schema cannot: which answer, and a reason only with a thumbs down."""
    question = _clean(request.question, field="question", limit=limit)
    comment = ""
    if request.comment is not None:
        try:
            comment = clean_question(request.comment, field="comment", limit=MAX_COMMENT_CHARS)
        except QuestionError:
            comment = ""  # only white space or invisible characters: no comment
    if request.reason is not None and request.rating == "up":
        raise ServiceError(422, "validation_error", "reason: is for a thumbs down only")
    if request.answer_id is not None:
        try:
            version, chunk_ids = parse_answer_id(request.answer_id)
        except FeedbackError as exc:
            raise ServiceError(404, "unknown_answer", str(exc)) from exc
        if (request.index_version is not None and request.index_version != version) or (
            request.chunk_ids is not None and tuple(request.chunk_ids) != chunk_ids
        ):
            raise ServiceError(
                409, "answer_mismatch", "answer_id: names another answer than index_version and chunk_ids"
            )
    elif request.index_version is not None and request.chunk_ids is not None:
        version, chunk_ids = request.index_version, tuple(request.chunk_ids)
    else:
        raise ServiceError(
            422, "validation_error", "answer_id: give the answer's answer_id, or its index_version and chunk_ids"
        )
    return FeedbackEntry(
        question=question,
        rating=request.rating,
        reason=request.reason,
        comment=comment,
        index_version=version,
        chunk_ids=chunk_ids,
        answer_id=request.answer_id or answer_id_for(version, chunk_ids),
    )


def _summary(document: Any) -> DocumentSummary:
    meta = document.metadata
    tags = meta.get("tags") if isinstance(meta.get("tags"), list) else []
    return DocumentSummary(
        doc_id=document.doc_id,
        title=document.title,
        url=document.url,
        summary=str(meta.get("summary") or ""),
        reviewed=str(meta["reviewed"]) if meta.get("reviewed") else None,
        tags=[str(t) for t in tags],
    )


def _observe(answer: Answer, metrics: Any, *, log_question: bool) -> None:
    metrics.answers.labels("abstained" if answer.abstained else "answered").inc()
    for flag in answer.red_flags:
        metrics.red_flags.labels(flag.level).inc()
    extra: dict[str, Any] = {
        "abstained": answer.abstained,
        "red_flags": [f.rule for f in answer.red_flags],
        "citations": len(answer.citations),
        "confidence": answer.confidence,
        "index_version": answer.index_version,
        "ms": answer.timings_ms.get("total"),
    }
    if log_question:
        extra["question"] = answer.question
    logger.info("answer", extra=extra)
