"""A real app over a real index of the shipped corpus, started once per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from answer import ABSTENTION_FILE, LearnedModels, load_abstention_model
from service.main import create_app
from settings import MODELS_DIR, Settings
from tests.conftest import FakeEmbedder
from triage import Triage, load_catalogue


def rules_only_models() -> LearnedModels:
    """The shipped catalogue and abstention model, without the backstop (for apps serving a fake embedder)."""
    abstention = load_abstention_model(MODELS_DIR / ABSTENTION_FILE)
    return LearnedModels(triage=Triage(load_catalogue(), backstop=None), abstention=abstention)


def make_client(index_dir: Path, embedder, **settings) -> TestClient:
    # Every TestClient request comes from one address; only the tests of the rate limit count them.
    settings.setdefault("rate_limit", "off")
    # The shipped backstop reads the real model's vectors: beside the fake embedder, the rules triage alone.
    models = rules_only_models() if isinstance(embedder, FakeEmbedder) else None
    app = create_app(Settings(index_dir=index_dir, **settings), embedder=embedder, models=models)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(corpus_index: Path, embedder) -> Iterator[TestClient]:
    with make_client(corpus_index, embedder) as test_client:
        yield test_client
