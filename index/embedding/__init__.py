"""Embedders: the protocol and model folders (``base``), the backends, and the factory that picks one."""

from __future__ import annotations

import logging
from pathlib import Path

from index.embedding.base import (
    CharSpan,
    Embedder,
    ModelLocation,
    SpanEmbedder,
    TokenStates,
    UnsupportedModelError,
    Vectors,
    model_fingerprint,
    pool_spans,
    read_pooling,
    resolve_model,
)
from index.embedding.onnx_backend import OnnxEmbedder
from index.embedding.torch_backend import SentenceTransformerEmbedder
from settings import EMBED_BACKENDS, EmbedBackend, EmbedderSettings

logger = logging.getLogger(__name__)

__all__ = [
    "CharSpan",
    "Embedder",
    "ModelLocation",
    "OnnxEmbedder",
    "SentenceTransformerEmbedder",
    "SpanEmbedder",
    "TokenStates",
    "UnsupportedModelError",
    "Vectors",
    "load_embedder",
    "open_embedder",
    "model_fingerprint",
    "pool_spans",
    "read_pooling",
    "resolve_model",
]


def load_embedder(
    name: str, *, backend: EmbedBackend = "onnx", cache_dir: Path = EmbedderSettings.model_cache_dir, threads: int = 0
) -> Embedder:
    """The embedder for a model name or folder on the chosen backend; nothing heavy loads until first use.

    Args:
        name: As for ``resolve_model``.
        backend: ``onnx`` (ONNX Runtime, same vectors as torch, no torch import when serving),
            ``onnx-int8`` (quantised: faster, slightly different vectors), or ``torch``
            (sentence-transformers). A model the ONNX backend cannot reproduce (e.g. with a
            Dense layer) falls back to torch, with a warning.
        cache_dir: Where ONNX exports are kept.
        threads: ONNX Runtime intra-op threads (0: one per core).

    Raises:
        ModelNotFoundError: no local copy of the model.
        ValueError: an unknown backend.
    """
    if backend not in EMBED_BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(EMBED_BACKENDS)}, got {backend!r}")
    location = resolve_model(name)
    if backend == "torch":
        return SentenceTransformerEmbedder(location)
    try:
        return OnnxEmbedder(location, cache_dir=cache_dir, quantized=backend == "onnx-int8", threads=threads)
    except UnsupportedModelError as exc:
        logger.warning("%s; using the torch backend", exc)
        return SentenceTransformerEmbedder(location)


def open_embedder(settings: EmbedderSettings) -> Embedder:
    """``load_embedder`` with the model, backend, cache and threads of ``settings``."""
    return load_embedder(
        settings.model,
        backend=settings.embed_backend,
        cache_dir=settings.model_cache_dir,
        threads=settings.embed_threads,
    )
