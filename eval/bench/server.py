"""``healthqa serve`` as a real server in a subprocess on a free loopback port, for the HTTP benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from settings import Settings

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 300.0  # a cold model load on a busy 2-core machine can take a minute or more

# Limits that would turn a throughput figure into a measurement of the limiter: no per-client rate,
# and a queue, queue waits and timeouts no benchmark request reaches. The cap on concurrent work stays
# as configured: it is part of how the service runs (a few requests at a time beat dozens of threads
# fighting over two cores), and past it requests wait in the queue rather than being shed.
# The answer cache is off too: a benchmark asks its questions in rounds, and hits would time the cache.
LIFTED_LIMITS: dict[str, object] = {
    "rate_limit": None,
    "answer_cache": 0,
    "max_queue": 10_000,
    "queue_wait_s": 60.0,
    "request_timeout_s": 600.0,
}


def lifted_limits_env() -> dict[str, str]:
    """``LIFTED_LIMITS`` as ``HEALTHQA_*`` variables (a service without a setting ignores it)."""
    return {f"HEALTHQA_{name.upper()}": "off" if value is None else str(value) for name, value in LIFTED_LIMITS.items()}


def without_limits(settings: Settings) -> Settings:
    """The same settings with ``LIFTED_LIMITS`` applied, for an app built in process."""
    fields = type(settings).model_fields
    return settings.model_copy(update={name: value for name, value in LIFTED_LIMITS.items() if name in fields})


class ServerError(RuntimeError):
    """The server did not start or become ready; the message holds the end of its log."""


@dataclass(frozen=True)
class Server:
    """A running server: its base URL, process id, and how long it took to be ready."""

    url: str
    pid: int
    ready_seconds: float
    log: Path


def free_port() -> int:
    """A loopback port nobody is listening on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a benchmarked server: this one, offline model loading, no request limits."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", **lifted_limits_env(), **(extra or {})}


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its children, in bytes."""
    process = psutil.Process(pid)
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return int(total)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextmanager
def running_server(
    index_dir: Path, *, log: Path, env: Mapping[str, str] | None = None, timeout: float = READY_TIMEOUT
) -> Iterator[Server]:
    """Start ``healthqa serve`` on a free port, wait until /readyz answers 200, and stop it after.

    ``ready_seconds`` runs from process start to the first 200 from /readyz (the cold start).

    Raises:
        ServerError: the server exited or was not ready within ``timeout`` seconds.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--index", str(index_dir)]
    log.parent.mkdir(parents=True, exist_ok=True)
    # A file, not a pipe: nobody reads the logs while the server runs, and a full pipe would stall it.
    with log.open("w", encoding="utf-8") as log_file:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, env=server_env(env))
        try:
            ready = _wait_ready(process, url, started=started, timeout=timeout, log=log)
            yield Server(url=url, pid=process.pid, ready_seconds=ready, log=log)
        finally:
            _stop(process)


def _wait_ready(process: subprocess.Popen[bytes], url: str, *, started: float, timeout: float, log: Path) -> float:
    with httpx.Client(timeout=2.0) as client:
        while time.perf_counter() - started < timeout:
            if process.poll() is not None:
                raise ServerError(f"the server exited with code {process.returncode}:\n{_tail(log)}")
            try:
                response = client.get(f"{url}/readyz")
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            if response.status_code == 200:
                return time.perf_counter() - started
            # The index is loaded before the port opens, so "not ready" now means it failed to load.
            raise ServerError(f"the server started without an index: {response.text}")
    raise ServerError(f"the server was not ready after {timeout:.0f} s:\n{_tail(log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
