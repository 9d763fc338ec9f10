"""The HTTP routes, one module per resource: parse, call the answer engine or the index, return."""

from fastapi import APIRouter

from service.routes import ask, documents, feedback, operations, search
from service.routes.common import ADMIN_PATHS, PROBE_PATHS

ROUTERS: tuple[APIRouter, ...] = (ask.router, feedback.router, search.router, documents.router, operations.router)

__all__ = ["ADMIN_PATHS", "PROBE_PATHS", "ROUTERS"]
