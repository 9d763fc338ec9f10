"""A real app over a real index of the shipped corpus, started once per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from settings import Settings


def make_client(index_dir: Path, embedder, **settings) -> TestClient:
    # Every TestClient request comes from one address; only the tests of the rate limit count them.
    settings.setdefault("rate_limit", "off")
    app = create_app(Settings(index_dir=index_dir, **settings), embedder=embedder)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(corpus_index: Path, embedder) -> Iterator[TestClient]:
    with make_client(corpus_index, embedder) as test_client:
        yield test_client
