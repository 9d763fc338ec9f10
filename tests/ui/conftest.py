"""Real APIs on loopback for the UI tests: uvicorn in a background thread, stopped after the session."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from ingest import ingest
from service.main import create_app
from settings import ChunkerSettings, Settings

# An article whose title, text and summary carry markup: the UI must show it as text, never run it.
HOSTILE_ARTICLE = """\
---
id: hostile-markup
title: "Stiff back <b>stretches</b> <script>alert('title')</script>"
summary: "Stretches for a stiff back <img src=x onerror=alert(1)>"
url: "javascript:alert('url')"
reviewed: 2026-11-24
disclaimer: "General information <b>only</b>, not medical advice."
---
# Stiff back <b>stretches</b> <script>alert('title')</script>

Gentle stretching every morning can ease a stiff lower back <b>within a week</b>. <script>alert('text')</script>
Walking for ten minutes a day also helps a stiff lower back loosen up.

## Stretches <i>to try</i>

- Lie on your back and hug both knees gently to your chest to stretch a stiff lower back.
- Rock your pelvis slowly while lying down to ease morning back stiffness.
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, *, timeout: float = 90.0) -> None:
    """Poll ``url`` until it answers 200; fail with the end of ``log`` if ``process`` dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the process exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}"
            )
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"nothing came up at {url} in {timeout:g} s:\n{log.read_text(errors='replace')[-3000:]}")


def stop_process(process: subprocess.Popen[bytes], *, timeout: float = 20.0) -> None:
    """Ask a server process to stop; kill it if it has not within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def serve_in_thread(app: FastAPI, *, port: int | None = None, startup_timeout: float = 120.0) -> Iterator[str]:
    """Run ``app`` with uvicorn on loopback (a free port by default) in a daemon thread; yield its URL, then stop it."""
    port = port or free_port()
    config = uvicorn.Config(app=app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the API did not start on 127.0.0.1:{port}")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="session")
def feedback_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the UI tests' API stores feedback (never the project's var/)."""
    return tmp_path_factory.mktemp("feedback") / "feedback.sqlite"


@pytest.fixture(scope="session")
def api_url(corpus_index: Path, embedder, feedback_db: Path) -> Iterator[str]:
    """The real API over the real index of the shipped corpus."""
    settings = Settings(index_dir=corpus_index, rate_limit="off", feedback_db=feedback_db)
    with serve_in_thread(create_app(settings, embedder=embedder)) as url:
        yield url


@pytest.fixture(scope="session")
def hostile_api_url(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[str]:
    """The real API over an index of one article full of HTML."""
    corpus = tmp_path_factory.mktemp("hostile-corpus")
    (corpus / "hostile-markup.md").write_text(HOSTILE_ARTICLE, encoding="utf-8")
    index_dir = tmp_path_factory.mktemp("hostile-index")
    ingest([corpus], index_dir=index_dir, embedder=embedder, chunker=ChunkerSettings(), progress=False)
    with serve_in_thread(create_app(Settings(index_dir=index_dir, rate_limit="off"), embedder=embedder)) as url:
        yield url


@pytest.fixture(scope="session")
def unready_api_url(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[str]:
    """The real API started over an empty index folder: up, but every question gets 503 index_unavailable."""
    empty = tmp_path_factory.mktemp("no-index")
    with serve_in_thread(create_app(Settings(index_dir=empty, rate_limit="off"), embedder=embedder)) as url:
        yield url


@pytest.fixture
def closed_url() -> str:
    """A loopback address where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"
