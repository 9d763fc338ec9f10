"""The FastAPI application: ``create_app()`` builds it, the lifespan loads the model and the index once."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import limits
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from answer import AnswerCache, ArtifactError, LearnedModels, answer_secret, load_models
from feedback import FeedbackStore
from index import BatchingEmbedder, Embedder, ModelNotFoundError, current_signature, open_embedder, set_search_threads
from service.errors import install_error_handlers
from service.limits import RateLimiter, RateLimitMiddleware, WorkGate, WorkLimitMiddleware
from service.logs import configure_json_logging
from service.middleware import BodyLimitMiddleware, JsonCORSMiddleware, Metrics, RequestContextMiddleware
from service.routes import ADMIN_PATHS, PROBE_PATHS, ROUTERS
from service.state import IndexHolder
from service.watch import IndexCollector, IndexWatcher
from settings import Settings, get_settings
from triage import RedFlagCatalogueError

logger = logging.getLogger(__name__)

DESCRIPTION = """
Answers consumer health questions from the healthqa articles. Every answer sentence is quoted from an
article and cited; questions the articles don't cover get an honest abstention; warning signs in a
question raise red flags first. **Not medical advice.** Errors always have the shape
`{"error": {"code", "message", "request_id", "details"}}`.
"""


def create_app(
    settings: Settings | None = None, *, embedder: Embedder | None = None, models: LearnedModels | None = None
) -> FastAPI:
    """Build the app. ``settings`` defaults to the environment; ``embedder`` to the configured model; ``models``
    to the learned files of ``settings.models_dir``, loaded at start (tests that serve a stand-in embedder give
    their own)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One FAISS thread per search: requests run side by side, and thread teams would fight over the cores.
        set_search_threads(1)
        base = embedder or open_embedder(settings.embedder_settings())
        model: Embedder = BatchingEmbedder(base) if settings.query_batching else base
        holder = IndexHolder(
            settings.index_dir,
            embedder=model,
            search=settings.search_settings(),
        )
        app.state.holder = holder
        try:
            configured = settings.answer_secret.get_secret_value() if settings.answer_secret else None
            app.state.answer_secret = await run_in_threadpool(answer_secret, configured, settings.index_dir)
        except OSError as exc:
            # Answers go on with a secret of this process alone: its ids verify here until it restarts.
            app.state.answer_secret = secrets.token_bytes(32)
            logger.error(
                "no answer-id secret could be read or made beside the index; set HEALTHQA_ANSWER_SECRET so that "
                "feedback on an answer verifies on every replica and after a restart",
                extra={"reason": str(exc)},
            )
        try:
            # Loaded here, not at import: a missing, damaged or mismatched safety layer leaves the service
            # not ready (/readyz says why), and /v1/ask answers 503 rather than answer without it. The
            # backstop's example bank is built now (or read from the model cache), before the service is ready.
            app.state.models = models or await run_in_threadpool(
                load_models,
                settings.models_dir,
                embedder=base,
                cache_dir=settings.model_cache_dir,
                catalogue_path=settings.redflag_catalogue,
            )
        except (ArtifactError, RedFlagCatalogueError, OSError, ValueError) as exc:
            app.state.models, app.state.models_problem = None, f"the learned models cannot be loaded: {exc}"
            logger.error("learned models unusable", extra={"reason": str(exc)})
        seen = current_signature(settings.index_dir)  # before loading: a publish during the load is not missed
        index = await run_in_threadpool(holder.load)
        model_works = True
        if index is not None:
            try:
                # Warm the model (and make its ONNX export if missing) so the first question is not the slow one.
                await run_in_threadpool(index.embed_query, "warm up")
            except ModelNotFoundError as exc:
                # Without a working model nothing can be answered: not ready, and /readyz says why.
                holder.current, holder.problem = None, f"the embedding model cannot run: {exc}"
                logger.error("embedding model unusable", extra={"reason": str(exc)})
                model_works = False
        # The holder alone keeps the index: this frame lives as long as the app, and a reference held
        # here would pin the first version (against pruning, in memory) long after a newer one serves.
        del index
        watcher = None
        if settings.index_watch_s > 0 and model_works:
            watcher = IndexWatcher(holder, interval_s=settings.index_watch_s, seen=seen)
            watcher.start()
        app.state.watcher = watcher
        try:
            yield
        finally:
            if watcher is not None:
                await run_in_threadpool(watcher.stop)

    app = FastAPI(
        title="healthqa",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "answers", "description": "Cited answers, abstentions and red flags."},
            {"name": "search", "description": "Ranked passages."},
            {"name": "feedback", "description": "Thumbs up or down on an answer, stored for review."},
            {"name": "documents", "description": "The articles."},
            {"name": "operations", "description": "Health, readiness, metrics and admin."},
        ],
    )
    metrics = Metrics()
    app.state.metrics = metrics
    metrics.registry.register(
        IndexCollector(lambda: getattr(app.state, "holder", None), lambda: getattr(app.state, "watcher", None))
    )
    app.state.models, app.state.models_problem = None, "the service is starting"
    app.state.answer_secret = secrets.token_bytes(32)  # replaced at start by the deployment's
    app.state.feedback = FeedbackStore(settings.feedback_db)
    app.state.answer_cache = (
        AnswerCache(max_entries=settings.answer_cache, max_bytes=int(settings.answer_cache_mb * 2**20))
        if settings.answer_cache
        else None
    )

    async def configured_settings() -> Settings:  # async: no thread-pool hop per request
        return settings

    app.dependency_overrides[get_settings] = configured_settings
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    _install_middleware(app, settings, metrics)
    _document_limits(app, settings)
    return app


