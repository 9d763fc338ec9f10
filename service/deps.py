"""FastAPI dependencies: settings, the served index, the learned models, metrics and the feedback store.

They are ``async def`` because they never block: FastAPI runs a plain ``def``
dependency in the thread pool, and those hand-offs cost more than the whole search.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Request

from answer import AnswerCache, LearnedModels
from feedback import FeedbackStore
from index import SearchIndex
from service.errors import ServiceError
from service.middleware import Metrics
from service.state import IndexHolder
from settings import AnswerSettings, Settings, get_settings

SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_holder(request: Request) -> IndexHolder:
    holder: IndexHolder = request.app.state.holder
    return holder


HolderDep = Annotated[IndexHolder, Depends(get_holder)]


async def get_index(holder: HolderDep) -> SearchIndex:
    """The index version this request will use from start to end."""
    index = holder.current
    if index is None:
        raise ServiceError(503, "index_unavailable", f"no index is loaded: {holder.problem}")
    return index


IndexDep = Annotated[SearchIndex, Depends(get_index)]


async def get_models(request: Request) -> LearnedModels:
    """Triage and abstention, loaded at start; 503 when they could not be (the service is not ready then)."""
    models: LearnedModels | None = request.app.state.models
    if models is None:
        raise ServiceError(
            503,
            "models_unavailable",
            f"the safety and abstention models are not loaded: {request.app.state.models_problem}",
        )
    return models


ModelsDep = Annotated[LearnedModels, Depends(get_models)]


async def get_answer_secret(request: Request) -> bytes:
    """The secret answer ids are signed with (set when the app starts)."""
    secret: bytes = request.app.state.answer_secret
    return secret


AnswerSecretDep = Annotated[bytes, Depends(get_answer_secret)]


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


MetricsDep = Annotated[Metrics, Depends(get_metrics)]


async def get_answer_cache(request: Request) -> AnswerCache | None:
    """The answer cache, or None when HEALTHQA_ANSWER_CACHE=0."""
    cache: AnswerCache | None = request.app.state.answer_cache
    return cache


AnswerCacheDep = Annotated[AnswerCache | None, Depends(get_answer_cache)]


async def get_feedback_store(request: Request) -> FeedbackStore:
    store: FeedbackStore = request.app.state.feedback
    return store


FeedbackStoreDep = Annotated[FeedbackStore, Depends(get_feedback_store)]


async def get_answer_settings(settings: SettingsDep) -> AnswerSettings:
    return settings.answer_settings()


AnswerSettingsDep = Annotated[AnswerSettings, Depends(get_answer_settings)]


async def require_admin(
    request: Request, settings: SettingsDep, x_api_key: Annotated[str | None, Header()] = None
) -> None:
    """Admin endpoints need the configured key, in the ``X-API-Key`` header only; with none configured they are off.

    The key is compared in constant time. With ``admin_require_https`` the request must have come over
    HTTPS: the scheme is the connection's own, or ``X-Forwarded-Proto`` when a trusted proxy sent it
    (``ProxyHeadersMiddleware`` rewrites the scheme for trusted proxies only).
    """
    if settings.admin_api_key is None or not settings.admin_api_key.get_secret_value():
        raise ServiceError(
            403, "admin_disabled", "admin endpoints are disabled: no HEALTHQA_ADMIN_API_KEY is configured"
        )
    if settings.admin_require_https and request.url.scheme != "https":
        raise ServiceError(403, "https_required", "admin endpoints need HTTPS (HEALTHQA_ADMIN_REQUIRE_HTTPS is on)")
    if x_api_key is None:
        raise ServiceError(
            401,
            "unauthorized",
            "this endpoint needs the admin key in the X-API-Key header",
            headers={"WWW-Authenticate": "X-API-Key"},
        )
    if not hmac.compare_digest(x_api_key.encode(), settings.admin_api_key.get_secret_value().encode()):
        raise ServiceError(403, "forbidden", "the admin key is not valid")
