"""Health, readiness, metrics and the admin reload."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.deps import HolderDep, MetricsDep, require_admin
from service.errors import ServiceError
from service.routes.common import LIMITED
from service.schemas import ErrorResponse, HealthResponse, ReloadResponse
from service.state import LOAD_ERRORS

router = APIRouter()


@router.get("/healthz", response_model=HealthResponse, tags=["operations"])
async def healthz() -> HealthResponse:
    """The process is alive (says nothing about the index)."""
    return HealthResponse(status="ok")


@router.get(
    "/readyz",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "Not ready"}},
    tags=["operations"],
)
async def readyz(holder: HolderDep, request: Request, response: Response) -> HealthResponse:
    """Ready when a verified index and the safety and abstention models are loaded; 503 with the reason otherwise.

    Ready with a ``detail`` when an older version serves because the published one is damaged.
    """
    if request.app.state.models is None:
        response.status_code = 503
        return HealthResponse(status="not_ready", detail=request.app.state.models_problem)
    index, problem = holder.current, holder.problem
    if index is None:
        response.status_code = 503
        return HealthResponse(status="not_ready", detail=problem)
    return HealthResponse(status="ready", index_version=index.version, detail=problem)


@router.get(
    "/metrics",
    tags=["operations"],
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus metrics"}},
)
async def metrics_endpoint(metrics: MetricsDep) -> Response:
    """Prometheus metrics: requests, latency, answer outcomes, red flags, reloads."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.post(
    "/v1/admin/reload",
    response_model=ReloadResponse,
    dependencies=[Depends(require_admin)],
    responses={
        401: {"model": ErrorResponse, "description": "No key given"},
        403: {"model": ErrorResponse, "description": "Wrong key, or admin disabled"},
        409: {
            "model": ErrorResponse,
            "description": "The newest version cannot be served; the current one keeps serving",
        },
        **LIMITED,
    },
    tags=["operations"],
)
async def reload(holder: HolderDep, metrics: MetricsDep) -> ReloadResponse:
    """Load the newest published index version; requests in flight finish on the version they started with."""
    try:
        result = await run_in_threadpool(holder.reload)
    except LOAD_ERRORS as exc:
        metrics.reloads.labels("refused").inc()
        raise ServiceError(
            409, "reload_refused", f"the newest index cannot be served, keeping the current one: {exc}"
        ) from exc
    metrics.reloads.labels("changed" if result.changed else "unchanged").inc()
    return ReloadResponse(**asdict(result))
