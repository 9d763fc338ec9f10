"""The sentence-transformers (torch) backend of the embedder.

Usage example::

    embedder = SentenceTransformerEmbedder.from_name(DEFAULT_MODEL)
    vectors = embedder.embed_documents(["Rest helps a strained back."])  # (1, 384) float32
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from index.embedding.base import LocalModelEmbedder, ModelLocation, TokenStates, Vectors, resolve_model, token_states_of

if TYPE_CHECKING:  # importing torch costs seconds; only this backend needs it
    from sentence_transformers import SentenceTransformer


class SentenceTransformerEmbedder(LocalModelEmbedder):
    """An ``Embedder`` backed by a local sentence-transformers model on torch (CPU).

    The model and torch are imported on first use, so counting tokens or
    reading the fingerprint stays cheap.
    """

    backend = "torch"

    def __init__(self, location: ModelLocation, *, device: str = "cpu") -> None:
        super().__init__(location)
        self._device = device

    @classmethod
    def from_name(cls, name: str, *, device: str = "cpu") -> SentenceTransformerEmbedder:
        return cls(resolve_model(name), device=device)

    @cached_property
    def _model(self) -> SentenceTransformer:
        # The model is on disk: never let the Hugging Face client reach a hub.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # a bar per weight load is noise
        return SentenceTransformer(str(self._location.path), device=self._device)

    @property
    def dim(self) -> int:
        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise ValueError(f"model {self.name!r} does not state its embedding dimension")
        return int(dim)

    def _fallback_max_tokens(self) -> int:
        return int(self._model.max_seq_length or 512)

    def _embed_batch(self, texts: list[str]) -> Vectors:
        vectors = self._model.encode(
            texts, batch_size=len(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)

    def _token_batch(self, texts: list[str]) -> tuple[Vectors, list[TokenStates]]:
        outputs: list[dict[str, Any]] = self._model.encode(  # type: ignore[assignment]  # output_value=None: dicts
            texts,
            batch_size=len(texts),
            output_value=None,  # every output: the pooled, normalised vector and the token vectors
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        encodings = self._window_tokenizer.encode_batch(texts, add_special_tokens=True)
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        tokens: list[TokenStates] = []
        for row, (output, encoding) in enumerate(zip(outputs, encodings, strict=True)):
            vector = output["sentence_embedding"].float().numpy()
            vectors[row] = vector / max(float(np.linalg.norm(vector)), 1e-12)
            read = int(output["attention_mask"].sum())  # the batch is padded to its longest text
            states = output["token_embeddings"][:read].float().numpy()
            if (
                read != len(encoding.ids) or output["input_ids"][:read].tolist() != encoding.ids
            ):  # another tokenization than tokenizer.json's: no offsets to trust
                tokens.append(TokenStates(np.zeros((0, self.dim), np.float32), np.zeros((0, 2), np.int64), True))
                continue
            tokens.append(token_states_of(states, encoding))
        return vectors, tokens
