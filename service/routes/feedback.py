"""POST /v1/feedback: a thumbs up or down on an answer, stored for review."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from answer import AnswerIdError, QuestionError, answer_id_for, clean_question, parse_answer_id
from feedback import MAX_COMMENT_CHARS, FeedbackEntry, FeedbackUnavailableError
from service.deps import AnswerSecretDep, FeedbackStoreDep, MetricsDep, SettingsDep
from service.errors import ServiceError
from service.routes.common import BUSY, ERRORS, clean_text
from service.schemas import ErrorResponse, FeedbackCreated, FeedbackRequest

logger = logging.getLogger(__name__)
router = APIRouter()


@router.post(
    "/v1/feedback",
    response_model=FeedbackCreated,
    status_code=201,
    responses={
        **ERRORS,
        404: {
            "model": ErrorResponse,
            "description": "The answer_id is not one this deployment's /v1/ask gave out (malformed, or its signature does not verify): unknown_answer",
        },
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
    request: FeedbackRequest,
    settings: SettingsDep,
    store: FeedbackStoreDep,
    metrics: MetricsDep,
    secret: AnswerSecretDep,
) -> FeedbackCreated:
    """Store a thumbs up or down on an answer, with an optional reason and comment; 201 with the stored id.

    The question is stored with it, because the person chose to send it; it can join the evaluation
    questions after review (`healthqa feedback export`).
    """
    entry = _feedback_entry(request, limit=settings.max_question_chars, secret=secret)
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


def _feedback_entry(request: FeedbackRequest, *, limit: int, secret: bytes) -> FeedbackEntry:
    """Validate what the checks of the schema cannot: which answer, and a reason only with a thumbs down."""
    question = clean_text(request.question, field="question", limit=limit)
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
            version, chunk_ids = parse_answer_id(request.answer_id, secret=secret)
        except AnswerIdError as exc:
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
        answer_id=request.answer_id or answer_id_for(version, chunk_ids, secret=secret),
    )
