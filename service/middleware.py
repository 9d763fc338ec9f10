"""ASGI middleware: request ids, access logs and metrics; CORS; a body-size cap.

The rate limit, the concurrency cap and the request timeout live in ``service.limits``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import INTERNAL_ERROR_MESSAGE, error_response
from service.logs import request_id_var

logger = logging.getLogger("service.access")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class Metrics:
    """The service's Prometheus metrics, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "healthqa_requests_total", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "healthqa_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=self.registry,
            buckets=(0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12),
        )
        self.answers = Counter("healthqa_answers_total", "Answers by outcome", ["outcome"], registry=self.registry)
        self.red_flags = Counter("healthqa_red_flags_total", "Red flags raised", ["level"], registry=self.registry)
        self.feedback = Counter(
            "healthqa_feedback_total",
            "Feedback stored, by rating and reason",
            ["rating", "reason"],
            registry=self.registry,
        )
        self.reloads = Counter("healthqa_index_reloads_total", "Index reloads", ["result"], registry=self.registry)
        cache = Counter(
            "healthqa_answer_cache_total", "Questions looked up in the answer cache", ["result"], registry=self.registry
        )
        self.cache_hits, self.cache_misses = cache.labels("hit"), cache.labels("miss")
        self.shed = Counter(
            "healthqa_shed_total",
            "Requests refused or cut short to protect the service (rate_limited, overloaded, timeout)",
            ["reason"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "healthqa_work_in_flight",
            "Requests holding a work slot, timed-out ones still running included",
            registry=self.registry,
        )


class RequestContextMiddleware:
    """Gives each request an id, logs and counts it, and turns an unhandled error into a JSON 500.

    It sits outside every other layer, so refusals (413, 429, 503, 504) are logged, counted and
    carry the request id too.
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"x-request-id"), "")
        request_id = given if _SAFE_REQUEST_ID.match(given) else uuid.uuid4().hex[:16]
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = {"code": 0}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                # nosniff: a browser must never treat a JSON body quoting an article's "<script>" as HTML.
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                    (b"x-content-type-options", b"nosniff"),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Answered here, not by Starlette's outermost handler, so the 500 still has its request id.
            # The formatter logs the exception's type only: its message may quote the question.
            logger.exception("unhandled error")
            if status["code"]:
                raise
            await send_error(send_with_id, 500, "internal_error", INTERNAL_ERROR_MESSAGE)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_of(scope)
            self.metrics.requests.labels(scope.get("method", ""), route, str(status["code"] or 500)).inc()
            self.metrics.latency.labels(route).observe(elapsed)
            logger.info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status["code"] or 500,
                    "ms": round(elapsed * 1000, 2),
                },
            )
            request_id_var.reset(token)


class BodyLimitMiddleware:
    """Reads the whole body first, refusing one over ``max_bytes`` (413) or slower than ``timeout_s`` (408).

    So no handler ever sees an oversized body, chunked or not, and a client that never
    finishes its body cannot hold a work slot.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope.get("headers", []) if k.lower() == b"content-length"), None)
        if declared is not None and not declared.isdigit():
            await send_error(send, 400, "bad_request", "the Content-Length header is not a number")
            return
        if declared is not None and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        try:
            async with asyncio.timeout(self.timeout_s):
                body = await self._read(receive)
        except TimeoutError:
            await send_error(send, 408, "request_timeout", f"the request body took longer than {self.timeout_s:g} s")
            return
        if body is None:
            await self._too_large(send)
            return
        first: Message | None = body

        async def replay() -> Message:
            nonlocal first
            if first is not None:
                message, first = first, None
                return message
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> Message | None:
        """The whole body as one message (or the disconnect), or None when it is too large."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return message
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                return None
            chunks.append(body)
            if not message.get("more_body", False):
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

    async def _too_large(self, send: Send) -> None:
        await send_error(send, 413, "payload_too_large", f"the request body is larger than {self.max_bytes} bytes")


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with refused preflights in the service's one JSON error shape."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code == 200:
            return response
        headers = {k: v for k, v in response.headers.items() if k.lower().startswith(("access-control-", "vary"))}
        return error_response(400, "cors_rejected", bytes(response.body).decode(), headers=headers)


def _route_of(scope: Scope) -> str:
    """The route template (``/v1/documents/{doc_id}``), so metrics don't grow a label per document."""
    route: Any = scope.get("route")
    return str(getattr(route, "path", None) or "unmatched")


async def send_error(
    send: Send, status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None
) -> None:
    """Answer with the service's one error shape, from ASGI middleware (the request id is the current one)."""
    body = json.dumps(
        {"error": {"code": code, "message": message, "request_id": request_id_var.get(), "details": None}}
    ).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
