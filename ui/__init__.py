"""The healthqa web UI: a Streamlit app that talks to the query API over HTTP.

``ui`` imports nothing else from the project; run it with ``healthqa ui`` or
``python -m streamlit run ui/app.py``.
"""

from ui.client import ApiError, HealthQAClient
from ui.config import UISettings
from ui.launch import run_ui, start_ui

__all__ = ["ApiError", "HealthQAClient", "UISettings", "run_ui", "start_ui"]
