"""Property-based tests of the OpenAPI schema: generated requests never get a 5xx or break the contract.

Every operation in the schema is fuzzed (``test_the_schema_covers_every_route`` keeps it so): once with
no rate limit, so the examples reach the handlers, and once with a tiny budget, so the 429 answers
are checked against what the schema documents for each operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import settings

from service.main import create_app
from service.routes import ROUTERS
from settings import Settings

pytestmark = pytest.mark.slow


def _schema(index_dir: Path, embedder, **overrides) -> Iterator[schemathesis.BaseSchema]:
    # Generated feedback is stored beside the test's index, never in the project's var/.
    overrides.setdefault("feedback_db", index_dir.parent / f"feedback-{overrides.get('rate_limit')}.sqlite")
    app = create_app(Settings(index_dir=index_dir, admin_api_key="schemathesis-key", **overrides), embedder=embedder)
    with TestClient(app):  # runs the lifespan: model and index loaded
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module")
def api_schema(corpus_index: Path, embedder) -> Iterator[schemathesis.BaseSchema]:
    yield from _schema(corpus_index, embedder, rate_limit="off")


@pytest.fixture(scope="module")
def limited_schema(corpus_index: Path, embedder) -> Iterator[schemathesis.BaseSchema]:
    yield from _schema(corpus_index, embedder, rate_limit="3/minute")


schema = schemathesis.pytest.from_fixture("api_schema")
limited = schemathesis.pytest.from_fixture("limited_schema")


# No Hypothesis health check is suppressed: none fires here (checked at load average 13 on 2 cores).
# deadline=None because a call runs the real model and index, whose time is not what is tested.
@schema.parametrize()
@settings(max_examples=25, deadline=None)
def test_every_endpoint_honours_its_schema(case: schemathesis.Case) -> None:
    case.call_and_validate()


@limited.parametrize()
@settings(max_examples=5, deadline=None)
def test_rate_limited_answers_honour_the_schema(case: schemathesis.Case) -> None:
    case.call_and_validate()


def test_the_schema_covers_every_route(corpus_index: Path, embedder) -> None:
    app = create_app(Settings(index_dir=corpus_index), embedder=embedder)
    spec = app.openapi()
    routes = {
        (method.lower(), r.path)
        for router in ROUTERS
        for r in router.routes
        if isinstance(r, APIRoute)
        for method in r.methods or ()
    }
    documented = {(method, path) for path, operations in spec["paths"].items() for method in operations}
    assert routes and routes == documented
