"""Hostile input by hand: every case gets a 4xx (or a 200 where the input is valid after all), never a 5xx,
never a traceback, never a hang; and the server is still healthy afterwards.

The in-process cases go through the whole middleware stack; the raw-socket ones go through uvicorn.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from settings import Settings
from tests.ui.conftest import serve_in_thread

pytestmark = pytest.mark.slow

JSON = {"content-type": "application/json"}
MAX_BODY = Settings.model_fields["max_body_bytes"].default
LIMIT = Settings.model_fields["max_question_chars"].default


def assert_sane(response, status: int, code: str | None = None) -> None:
    """The expected status; errors in the one JSON shape with the request id; no traceback anywhere."""
    assert response.status_code == status, response.text[:500]
    assert "Traceback" not in response.text and 'File "' not in response.text
    if status >= 400:
        error = response.json()["error"]
        assert error["request_id"] == response.headers["x-request-id"]
        if code:
            assert error["code"] == code, error


def ask_json(value: object) -> bytes:
    return json.dumps({"question": value} if not isinstance(value, dict) else value).encode()


# (name, body, status, code): JSON bodies posted to /v1/ask.
BODIES = [
    ("over the cap", ask_json("a" * (MAX_BODY + 10)), 413, "payload_too_large"),
    ("one MiB", b"{" + b" " * (1 << 20) + b"}", 413, "payload_too_large"),
    ("100k open brackets", b"[" * 100_000, 413, "payload_too_large"),
    ("nesting under the cap", b"[" * (MAX_BODY - 1), 400, "bad_request"),
    ("nesting inside the question", b'{"question": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400, "bad_request"),
    ("invalid UTF-8", b'{"question": "back \xff\xfe pain"}', 400, "bad_request"),
    ("a lone surrogate", b'{"question": "\\ud800 back pain"}', 200, None),  # cleaned to a space
    ("only lone surrogates", b'{"question": "\\udfff\\ud800"}', 422, "validation_error"),
    ("a surrogate pair", b'{"question": "\\ud83d\\ude2d back pain"}', 200, None),
    ("NUL only", b'{"question": "\\u0000\\u0000\\u0000"}', 422, "validation_error"),
    ("NUL and control characters inside", ask_json("".join(map(chr, range(32))) + "back\x00pain\x7f"), 200, None),
    ("the longest question, one token", ask_json("x" * LIMIT), 200, None),
    ("one character too long", ask_json("x" * (LIMIT + 1)), 422, "validation_error"),
    ("the longest question in emoji, JSON-escaped", ask_json("😭" * LIMIT), 200, None),
    ("right-to-left override", ask_json("\u202eniap kcab\u202c my back hurts"), 200, None),
    ("zero-width only", ask_json("\u200b\u200c\u200d\ufeff\u2060"), 422, "validation_error"),
    ("zero-width inside", ask_json("b\u200ba\u200dc\u200ck pain"), 200, None),
    ("k huge", ask_json({"question": "back pain", "k": 10**100}), 422, "validation_error"),
    ("k 5000 digits", b'{"question": "back pain", "k": ' + b"9" * 5000 + b"}", 400, "bad_request"),
    ("k negative", ask_json({"question": "back pain", "k": -3}), 422, "validation_error"),
    ("k float with no fraction", ask_json({"question": "back pain", "k": 5.0}), 200, None),  # JSON Schema's integer
    ("k fraction", ask_json({"question": "back pain", "k": 2.5}), 422, "validation_error"),
    ("k string", ask_json({"question": "back pain", "k": "5"}), 422, "validation_error"),
    ("k true", ask_json({"question": "back pain", "k": True}), 422, "validation_error"),
    ("k NaN", b'{"question": "back pain", "k": NaN}', 422, "validation_error"),
    ("k Infinity", b'{"question": "back pain", "k": 1e400}', 422, "validation_error"),
    ("k null", ask_json({"question": "back pain", "k": None}), 200, None),
    ("duplicate keys, last is valid", b'{"question": "x", "question": "back pain", "k": 99, "k": 3}', 200, None),
    ("duplicate keys, last is invalid", b'{"question": "back pain", "k": 3, "k": 99}', 422, "validation_error"),
    ("empty body", b"", 400, "bad_request"),
    ("not JSON", b"{not json", 400, "bad_request"),
    ("cut short", b'{"question": "back pain"', 400, "bad_request"),
    ("JSON null", b"null", 422, "validation_error"),
    ("JSON array", b'[{"question": "back pain"}]', 422, "validation_error"),
    ("JSON string", b'"back pain"', 422, "validation_error"),
    ("question is an object", b'{"question": {"$ne": ""}}', 422, "validation_error"),
    ("two documents", b'{"question": "back pain"}{"question": "x"}', 400, "bad_request"),
    ("UTF-8 byte-order mark", b'\xef\xbb\xbf{"question": "back pain"}', 200, None),
    ("UTF-16", '{"question": "back pain"}'.encode("utf-16"), 200, None),
]


@pytest.fixture(scope="module")
def hostile(corpus_index: Path, embedder) -> Iterator[TestClient]:
    app = create_app(Settings(index_dir=corpus_index, rate_limit="off"), embedder=embedder)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
        assert app.state.work_gate.in_use == 0  # no request left work behind


@pytest.mark.parametrize(("body", "status", "code"), [case[1:] for case in BODIES], ids=[case[0] for case in BODIES])
def test_hostile_bodies(hostile: TestClient, body: bytes, status: int, code: str | None) -> None:
    assert_sane(hostile.post("/v1/ask", content=body, headers=JSON), status, code)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/xml",
        "application/json; charset=latin-1",
        None,
    ],
)
def test_wrong_content_types(hostile: TestClient, content_type: str | None) -> None:
    """A body not sent as JSON is 415; a JSON content type with another charset is parsed, and fails as JSON (400)."""
    headers = {"content-type": content_type} if content_type else {}
    body = b"question=back+pain" if content_type and "form" in content_type else b"<q>back pain</q>"
    response = hostile.post("/v1/ask", content=body, headers=headers)
    if content_type and content_type.startswith("application/json"):
        assert_sane(response, 400, "bad_request")
    else:
        assert_sane(response, 415, "unsupported_media_type")


def test_a_json_body_without_a_json_content_type_is_415(hostile: TestClient) -> None:
    response = hostile.post("/v1/ask", content=b'{"question": "back pain"}', headers={"content-type": "text/plain"})
    assert_sane(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"query": "back pain", "mode": "nuclear"}, 422),
        ({"query": "back pain", "k": 0}, 422),
        ({"query": "x" * LIMIT}, 200),
        ({"query": "' OR 1=1 --"}, 200),
        ({"query": "doc_id:* AND title:*"}, 200),
        ({"query": "../../etc/passwd"}, 200),
    ],
)
def test_hostile_searches(hostile: TestClient, payload: dict, status: int) -> None:
    assert_sane(hostile.post("/v1/search", json=payload), status)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/documents/..%2F..%2Fetc%2Fpasswd",
        "/v1/documents/%2e%2e",
        "/v1/documents/%00",
        "/v1/documents/%ff%fe",
        "/v1/documents/sciatica%0d%0aX-Injected:%201",
        "/v1/documents/" + "a" * 4000,
        "/v1/documents/sciatica' OR '1'='1",
    ],
)
def test_hostile_document_ids_are_404(hostile: TestClient, path: str) -> None:
    response = hostile.get(path)
    assert_sane(response, 404, "not_found")
    assert "x-injected" not in response.headers


def test_wrong_methods_and_request_ids(hostile: TestClient) -> None:
    assert_sane(hostile.put("/v1/ask", json={"question": "back pain"}), 405, "method_not_allowed")
    assert_sane(hostile.delete("/v1/documents/sciatica"), 405, "method_not_allowed")
    assert_sane(hostile.options("/v1/ask"), 405, "method_not_allowed")
    for given in ("a\tb", "x" * 65, "<script>", "id with spaces"):
        response = hostile.get("/healthz", headers={"X-Request-ID": given})
        assert response.status_code == 200 and response.headers["x-request-id"] != given
    assert hostile.get("/healthz", headers={"X-Request-ID": "ok-id_1.2"}).headers["x-request-id"] == "ok-id_1.2"


# --- through uvicorn, over a socket ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(corpus_index: Path, embedder) -> Iterator[tuple[str, object]]:
    app = create_app(Settings(index_dir=corpus_index, rate_limit="off", request_timeout_s=2.0), embedder=embedder)
    with serve_in_thread(app) as url:
        yield url, app
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200  # still alive after all of it
        assert app.state.work_gate.in_use == 0


def raw_exchange(url: str, request: bytes, *, then: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes; read one whole response (30 s at most: never hang). Status, headers, body."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(request)
        if then is not None:
            sock.sendall(then)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return int(lines[0].split()[1]), headers, body


def test_a_chunked_body_without_length_is_capped(server) -> None:
    url, _ = server

    def chunks(total: int) -> Iterator[bytes]:
        yield b'{"question": "'
        for _ in range(total // 1024):
            yield b"a" * 1024
        yield b'"}'

    big = httpx.post(f"{url}/v1/ask", content=chunks(1 << 20), headers=JSON, timeout=30)
    assert_sane(big, 413, "payload_too_large")
    small = httpx.post(f"{url}/v1/ask", content=iter([b'{"question": ', b'"sciatica self care"}']), headers=JSON)
    assert_sane(small, 200)


def test_a_body_that_never_finishes_gets_408(server) -> None:
    url, _ = server
    request = b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    status, headers, body = raw_exchange(url, request, then=b'{"question": ')
    assert status == 408 and json.loads(body)["error"]["code"] == "request_timeout"
    assert headers["x-request-id"]


def test_a_declared_length_over_the_cap_is_refused_before_the_body(server) -> None:
    url, _ = server
    request = b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\n\r\n"
    status, _, body = raw_exchange(url, request)
    assert status == 413 and json.loads(body)["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET /health\x00z HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnot hex\r\n0\r\n\r\n",
    ],
    ids=[
        "garbage",
        "bad content-length",
        "length and chunked",
        "NUL in path",
        "bad chunk size",
    ],
)
def test_malformed_http_gets_a_4xx_from_the_server(server, request_bytes: bytes) -> None:
    url, _ = server
    status, _, body = raw_exchange(url, request_bytes)
    assert 400 <= status < 500 and b"Traceback" not in body


@pytest.mark.parametrize(
    "headers",
    [b"X-Big: " + b"a" * 100_000 + b"\r\n", b"".join(b"X-H%d: v\r\n" % n for n in range(5000))],
    ids=["100 KB header", "5000 headers"],
)
def test_huge_but_well_formed_headers_are_answered(server, headers: bytes) -> None:
    """uvicorn (h11) takes a large header block that arrives whole; what matters is an answer, not a 5xx."""
    url, _ = server
    status, _, body = raw_exchange(url, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert status in (200, 400, 431) and b"Traceback" not in body
