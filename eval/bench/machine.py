"""What a benchmark ran on: CPU, cores, memory, Python, package versions, load, and the embedding backend."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from settings import Settings

PACKAGES = (
    "faiss-cpu",
    "torch",
    "sentence-transformers",
    "onnxruntime",
    "optimum",
    "numpy",
    "bm25s",
    "fastapi",
    "uvicorn",
    "httpx",
)


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages: other work on the machine skews every timing."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:  # not available on this platform
        return []


def describe_machine(settings: Settings) -> dict[str, Any]:
    """The facts a reader needs to compare two benchmark runs."""
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "load_average_at_start": load_average(),
        # The ONNX backend adds this setting; until then every run is the torch backend.
        "embed_backend": str(getattr(settings, "embed_backend", "torch")),
        "model": settings.model,
        "dense_type": settings.dense_type,
    }
