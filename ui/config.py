"""Settings of the web UI, from the environment (``HEALTHQA_UI_*``) or ``.env``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class UISettings(BaseSettings):
    """Where the UI finds the API, and how long it waits for it.

    Example: ``HEALTHQA_UI_API_URL=http://127.0.0.1:8000 python -m streamlit run ui/app.py``.
    """

    model_config = SettingsConfigDict(env_prefix="HEALTHQA_UI_", env_file=".env", extra="ignore")

    api_url: str = Field("http://127.0.0.1:8000", description="Base URL of the healthqa query API.")
    host: str = Field("127.0.0.1", description="Interface the web UI listens on (healthqa ui).")
    port: int = Field(8501, ge=1, le=65535, description="Port of the web UI (healthqa ui).")
    timeout: float = Field(15.0, gt=0, le=300, description="Seconds to wait for the API before giving up.")
    article_base_url: str | None = Field(
        None,
        description="Site that the articles' relative urls (e.g. /articles/sciatica) belong to; "
        "unset: the UI links its own article view instead.",
    )


def get_ui_settings() -> UISettings:
    """The settings, read afresh.

    Not cached, unlike the service's ``get_settings``: Streamlit re-runs the page on every click,
    reading the environment is cheap, and tests point each run at a different API. The HTTP
    client built from them is what is cached (``ui.client.get_client``).
    """
    return UISettings()
