"""The learned parameter files the answer engine needs, checked against their hashes before use.

They live in ``models/`` (``HEALTHQA_MODELS_DIR``): ``abstention.json`` (``healthqa calibrate --write``) and
``redflag_backstop.json`` (``python -m eval.redflag_backstop --write``). ``SHA256SUMS`` beside them holds each
file's hash, written by the same commands: a file that was edited by hand, cut short or swapped for another
fails the check, and the service does not report ready without both. What is derived from texts in git (the
backstop's example bank) is not committed: loading builds it, or reads it from the model cache.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from answer.abstention import AbstentionModel, load_abstention_model
from index import Embedder
from triage import Triage, load_triage

ABSTENTION_FILE = "abstention.json"
BACKSTOP_FILE = "redflag_backstop.json"
SUMS_FILE = "SHA256SUMS"


class ArtifactError(ValueError):
    """A learned parameter file is missing, or is not the one its hash names."""


@dataclass(frozen=True)
class LearnedModels:
    """What the answer pipeline loads once per process: triage (rules and backstop) and abstention."""

    triage: Triage
    abstention: AbstentionModel


def load_models(
    models_dir: Path, *, embedder: Embedder, cache_dir: Path | None, catalogue_path: Path | None = None
) -> LearnedModels:
    """Load and hash-check the learned files and the red-flag catalogue, and build the backstop's example bank.

    Args:
        models_dir: The folder of the learned files and their ``SHA256SUMS``.
        embedder: The model questions are embedded with: the backstop must have been trained on its vectors,
            and it builds the bank when the cache has none.
        cache_dir: Where built banks are kept (``HEALTHQA_MODEL_CACHE_DIR``); None: build, keep nothing.
        catalogue_path: The red-flag catalogue (None: the shipped one).

    Raises:
        ArtifactError: a file is missing or fails its hash check.
        RedFlagCatalogueError: the catalogue is malformed.
        BackstopMismatchError: the backstop was trained with another embedding model or on other examples.
        ValueError: a file is not one this code can use.
        ModelNotFoundError: the embedding model cannot run to build the bank.
    """
    for name in (ABSTENTION_FILE, BACKSTOP_FILE):
        verify_artifact(models_dir / name)
    triage = load_triage(
        catalogue_path=catalogue_path, backstop_path=models_dir / BACKSTOP_FILE, embedder=embedder, cache_dir=cache_dir
    )
    return LearnedModels(triage=triage, abstention=load_abstention_model(models_dir / ABSTENTION_FILE))


def verify_artifact(path: Path) -> None:
    """Check ``path`` against its line in ``SHA256SUMS`` beside it.

    Raises:
        ArtifactError: the file or its hash line is missing, or the hash differs.
    """
    sums = _read_sums(path.parent)
    if not path.is_file():
        raise ArtifactError(f"{path} is missing; it is made by the command its docstring names")
    expected = sums.get(path.name)
    if expected is None:
        raise ArtifactError(f"{path.parent / SUMS_FILE} has no hash for {path.name}")
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != expected:
        raise ArtifactError(
            f"{path} does not match its hash in {SUMS_FILE} (expected {expected[:12]}..., got {actual[:12]}...): "
            "it was changed by hand or only partly written; re-run the command that makes it"
        )


def write_artifact(path: Path, text: str) -> None:
    """Write a learned file and record its hash in ``SHA256SUMS`` (the other lines kept)."""
    path.write_text(text, encoding="utf-8")
    sums = _read_sums(path.parent) if (path.parent / SUMS_FILE).is_file() else {}
    sums[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    lines = "".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items()))
    (path.parent / SUMS_FILE).write_text(lines, encoding="utf-8")


def _read_sums(folder: Path) -> dict[str, str]:
    try:
        text = (folder / SUMS_FILE).read_text(encoding="utf-8")
    except OSError as exc:
        raise ArtifactError(f"{folder / SUMS_FILE} cannot be read: {exc}") from exc
    sums: dict[str, str] = {}
    for line in text.splitlines():
        digest, _, name = line.partition("  ")
        if digest and name:
            sums[name.strip()] = digest.strip()
    return sums