def _install_middleware(app: FastAPI, settings: Settings, metrics: Metrics) -> None:
    """Wrap the app in its middleware; each ``add_middleware`` wraps the ones added before it.

    From the outside in: proxy headers (trusted proxies only), request context, CORS, rate limit,
    body cap, then the work cap and timeout.
    """
    gate = WorkGate(
        max_concurrent=settings.max_concurrent, max_waiting=settings.max_queue, wait_s=settings.queue_wait_s
    )
    app.state.work_gate = gate
    app.add_middleware(
        WorkLimitMiddleware,
        gate=gate,
        timeout_s=settings.request_timeout_s,
        # Probes must answer under overload; a reload must finish rather than time out halfway.
        exempt=PROBE_PATHS | ADMIN_PATHS,
        metrics=metrics,
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, timeout_s=settings.request_timeout_s)
    if settings.rate_limit is not None:
        limiter = RateLimiter(limits.parse_many(settings.rate_limit))
        app.add_middleware(RateLimitMiddleware, limiter=limiter, exempt=PROBE_PATHS, metrics=metrics)
    app.add_middleware(
        JsonCORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST"],
        allow_headers=["content-type", "x-request-id"],  # not X-API-Key: admin is not for browsers
        expose_headers=["x-request-id", "retry-after"],
    )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    if settings.trusted_proxies:
        # uvicorn's own parser: X-Forwarded-For is read right to left, skipping trusted hops.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)


def _document_limits(app: FastAPI, settings: Settings) -> None:
    """Put the configured length limit into the OpenAPI schema (the models can't know it)."""
    build_default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = build_default()
            schemas = spec["components"]["schemas"]
            schemas["AskRequest"]["properties"]["question"]["maxLength"] = settings.max_question_chars
            schemas["SearchRequest"]["properties"]["query"]["maxLength"] = settings.max_question_chars
            schemas["FeedbackRequest"]["properties"]["question"]["maxLength"] = settings.max_question_chars
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def serve(settings: Settings) -> None:
    """Run the API with uvicorn on ``settings.host:settings.port``.

    Raises:
        ModelNotFoundError: the configured model is not on this machine (checked before the server starts).
    """
    import uvicorn

    embedder = open_embedder(settings.embedder_settings())

    configure_json_logging(settings.log_level)
    # proxy_headers=False: uvicorn would otherwise believe X-Forwarded-For from any local process;
    # the app reads it from HEALTHQA_TRUSTED_PROXIES only.
    uvicorn.run(
        create_app(settings, embedder=embedder),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
    )
