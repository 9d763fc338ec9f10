"""GET /v1/documents and /v1/documents/{doc_id}: the served articles."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from service.deps import IndexDep
from service.errors import ServiceError
from service.routes.common import BUSY
from service.schemas import DocumentList, DocumentPublic, DocumentSummary, ErrorResponse

router = APIRouter()


@router.get("/v1/documents", response_model=DocumentList, responses=BUSY, tags=["documents"])
async def list_documents(index: IndexDep) -> DocumentList:
    """Every article in the served index, without its text."""
    documents = await run_in_threadpool(index.documents)
    return DocumentList(documents=[_summary(d) for d in documents], index_version=index.version)


@router.get(
    "/v1/documents/{doc_id}",
    response_model=DocumentPublic,
    responses={404: {"model": ErrorResponse, "description": "No such document"}, **BUSY},
    tags=["documents"],
)
async def get_document(doc_id: str, index: IndexDep) -> DocumentPublic:
    """One article: its text (which citation offsets refer to), metadata and disclaimer."""
    document = await run_in_threadpool(index.document, doc_id)
    if document is None:
        raise ServiceError(404, "not_found", f"no document with id {doc_id!r} in index {index.version}")
    summary = _summary(document)
    disclaimer = document.metadata.get("disclaimer")
    return DocumentPublic(
        **summary.model_dump(),
        text=document.text,
        disclaimer=disclaimer if isinstance(disclaimer, str) else "",
        metadata=document.metadata,
        index_version=index.version,
    )


def _summary(document: Any) -> DocumentSummary:
    meta = document.metadata
    tags = meta.get("tags") if isinstance(meta.get("tags"), list) else []
    return DocumentSummary(
        doc_id=document.doc_id,
        title=document.title,
        url=document.url,
        summary=str(meta.get("summary") or ""),
        reviewed=str(meta["reviewed"]) if meta.get("reviewed") else None,
        tags=[str(t) for t in tags],
    )
