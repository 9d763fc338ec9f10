"""The FastAPI query service and its settings."""

from service.config import Settings, get_settings

__all__ = ["Settings", "get_settings"]
