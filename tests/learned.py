"""The shipped learned models, loaded once for the tests that answer questions as the service does."""

from __future__ import annotations

import functools

from answer import LearnedModels, load_models
from settings import MODELS_DIR


@functools.cache
def shipped() -> LearnedModels:
    """Triage (the shipped catalogue and backstop) and the calibrated abstention model, hash-checked."""
    return load_models(MODELS_DIR)
