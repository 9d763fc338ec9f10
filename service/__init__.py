"""The HTTP service: the FastAPI app (``service.main``), its routes, schemas, dependencies, middleware and limits."""
