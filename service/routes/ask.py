"""POST /v1/ask: a cited answer, or an abstention, with red flags first."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from answer import Answer, answer_id_for, answer_question, answer_to_dict
from service.deps import (
    AnswerCacheDep,
    AnswerSecretDep,
    AnswerSettingsDep,
    IndexDep,
    MetricsDep,
    ModelsDep,
    SettingsDep,
)
from service.routes.common import ERRORS, clean_text
from service.schemas import AskRequest, AskResponse

logger = logging.getLogger(__name__)
router = APIRouter()


@router.post("/v1/ask", response_model=AskResponse, responses=ERRORS, tags=["answers"])
async def ask(
    request: AskRequest,
    index: IndexDep,
    settings: SettingsDep,
    answer_settings: AnswerSettingsDep,
    secret: AnswerSecretDep,
    models: ModelsDep,
    metrics: MetricsDep,
    cache: AnswerCacheDep,
) -> BaseModel:  # an AskResponse, a model built at import (public_model)
    """Answer a question with sentences quoted from the articles, each cited; abstain when they don't cover it.

    Red flags in the question come first in `red_flags`, whatever the answer.
    """
    question = clean_text(request.question, field="question", limit=settings.max_question_chars)
    started = time.perf_counter()
    cached = cache.get(question, request.k, index.version) if cache is not None else None
    if cached is not None:
        metrics.cache_hits.inc()
        took_ms = round((time.perf_counter() - started) * 1000, 3)
        answer = replace(cached, timings_ms={"cache": took_ms, "total": took_ms})
    else:
        answer = await run_in_threadpool(
            answer_question,
            question,
            index,
            settings=answer_settings,
            triage=models.triage,
            abstention=models.abstention,
            k=request.k,
        )
        if cache is not None:
            metrics.cache_misses.inc()
            cache.put(question, request.k, answer)
    _observe(answer, metrics, log_question=settings.log_questions)
    body = answer_to_dict(answer)
    body["answer_id"] = answer_id_for(answer.index_version, [c.chunk_id for c in answer.citations], secret=secret)
    return AskResponse.model_validate(body)


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
