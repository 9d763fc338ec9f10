"""Start the web UI: ``streamlit run ui/app.py`` in a child process, pointed at the API.

Usage example::

    run_ui(host="127.0.0.1", port=8501, api_url="http://127.0.0.1:8000")   # until Ctrl-C
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

APP = Path(__file__).resolve().with_name("app.py")
PROJECT_ROOT = APP.parent.parent
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def streamlit_command(*, host: str, port: int, extra_args: Sequence[str] = ()) -> list[str]:
    """The command line that serves ``ui/app.py`` on ``host:port``, headless and without usage statistics."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        # People using the page need no "Deploy" button or developer menu.
        "--client.toolbarMode",
        "minimal",
        *extra_args,
    ]


def ui_environment(api_url: str, *, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The child's environment: ``base`` (default: ours) with ``HEALTHQA_UI_API_URL`` set.

    The project root goes first on ``PYTHONPATH`` so that ``import ui`` works from a plain checkout too;
    ``streamlit run`` puts only the script's own folder on ``sys.path``.
    """
    env = dict(os.environ if base is None else base)
    env["HEALTHQA_UI_API_URL"] = api_url
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def start_ui(
    *,
    host: str,
    port: int,
    api_url: str,
    extra_args: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    **popen: Any,
) -> subprocess.Popen[bytes]:
    """Start the UI in the background and return its process (the caller stops it).

    Args:
        host: Interface to listen on, e.g. ``127.0.0.1``.
        port: Port to listen on.
        api_url: Base URL of the healthqa API.
        extra_args: More ``streamlit run`` options, e.g. ``["--server.fileWatcherType", "none"]``.
        environ: The environment to start from (default: ours); ``HEALTHQA_UI_API_URL`` is set on top.
        **popen: Passed to ``subprocess.Popen`` (e.g. ``stdout``, ``stderr``).
    """
    return subprocess.Popen(
        streamlit_command(host=host, port=port, extra_args=extra_args),
        env=ui_environment(api_url, base=environ),
        **popen,
    )


def run_ui(*, host: str, port: int, api_url: str) -> None:
    """Serve the UI in the foreground until it stops; SIGINT, SIGTERM and SIGHUP are passed on to Streamlit.

    Raises:
        subprocess.CalledProcessError: Streamlit stopped with a failure of its own (e.g. the port is taken;
            it says why on stderr). A stop asked for by a forwarded signal is not a failure.
    """
    process = start_ui(host=host, port=port, api_url=api_url)
    forwarded: list[int] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        forwarded.append(signum)
        if process.poll() is None:
            process.send_signal(signum)

    previous = {signum: signal.signal(signum, forward) for signum in _FORWARDED}
    try:
        returncode = process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if returncode != 0 and not forwarded:
        raise subprocess.CalledProcessError(returncode, process.args)
