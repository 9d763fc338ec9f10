"""Rate limit, concurrency cap, request timeout, CORS, admin hardening and private logs, over the real app."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import limits
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import ValidationError

from index import SearchIndex
from service.deps import HolderDep, get_answer_settings, get_index
from service.limits import RateLimiter, WorkGate, client_key
from service.logs import JsonFormatter
from settings import Settings
from tests.service.conftest import make_client

UI_ORIGIN = "http://127.0.0.1:8501"
SEARCH = {"query": "sciatica pain down one leg", "k": 3}


def assert_error(response, status: int, code: str) -> dict:
    """The one error shape, with the request id of the response and no traceback."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert body["error"]["message"] and body["error"]["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return body["error"]


def retry_after(response) -> int:
    seconds = int(response.headers["retry-after"])
    assert seconds >= 1
    return seconds


def app_of(client: TestClient) -> FastAPI:
    assert isinstance(client.app, FastAPI)
    return client.app


def peer(client: TestClient, host: str) -> TestClient:
    """Another client of the same running app, connecting from ``host``."""
    return TestClient(client.app, client=(host, 40_000), raise_server_exceptions=False)


class Blocker:
    """Makes the work of every /v1/ask, /v1/search and /v1/documents request wait in a pool thread until released.

    It replaces the index dependency, which FastAPI runs in its thread pool: the shape of real work
    that an event loop cannot interrupt.
    """

    def __init__(self, client: TestClient) -> None:
        self.release = threading.Event()
        self.entered = 0
        self._changed = threading.Condition()

        def blocking_index(holder: HolderDep) -> SearchIndex:
            with self._changed:
                self.entered += 1
                self._changed.notify_all()
            self.release.wait(timeout=120)  # a failing test must not leave the thread behind forever
            index = holder.current  # what get_index (async, so not callable from this thread) returns
            assert index is not None
            return index

        app_of(client).dependency_overrides[get_index] = blocking_index

    def wait_until_entered(self, count: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self.entered >= count, timeout=60), f"{self.entered} < {count}"


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` (a state change, not a speed): fail only after a minute."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.01)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=8) as executor:
        yield executor


# --- units: no model, no index ---------------------------------------------------------------------------


def test_rate_limiter_counts_each_client_apart_and_says_when_to_retry() -> None:
    limiter = RateLimiter(limits.parse_many("2/minute"))
    assert limiter.admit("192.0.2.1") is None and limiter.admit("192.0.2.1") is None
    wait = limiter.admit("192.0.2.1")
    assert wait is not None and 1 <= wait <= 60
    assert limiter.admit("192.0.2.2") is None


def test_every_budget_must_hold() -> None:
    limiter = RateLimiter(limits.parse_many("1/second;100/hour"))
    assert limiter.admit("c") is None
    assert limiter.admit("c") is not None  # the per-second budget is spent though the hourly one is not


def test_client_key_is_the_peer_and_an_ipv6_host_counts_by_its_64() -> None:
    assert client_key({"client": ("192.0.2.7", 1)}) == "192.0.2.7"
    assert client_key({"client": ("2001:db8::1", 1)}) == client_key({"client": ("2001:db8::ffff:2", 1)})
    assert client_key({"client": ("2001:db8::1", 1)}) != client_key({"client": ("2001:db8:0:1::1", 1)})
    assert client_key({"client": None}) == "unknown"


def test_work_gate_admits_up_to_its_cap_queues_a_few_and_refuses_the_rest() -> None:
    async def scenario() -> None:
        gate = WorkGate(max_concurrent=2, max_waiting=1, wait_s=30)
        first, second, queued, refused = object(), object(), object(), object()
        assert await gate.enter(first) and await gate.enter(second)
        waiter = asyncio.create_task(gate.enter(queued))
        while gate.waiting < 1:
            await asyncio.sleep(0)
        assert await gate.enter(refused) is False  # the queue is full: refused at once
        gate.leave(first)
        assert await waiter is True and gate.in_use == 2
        gate.leave(second)
        gate.leave(queued)
        assert gate.in_use == 0 and gate.waiting == 0

    asyncio.run(scenario())


def test_work_gate_gives_up_after_its_wait() -> None:
    async def scenario() -> None:
        gate = WorkGate(max_concurrent=1, max_waiting=5, wait_s=0.05)
        holder = object()
        assert await gate.enter(holder)
        assert await gate.enter(object()) is False
        assert gate.waiting == 0 and gate.in_use == 1

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("rate_limit", "lots", "couldn't parse rate limit string 'lots'"),
        ("rate_limit", "0/minute", "at least one request"),
        ("trusted_proxies", "10.0.0.0/8,proxy.example", "'proxy.example' does not appear to be an IPv4 or IPv6"),
        ("cors_origins", "http://127.0.0.1:8501/path", "no path"),
    ],
)
def test_bad_limit_settings_are_refused_naming_the_value(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(f"HEALTHQA_{name.upper()}", value)
    with pytest.raises(ValidationError, match=problem):
        Settings()


def test_limit_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().rate_limit == "120/minute" and Settings().trusted_proxies == []
    assert Settings().cors_origins == [UI_ORIGIN, "http://localhost:8501"]
    monkeypatch.setenv("HEALTHQA_RATE_LIMIT", "off")
    monkeypatch.setenv("HEALTHQA_TRUSTED_PROXIES", " 10.0.0.0/8, 2001:db8::1 ")
    monkeypatch.setenv("HEALTHQA_CORS_ORIGINS", "https://health.example")
    settings = Settings()
    assert settings.rate_limit is None
    assert settings.trusted_proxies == ["10.0.0.0/8", "2001:db8::1"]
    assert settings.cors_origins == ["https://health.example"]


# --- the real app over the real index --------------------------------------------------------------------

slow = pytest.mark.slow


@slow
def test_a_client_over_its_rate_limit_gets_429_while_probes_still_answer(corpus_index: Path, embedder) -> None:
    with make_client(corpus_index, embedder, rate_limit="3/minute") as client:
        for _ in range(3):
            assert client.post("/v1/search", json=SEARCH).status_code == 200
        refused = client.post("/v1/search", json=SEARCH)
        error = assert_error(refused, 429, "rate_limited")
        assert f"try again in {retry_after(refused)} s" in error["message"]
        assert_error(client.get("/v1/documents"), 429, "rate_limited")  # one budget for every endpoint
        for _ in range(10):
            for probe in ("/healthz", "/readyz", "/metrics"):
                assert client.get(probe).status_code == 200, probe
        assert 'healthqa_shed_total{reason="rate_limited"} 2.0' in client.get("/metrics").text


@slow
def test_spoofed_forwarding_headers_do_not_evade_the_limit(corpus_index: Path, embedder) -> None:
    spoofs = [
        {"X-Forwarded-For": "203.0.113.1"},
        {"X-Forwarded-For": "203.0.113.2, 198.51.100.9"},
        {"Forwarded": "for=203.0.113.3"},
        {"X-Real-IP": "203.0.113.4"},
        {"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https"},
    ]
    with make_client(corpus_index, embedder, rate_limit="2/minute") as client:
        statuses = [client.post("/v1/search", json=SEARCH, headers=headers).status_code for headers in spoofs]
    assert statuses == [200, 200, 429, 429, 429]


@slow
def test_clients_have_budgets_of_their_own(corpus_index: Path, embedder) -> None:
    with make_client(corpus_index, embedder, rate_limit="1/minute") as client:
        one, other = peer(client, "192.0.2.10"), peer(client, "192.0.2.11")
        ipv6, same_64, next_64 = (peer(client, host) for host in ("2001:db8::1", "2001:db8::2", "2001:db8:0:1::1"))
        assert one.post("/v1/search", json=SEARCH).status_code == 200
        assert one.post("/v1/search", json=SEARCH).status_code == 429
        assert other.post("/v1/search", json=SEARCH).status_code == 200
        assert ipv6.post("/v1/search", json=SEARCH).status_code == 200
        assert same_64.post("/v1/search", json=SEARCH).status_code == 429  # the same /64: the same client
        assert next_64.post("/v1/search", json=SEARCH).status_code == 200


@slow
def test_forwarded_for_counts_only_from_a_trusted_proxy(corpus_index: Path, embedder) -> None:
    with make_client(corpus_index, embedder, rate_limit="1/minute", trusted_proxies="10.0.0.0/8") as client:
        proxy, stranger = peer(client, "10.1.2.3"), peer(client, "192.0.2.50")

        def search(via: TestClient, forwarded_for: str) -> int:
            return via.post("/v1/search", json=SEARCH, headers={"X-Forwarded-For": forwarded_for}).status_code

        # Through the proxy each real client has its own budget ...
        assert search(proxy, "203.0.113.7") == 200
        assert search(proxy, "203.0.113.8") == 200
        # ... read right to left: what the client itself wrote before the proxy's entry does not count.
        assert search(proxy, "198.51.100.1, 203.0.113.7") == 429
        # From anyone else the header is ignored.
        assert search(stranger, "203.0.113.9") == 200
        assert search(stranger, "203.0.113.10") == 429


@slow
def test_overload_is_shed_with_503_until_work_finishes(corpus_index: Path, embedder, pool) -> None:
    with make_client(corpus_index, embedder, max_concurrent=2, max_queue=0, request_timeout_s=120) as client:
        blocker = Blocker(client)
        working = [pool.submit(client.post, "/v1/search", json=SEARCH) for _ in range(2)]
        blocker.wait_until_entered(2)
        shed = client.post("/v1/search", json=SEARCH)
        assert_error(shed, 503, "overloaded")
        retry_after(shed)
        assert_error(client.post("/v1/ask", json={"question": "back pain"}), 503, "overloaded")
        assert client.get("/readyz").status_code == 200 and client.get("/healthz").status_code == 200
        assert "healthqa_work_in_flight 2.0" in client.get("/metrics").text
        blocker.release.set()
        assert [f.result(timeout=60).status_code for f in working] == [200, 200]
        wait_for(lambda: app_of(client).state.work_gate.in_use == 0, "the work slots to free")
        assert client.post("/v1/search", json=SEARCH).status_code == 200


@slow
def test_a_short_queue_waits_for_a_slot_and_refuses_beyond_it(corpus_index: Path, embedder, pool) -> None:
    with make_client(corpus_index, embedder, max_concurrent=1, max_queue=1, queue_wait_s=60) as client:
        gate: WorkGate = app_of(client).state.work_gate
        blocker = Blocker(client)
        first = pool.submit(client.post, "/v1/search", json=SEARCH)
        blocker.wait_until_entered(1)
        queued = pool.submit(client.post, "/v1/search", json=SEARCH)
        wait_for(lambda: gate.waiting == 1, "the second request to queue")
        assert_error(client.post("/v1/search", json=SEARCH), 503, "overloaded")
        blocker.release.set()
        assert first.result(timeout=60).status_code == 200
        assert queued.result(timeout=60).status_code == 200


@slow
def test_a_queued_request_gives_up_after_its_wait(corpus_index: Path, embedder, pool) -> None:
    with make_client(corpus_index, embedder, max_concurrent=1, max_queue=5, queue_wait_s=0.2) as client:
        blocker = Blocker(client)
        first = pool.submit(client.post, "/v1/search", json=SEARCH)
        blocker.wait_until_entered(1)
        assert_error(client.post("/v1/search", json=SEARCH), 503, "overloaded")
        blocker.release.set()
        assert first.result(timeout=60).status_code == 200


@slow
def test_a_timed_out_request_is_answered_504_and_its_thread_keeps_its_slot(corpus_index: Path, embedder) -> None:
    with make_client(corpus_index, embedder, max_concurrent=1, max_queue=0, request_timeout_s=0.3) as client:
        gate: WorkGate = app_of(client).state.work_gate
        blocker = Blocker(client)
        error = assert_error(client.post("/v1/ask", json={"question": "back pain"}), 504, "timeout")
        assert "longer than 0.3 s" in error["message"]
        # The thread is still blocked: its slot stays taken, so timed-out work cannot pile up.
        assert blocker.entered == 1 and gate.in_use == 1
        assert_error(client.post("/v1/search", json=SEARCH), 503, "overloaded")
        assert blocker.entered == 1
        blocker.release.set()
        wait_for(lambda: gate.in_use == 0, "the abandoned work to finish")
        assert client.post("/v1/search", json=SEARCH).status_code == 200
        assert 'healthqa_shed_total{reason="timeout"} 1.0' in client.get("/metrics").text


@slow
def test_openapi_documents_the_refusals(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if path in ("/healthz", "/readyz", "/metrics"):
                assert "429" not in responses, path
                continue
            assert "Retry-After" in responses["429"]["headers"], (method, path)
            assert responses["429"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
            if not path.startswith("/v1/admin/"):
                assert {"503", "504"} <= set(responses), (method, path)
                assert "Retry-After" in responses["503"]["headers"]


# --- CORS ------------------------------------------------------------------------------------------------


@slow
def test_cors_allows_the_ui_origin_only(client: TestClient) -> None:
    allowed = client.post("/v1/search", json=SEARCH, headers={"Origin": UI_ORIGIN})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == UI_ORIGIN
    assert "x-request-id" in allowed.headers["access-control-expose-headers"]
    foreign = client.post("/v1/search", json=SEARCH, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in foreign.headers

    def preflight(origin: str, headers: str = "content-type"):
        return client.options(
            "/v1/ask",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": headers,
            },
        )

    ok = preflight("http://localhost:8501")
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "http://localhost:8501"
    assert "POST" in ok.headers["access-control-allow-methods"]
    refused = preflight("https://evil.example")
    assert "access-control-allow-origin" not in refused.headers
    assert "origin" in assert_error(refused, 400, "cors_rejected")["message"]
    # The admin key header is not for browsers, even from the UI's origin.
    assert_error(preflight(UI_ORIGIN, headers="x-api-key"), 400, "cors_rejected")


@slow
def test_refusals_carry_cors_headers_so_the_ui_can_read_them(corpus_index: Path, embedder) -> None:
    with make_client(corpus_index, embedder, rate_limit="1/minute") as client:
        client.post("/v1/search", json=SEARCH)
        refused = client.post("/v1/search", json=SEARCH, headers={"Origin": UI_ORIGIN})
        assert refused.status_code == 429 and refused.headers["access-control-allow-origin"] == UI_ORIGIN
        assert "retry-after" in refused.headers["access-control-expose-headers"]


# --- admin -----------------------------------------------------------------------------------------------

KEY = "admin-key-for-tests-0123456789"


@slow
def test_the_admin_key_counts_only_in_its_header(corpus_index: Path, embedder, monkeypatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real_compare = hmac.compare_digest

    def spy(a, b):  # records that the check goes through the constant-time comparison
        compared.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    with make_client(corpus_index, embedder, admin_api_key=KEY) as client:
        for query in (f"x-api-key={KEY}", f"x_api_key={KEY}", f"api_key={KEY}", f"key={KEY}"):
            assert_error(client.post(f"/v1/admin/reload?{query}"), 401, "unauthorized")
        assert_error(client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {KEY}"}), 401, "unauthorized")
        assert_error(client.post("/v1/admin/reload", headers={"X-API-Key": KEY[:-1]}), 403, "forbidden")
        assert_error(client.post("/v1/admin/reload", headers={"X-API-Key": KEY + "x"}), 403, "forbidden")
        assert client.post("/v1/admin/reload", headers={"X-API-Key": KEY}).status_code == 200
    assert compared and all(b == KEY.encode() for _, b in compared)


@slow
def test_admin_over_plain_http_is_refused_when_https_is_required(corpus_index: Path, embedder) -> None:
    headers = {"X-API-Key": KEY, "X-Forwarded-Proto": "https"}
    settings = {"admin_api_key": KEY, "admin_require_https": True, "trusted_proxies": "10.0.0.0/8"}
    with make_client(corpus_index, embedder, **settings) as client:
        error = assert_error(client.post("/v1/admin/reload", headers={"X-API-Key": KEY}), 403, "https_required")
        assert "HTTPS" in error["message"]
        # X-Forwarded-Proto from an untrusted peer is ignored ...
        assert_error(peer(client, "192.0.2.1").post("/v1/admin/reload", headers=headers), 403, "https_required")
        # ... from a trusted proxy it is believed; and a direct HTTPS connection counts.
        assert peer(client, "10.9.9.9").post("/v1/admin/reload", headers=headers).status_code == 200
        direct = TestClient(client.app, base_url="https://testserver", raise_server_exceptions=False)
        assert direct.post("/v1/admin/reload", headers={"X-API-Key": KEY}).status_code == 200


@slow
def test_admin_requests_are_rate_limited(corpus_index: Path, embedder) -> None:
    """Key guessing is slowed down by the same per-client budget."""
    with make_client(corpus_index, embedder, admin_api_key=KEY, rate_limit="3/minute") as client:
        statuses = [client.post("/v1/admin/reload", headers={"X-API-Key": f"guess-{n}"}).status_code for n in range(5)]
    assert statuses == [403, 403, 403, 429, 429]


# --- logs ------------------------------------------------------------------------------------------------


def _explode_quoting_the_question(question: str) -> None:
    raise RuntimeError(f"the answer pipeline failed on {question!r}")


def _drive_every_path(client: TestClient, question: str, key: str) -> list[int]:
    """Ask, search, fail and get refused in every way, each time with ``question`` and ``key`` in the request."""
    statuses: list[int] = []

    def keep(response) -> None:
        statuses.append(response.status_code)
        assert "Traceback" not in response.text

    keep(client.post("/v1/ask", json={"question": question}))
    keep(client.post("/v1/search", json={"query": question}))
    too_long = question + " x" * Settings.model_fields["max_question_chars"].default
    keep(client.post("/v1/ask", json={"question": too_long}))  # 422
    keep(client.post("/v1/ask", json={"question": question, "note": question}))  # unknown field: 422
    keep(client.post("/v1/search", json={"query": question, "k": 0}))  # 422
    keep(
        client.post("/v1/ask", content=question.encode(), headers={"content-type": "application/json"})
    )  # not JSON: 400
    keep(client.post("/v1/admin/reload", headers={"X-API-Key": key}))
    keep(client.post("/v1/admin/reload", headers={"X-API-Key": key + "-wrong"}))
    keep(client.post(f"/v1/admin/reload?x-api-key={key}"))

    async def explode(request: Request) -> None:  # a broken part whose error message quotes the question
        _explode_quoting_the_question((await request.json())["question"])

    app_of(client).dependency_overrides[get_answer_settings] = explode
    keep(client.post("/v1/ask", json={"question": question}))  # 500
    del app_of(client).dependency_overrides[get_answer_settings]

    blocker = Blocker(client)  # max_concurrent=1: a timeout, then overload while its thread still runs
    keep(client.post("/v1/ask", json={"question": question}))  # 504
    keep(client.post("/v1/ask", json={"question": question}))  # 503
    blocker.release.set()
    wait_for(lambda: app_of(client).state.work_gate.in_use == 0, "the abandoned work to finish")
    del app_of(client).dependency_overrides[get_index]
    for _ in range(20):  # until the budget is spent: 429
        keep(client.post("/v1/ask", json={"question": question}))
    return statuses


@slow
@pytest.mark.parametrize("log_questions", [False, True])
def test_logs_never_hold_the_admin_key_and_the_question_only_when_allowed(
    corpus_index: Path, embedder, caplog, log_questions: bool
) -> None:
    marker = f"zq{uuid.uuid4().hex[:12]}"
    question = f"my {marker} lower back aches after lifting"
    key = f"key-{uuid.uuid4().hex}"
    settings = {
        "admin_api_key": key,
        "log_questions": log_questions,
        "rate_limit": "20/minute",
        "max_concurrent": 1,
        "max_queue": 0,
        "request_timeout_s": 0.5,
    }
    with caplog.at_level(logging.DEBUG), make_client(corpus_index, embedder, **settings) as client:
        statuses = _drive_every_path(client, question, key)
    assert set(statuses) == {200, 400, 401, 403, 422, 429, 500, 503, 504}, statuses
    formatter = JsonFormatter()
    # The test's own HTTP client logs the URLs it calls; everything else is the service's.
    lines = [formatter.format(r) for r in caplog.records if r.name.split(".")[0] not in ("httpx", "httpx2")]
    assert any(json.loads(line)["msg"] == "unhandled error" for line in lines)
    assert any(json.loads(line)["msg"] == "timed-out request finished" for line in lines)
    logged = "\n".join(lines)
    assert key not in logged
    if log_questions:
        answers = [json.loads(line) for line in lines if json.loads(line)["msg"] == "answer"]
        assert answers and all(entry["question"] == question for entry in answers)
    else:
        assert marker not in logged
