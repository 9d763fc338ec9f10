"""CI's switches that turn a skip into a failure (``.ci/run`` sets them), read once when the session starts.

They are read here, at import, because ``tests/conftest.py`` imports this module before any test runs, and its
autouse fixture then clears every ``HEALTHQA_*`` variable from each test's environment.
"""

from __future__ import annotations

import os
from typing import Literal, NoReturn

import pytest

Switch = Literal["SHARED", "BROWSER", "MOUNTS", "NGINX"]
SWITCHES: tuple[Switch, ...] = ("SHARED", "BROWSER", "MOUNTS", "NGINX")
REQUIRED: frozenset[Switch] = frozenset(s for s in SWITCHES if os.environ.get(f"HEALTHQA_REQUIRE_{s}") == "1")


def skip_unless_required(switch: Switch, reason: str) -> NoReturn:
    """Skip with ``reason``; fail instead when ``HEALTHQA_REQUIRE_<switch>=1`` makes the test mandatory."""
    if switch in REQUIRED:
        pytest.fail(f"{reason}, and HEALTHQA_REQUIRE_{switch}=1 makes it mandatory")
    pytest.skip(reason)
