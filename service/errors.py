"""Service-level errors and their one JSON shape: ``{"error": {code, message, request_id, details}}``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.logs import request_id_var

logger = logging.getLogger(__name__)

INTERNAL_ERROR_MESSAGE = "something went wrong on our side; the request id identifies it in the logs"

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "unavailable",
    504: "timeout",
}


class ServiceError(Exception):
    """An error with an HTTP status, a stable code and a message for people."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "request_id": request_id_var.get(), "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


def _field(error: Mapping[str, Any]) -> str:
    parts = [str(p) for p in tuple(error.get("loc", ())) if p not in ("body",)]
    return ".".join(parts) or "body"


def _problem(error: Mapping[str, Any]) -> str:
    # The only patterns in the API ask for some visible text; say so instead of quoting the regex.
    if error.get("type") == "string_pattern_mismatch":
        return "must not be empty or only whitespace"
    if error.get("type") == "json_invalid":
        return f"not valid JSON (at character {error.get('loc', ('', '?'))[-1]})"
    return str(error.get("msg", "invalid"))


def _unreadable_body(errors: list[Any]) -> JSONResponse | None:
    """400 for a body that is not one JSON document, 415 for one not sent as JSON; else None.

    The one rule: bytes that cannot be read as JSON get 400 (empty, not JSON, two documents; FastAPI
    itself answers 400 for invalid UTF-8, nesting too deep and numbers too long to read), and a JSON
    document with the wrong shape or values gets 422.
    """
    for error in errors:
        if tuple(error.get("loc", ())) == ("body",) and error.get("type") == "missing":
            return error_response(400, "bad_request", "the body is empty; send a JSON object")
        if error.get("type") == "json_invalid":
            return error_response(400, "bad_request", f"the body is not one JSON document: {_problem(error)}")
        if tuple(error.get("loc", ())) == ("body",) and isinstance(error.get("input"), bytes):
            # FastAPI parses JSON only when the content type says JSON; other bodies arrive as raw bytes.
            return error_response(
                415, "unsupported_media_type", "send the body as JSON, with content-type: application/json"
            )
    return None


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    unreadable = _unreadable_body(list(exc.errors()))
    if unreadable is not None:
        return unreadable
    details = [{"field": _field(e), "problem": _problem(e), "type": e.get("type", "")} for e in exc.errors()]
    message = "; ".join(f"{d['field']}: {d['problem']}" for d in details) or "the request is not valid"
    return error_response(422, "validation_error", message, details=details)


async def _service(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return error_response(exc.status, exc.code, exc.message, headers=exc.headers)


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(
        exc.status_code, _CODES.get(exc.status_code, "http_error"), str(exc.detail), headers=exc.headers
    )


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error")
    return error_response(500, "internal_error", INTERNAL_ERROR_MESSAGE)


def install_error_handlers(app: FastAPI) -> None:
    """Translate every error into the one JSON shape, in one place."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ServiceError, _service)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
