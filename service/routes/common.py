"""What the routes share: documented error responses, the paths limits treat apart, and text cleaning."""

from __future__ import annotations

from typing import Any

from answer import QuestionError, clean_question
from service.errors import ServiceError
from service.schemas import ErrorResponse

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


def clean_text(value: str, *, field: str, limit: int) -> str:
    try:
        return clean_question(value, field=field, limit=limit)
    except QuestionError as exc:
        raise ServiceError(422, "validation_error", str(exc)) from exc
