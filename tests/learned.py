"""The shipped learned models, loaded once for the tests that answer questions as the service does."""

from __future__ import annotations

import functools

from answer import ABSTENTION_FILE, AbstentionModel, LearnedModels, load_abstention_model, load_models, verify_artifact
from index import Embedder
from settings import MODELS_DIR

_BY_MODEL: dict[str, LearnedModels] = {}


def shipped(embedder: Embedder) -> LearnedModels:
    """Triage (the shipped catalogue and backstop, its example bank built with ``embedder``, the real model) and
    the calibrated abstention model, hash-checked. One bank per model and session: nothing is cached on disk."""
    if embedder.fingerprint not in _BY_MODEL:
        _BY_MODEL[embedder.fingerprint] = load_models(MODELS_DIR, embedder=embedder, cache_dir=None)
    return _BY_MODEL[embedder.fingerprint]


@functools.cache
def shipped_abstention() -> AbstentionModel:
    """The calibrated abstention model alone, hash-checked (for tests whose embedder is not the real model)."""
    verify_artifact(MODELS_DIR / ABSTENTION_FILE)
    return load_abstention_model(MODELS_DIR / ABSTENTION_FILE)
