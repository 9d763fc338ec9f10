"""Admission control: how often a client may ask, how many requests work at once, and for how long.

Two pure-ASGI layers, a few microseconds (rate) and about 15 (work cap) on the hot path:

- ``RateLimitMiddleware``: a per-client budget (``HEALTHQA_RATE_LIMIT``), counted by the ``limits``
  library's moving window in memory; over budget is 429 with ``Retry-After``.
- ``WorkLimitMiddleware``: at most ``HEALTHQA_MAX_CONCURRENT`` requests working, a short bounded queue
  behind them, and 503 ``overloaded`` with ``Retry-After`` beyond; a request still working after
  ``HEALTHQA_REQUEST_TIMEOUT_S`` is answered 504 ``timeout``.
- The client a request counts against is the socket peer. Forwarded headers are believed only when
  ``uvicorn``'s ``ProxyHeadersMiddleware`` sits in front for the configured trusted proxies
  (``create_app`` puts it there), so a client cannot pick its own identity with ``X-Forwarded-For``.

Usage example::

    gate = WorkGate(max_concurrent=4, max_waiting=64, wait_s=2.0)
    app = WorkLimitMiddleware(app, gate=gate, timeout_s=10.0, exempt=frozenset({"/healthz"}), metrics=metrics)
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import time
from collections.abc import Sequence

import anyio

# The third-party ``limits`` package (this module is ``service.limits``; absolute imports keep them apart).
from limits import RateLimitItem
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.middleware import Metrics, send_error

logger = logging.getLogger(__name__)


def client_key(scope: Scope) -> str:
    """The client a request counts against: the peer address; an IPv6 peer by its /64.

    One IPv6 host usually holds a whole /64, so counting single addresses would let it
    take a fresh identity per request.
    """
    client = scope.get("client")
    host: str = client[0] if client else "unknown"
    if ":" in host:
        try:
            return str(ipaddress.IPv6Network(f"{host}/64", strict=False))
        except ValueError:
            return host
    return host


class RateLimiter:
    """Per-client request budgets over a moving window, kept in this process's memory.

    Args:
        items: budgets that must all hold, e.g. ``limits.parse_many("10/second;600/hour")``.
    """

    def __init__(self, items: Sequence[RateLimitItem]) -> None:
        if not items:
            raise ValueError("a RateLimiter needs at least one budget")
        self.items = list(items)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def admit(self, client: str) -> int | None:
        """Count one request by ``client``.

        Returns:
            None when it may go on; otherwise whole seconds until it may try again (at least 1).
        """
        for item in self.items:
            if not self._limiter.hit(item, client):
                reset_at = self._limiter.get_window_stats(item, client).reset_time
                return max(1, math.ceil(reset_at - time.time()))
        return None


class RateLimitMiddleware:
    """Answers 429 with ``Retry-After`` once a client has spent its budget; ``exempt`` paths are never counted."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter, exempt: frozenset[str], metrics: Metrics) -> None:
        self.app = app
        self.limiter = limiter
        self.exempt = exempt
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.exempt:
            retry_after = self.limiter.admit(client_key(scope))
            if retry_after is not None:
                self.metrics.shed.labels("rate_limited").inc()
                await send_error(
                    send,
                    429,
                    "rate_limited",
                    f"too many requests from this client; try again in {retry_after} s",
                    headers={"retry-after": str(retry_after)},
                )
                return
        await self.app(scope, receive, send)


class WorkGate:
    """At most ``max_concurrent`` requests working; up to ``max_waiting`` more wait ``wait_s`` for a turn.

    A slot is held until the request's work has really finished, even when its client was
    already answered with a timeout: a thread in the pool cannot be stopped, so the gate keeps
    counting it, and timed-out work can never pile up beyond the cap.
    """

    def __init__(self, *, max_concurrent: int, max_waiting: int, wait_s: float) -> None:
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be >= 1, got {max_concurrent}")
        self.max_waiting = max_waiting
        self.wait_s = wait_s
        self._limiter = anyio.CapacityLimiter(max_concurrent)

    @property
    def in_use(self) -> int:
        """Requests holding a slot, timed-out ones whose work still runs included."""
        return int(self._limiter.borrowed_tokens)

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot."""
        return self._limiter.statistics().tasks_waiting

    async def enter(self, holder: object) -> bool:
        """Take a slot for ``holder``: at once, after a bounded wait, or (False) not at all."""
        try:
            self._limiter.acquire_on_behalf_of_nowait(holder)
            return True
        except anyio.WouldBlock:
            pass
        if self.wait_s <= 0 or self.waiting >= self.max_waiting:
            return False
        with anyio.move_on_after(self.wait_s):
            await self._limiter.acquire_on_behalf_of(holder)
            return True
        return False

    def leave(self, holder: object) -> None:
        """Give ``holder``'s slot to the next in line."""
        self._limiter.release_on_behalf_of(holder)


class WorkLimitMiddleware:
    """Caps concurrent work with a ``WorkGate`` and answers 504 when a request outlives ``timeout_s``.

    The work runs as a task of its own, so the client gets its 504 on time even when the work
    sits in a thread that cannot be cancelled; the task keeps its gate slot until it ends, and
    whatever it sends after the 504 is dropped.
    """

    def __init__(
        self, app: ASGIApp, *, gate: WorkGate, timeout_s: float, exempt: frozenset[str], metrics: Metrics
    ) -> None:
        self.app = app
        self.gate = gate
        self.timeout_s = timeout_s
        self.exempt = exempt
        self.metrics = metrics
        self._late: set[asyncio.Task[None]] = set()  # asyncio keeps only weak references to tasks
        metrics.in_flight.set_function(lambda: gate.in_use)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        holder = object()
        if not await self.gate.enter(holder):
            self.metrics.shed.labels("overloaded").inc()
            await send_error(
                send,
                503,
                "overloaded",
                "the service is busy with other requests; try again shortly",
                headers={"retry-after": "1"},
            )
            return
        timed_out = False
        started = False

        async def send_unless_timed_out(message: Message) -> None:
            nonlocal started
            if timed_out:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        async def work() -> None:
            try:
                await self.app(scope, receive, send_unless_timed_out)
            finally:
                self.gate.leave(holder)

        began = time.perf_counter()
        task = asyncio.create_task(work())
        try:
            done, _ = await asyncio.wait({task}, timeout=self.timeout_s)
        except asyncio.CancelledError:  # the server is going away: the work still ends on its own
            self._late.add(task)
            task.add_done_callback(self._late.discard)
            raise
        if done or started:
            # Finished, or already answering: let it finish (and raise what it raised).
            await task
            return
        timed_out = True
        self._late.add(task)
        task.add_done_callback(lambda finished: self._finished_late(finished, began))
        self.metrics.shed.labels("timeout").inc()
        await send_error(
            send, 504, "timeout", f"the request took longer than {self.timeout_s:g} s (HEALTHQA_REQUEST_TIMEOUT_S)"
        )

    def _finished_late(self, task: asyncio.Task[None], began: float) -> None:
        self._late.discard(task)
        error = None if task.cancelled() else task.exception()
        logger.warning(
            "timed-out request finished",
            extra={
                "ms": round((time.perf_counter() - began) * 1000, 2),
                "exc_type": type(error).__name__ if error else None,
            },
        )
