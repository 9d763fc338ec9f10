"""The HTTP routes: parse, call ``qa`` or ``index``, return."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.deps import CatalogueDep, HolderDep, IndexDep, MetricsDep, QASettingsDep, SettingsDep, require_admin
from service.errors import ServiceError
from service.qa import Answer, QuestionError, answer_question, answer_to_dict, clean_question
from service.schemas import (
    AskRequest,
    AskResponse,
    DocumentList,
    DocumentPublic,
    DocumentSummary,
    ErrorResponse,
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
    return AskResponse.model_validate(answer_to_dict(answer))


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
