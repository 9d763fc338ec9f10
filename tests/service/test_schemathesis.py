"""Property-based tests of the OpenAPI schema: generated requests never get a 5xx or break the contract."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from service.config import Settings
from service.main import create_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api_schema(corpus_index: Path, embedder) -> Iterator[schemathesis.BaseSchema]:
    app = create_app(Settings(index_dir=corpus_index, admin_api_key="schemathesis-key"), embedder=embedder)
    with TestClient(app):  # runs the lifespan: model and index loaded
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_endpoint_honours_its_schema(case: schemathesis.Case) -> None:
    case.call_and_validate()
