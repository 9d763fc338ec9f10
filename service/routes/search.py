"""POST /v1/search: ranked passages."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from service.deps import IndexDep, SettingsDep
from service.routes.common import ERRORS, clean_text
from service.schemas import SearchRequest, SearchResponse, SearchResultPublic

router = APIRouter()


@router.post("/v1/search", response_model=SearchResponse, responses=ERRORS, tags=["search"])
async def search(request: SearchRequest, index: IndexDep, settings: SettingsDep) -> SearchResponse:
    """The passages ranked highest for a query: hybrid (dense and BM25 fused), dense, or sparse."""
    query = clean_text(request.query, field="query", limit=settings.max_question_chars)
    hits = await run_in_threadpool(index.search, query, k=request.k, mode=request.mode)
    results = [SearchResultPublic.model_validate(hit, from_attributes=True) for hit in hits]
    return SearchResponse(results=results, index_version=index.version)
