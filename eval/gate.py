"""The CI gate: minimums (and maximums) from one reviewed file, checked against a run's results."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

THRESHOLDS_FILE = Path(__file__).resolve().parent / "thresholds.toml"


def load_thresholds(path: Path = THRESHOLDS_FILE) -> dict[str, dict[str, float]]:
    """``{"min": {dotted.metric: value}, "max": {...}}`` from the TOML file.

    Raises:
        ValueError: the file is not valid TOML or holds something other than numbers.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from exc
    bounds: dict[str, dict[str, float]] = {"min": {}, "max": {}}
    for kind in bounds:
        for suite, metrics in data.get(kind, {}).items():
            for name, value in _flatten(metrics).items():
                if not isinstance(value, int | float) or isinstance(value, bool):
                    raise ValueError(f"{path}: [{kind}.{suite}] {name} must be a number, got {value!r}")
                bounds[kind][f"{suite}.{name}"] = float(value)
    return bounds


def check_gate(results: Mapping[str, Any], thresholds: Mapping[str, Mapping[str, float]]) -> list[str]:
    """What fell outside its bound, one line each; suites absent from ``results`` are not checked."""
    failures = []
    for kind, bounds in thresholds.items():
        for name, bound in sorted(bounds.items()):
            parts = name.split(".")
            if not any(".".join(parts[:i]) in results for i in range(1, len(parts))):
                continue  # that suite was not run
            value = _lookup(results, name)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                failures.append(f"{name}: missing from the results (bound {kind} {bound})")
            elif kind == "min" and value < bound:
                failures.append(f"{name} = {value:.4f}, below its minimum {bound:.4f}")
            elif kind == "max" and value > bound:
                failures.append(f"{name} = {value:.4f}, above its maximum {bound:.4f}")
    return failures


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= _flatten(value, f"{name}.")
        else:
            flat[name] = value
    return flat


def _lookup(results: Mapping[str, Any], dotted: str) -> float | None:
    """Follow a dotted path; keys may themselves hold dots (``recall@10`` does not, ``corpus.tune`` is split)."""
    node: Any = results
    parts = dotted.split(".")
    i = 0
    while i < len(parts):
        for j in range(len(parts), i, -1):
            key = ".".join(parts[i:j])
            if isinstance(node, Mapping) and key in node:
                node, i = node[key], j
                break
        else:
            return None
    return float(node) if isinstance(node, int | float) else None
