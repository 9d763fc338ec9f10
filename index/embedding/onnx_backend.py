"""The fast embedding backend: the same sentence-transformers model, exported once to ONNX Runtime.

Serving a query through ONNX Runtime takes a few milliseconds and needs neither
torch nor sentence-transformers in the process (importing them alone costs
seconds). The export runs once per model, with torch, and is verified against
sentence-transformers before it is cached.

Usage example::

    embedder = OnnxEmbedder(resolve_model(DEFAULT_MODEL), cache_dir=Path("var/models"))
    vectors = embedder.embed_queries(["knee pain after squats"])  # (1, 384) float32
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from index.embedding.base import (
    LocalModelEmbedder,
    ModelLocation,
    Pooling,
    TokenStates,
    UnsupportedModelError,
    Vectors,
    model_fingerprint,
    read_pooling,
    token_states_of,
)
from index.errors import ModelExportError

if TYPE_CHECKING:
    import onnxruntime

logger = logging.getLogger(__name__)

# Texts the export is checked on: short and long, plain and odd, one past the 256-token limit.
VERIFY_TEXTS = (
    "is it normal for my knees to ache after the gym?",
    "Back pain",
    "Rest, ice and gentle movement help most strains heal within a few weeks.",
    "Chest pain spreading to the left arm with sweating: call 911 now!",
    "Glaucoma is a group of diseases that can damage the eye's optic nerve and result in vision loss.",
    "naïve café — 10 mg/kg? ½ dose; 你好 😀",
    " ".join(["Lower back pain that lasts more than six weeks is called chronic back pain."] * 30),
)
MIN_COSINE = 0.999  # the export must reproduce sentence-transformers' vectors this closely, per text


@dataclass(frozen=True)
class ExportReport:
    """How an export was made and how closely it reproduces sentence-transformers."""

    model: str
    fingerprint: str
    pooling: str
    min_cosine: float
    min_cosine_int8: float | None
    torch_version: str
    onnxruntime_version: str


def export_dir(cache_dir: Path, location: ModelLocation, fingerprint: str) -> Path:
    """Where the export of one model version lives: named by the model and its fingerprint."""
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in location.name.split("/")[-1])
    return cache_dir / f"{slug}-{fingerprint[:16]}"


class OnnxEmbedder(LocalModelEmbedder):
    """An ``Embedder`` running an exported copy of a sentence-transformers model on ONNX Runtime.

    Vectors match the torch backend's to a cosine of at least 0.999 per text
    (checked at export), so an index built by either serves queries from the
    other; the fingerprint is the source model's. The int8 export's vectors
    differ (cosine about 0.99), so it has a fingerprint of its own: an index is
    built and served by one or the other, never a mix.

    Args:
        location: The sentence-transformers model folder.
        cache_dir: Where exports are kept (one sub-folder per model fingerprint).
        quantized: Use the int8 dynamically quantised export (faster, less exact).
        threads: ONNX Runtime intra-op threads; 0 lets it choose (one per core).
    """

    def __init__(self, location: ModelLocation, *, cache_dir: Path, quantized: bool = False, threads: int = 0) -> None:
        super().__init__(location)
        self.pooling = read_pooling(location.path)
        self.cache_dir = cache_dir
        self.quantized = quantized
        self.threads = threads
        self._session_lock = threading.Lock()

    @property
    def backend(self) -> str:
        return "onnx-int8" if self.quantized else "onnx"

    @property
    def export_path(self) -> Path:
        return export_dir(self.cache_dir, self._location, self.source_fingerprint)

    @cached_property
    def source_fingerprint(self) -> str:
        """The fingerprint of the sentence-transformers folder the export is made from."""
        return model_fingerprint(self._location.path)

    @cached_property
    def fingerprint(self) -> str:
        return f"{self.source_fingerprint}+int8" if self.quantized else self.source_fingerprint

    @cached_property
    def dim(self) -> int:
        config = json.loads((self._location.path / "config.json").read_text(encoding="utf-8"))
        return int(config["hidden_size"])

    @cached_property
    def _encoder(self) -> Any:
        """A tokenizer that truncates to the model's limit and pads a batch to its longest text."""
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self._location.path / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=self.max_tokens)
        pad_token = _pad_token(self._location.path)
        pad_id = tokenizer.token_to_id(pad_token)
        tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token=pad_token)
        return tokenizer

    @property
    def _session(self) -> onnxruntime.InferenceSession:
        session: onnxruntime.InferenceSession | None = self.__dict__.get("_loaded_session")
        if session is None:
            with self._session_lock:  # two first requests must not export twice
                session = self.__dict__.get("_loaded_session")
                if session is None:
                    session = self._open_session()
                    self.__dict__["_loaded_session"] = session
        return session

    def _open_session(self) -> onnxruntime.InferenceSession:
        model_file = self.export_path / ("model.int8.onnx" if self.quantized else "model.onnx")
        if not model_file.is_file():
            self._export()
            return self._new_session(model_file)
        try:
            return self._new_session(model_file)
        except Exception as exc:  # onnxruntime's load errors (InvalidProtobuf, Fail, ...) derive from Exception only
            logger.warning("the cached ONNX export %s cannot be loaded (%s); exporting it again", model_file, exc)
            shutil.rmtree(self.export_path, ignore_errors=True)
            self._export()
            return self._new_session(model_file)

    def _export(self) -> None:
        """Make the export, turning a failure to write it into an error that names the folder and the ways out.

        Raises:
            ModelExportError: the cache folder cannot be written.
        """
        try:
            export_onnx(self._location, self.export_path, fingerprint=self.source_fingerprint, pooling=self.pooling)
        except OSError as exc:
            raise ModelExportError(
                f"cannot write the ONNX export of {self.name} to {self.export_path}: {exc}; set "
                "HEALTHQA_MODEL_CACHE_DIR to a writable folder, or use HEALTHQA_EMBED_BACKEND=torch"
            ) from exc

    def _new_session(self, model_file: Path) -> onnxruntime.InferenceSession:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = self.threads
        # Idle threads sleep instead of spinning: a server's cores are wanted by the requests around each embedding.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # warnings about unused initialisers are noise
        return onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])

    @cached_property
    def span_pooling(self) -> str | None:
        return "mean" if self.pooling == "mean" else None

    def _embed_batch(self, texts: list[str]) -> Vectors:
        return self._forward(texts)[0]

    def _token_batch(self, texts: list[str]) -> tuple[Vectors, list[TokenStates]]:
        vectors, hidden, encodings = self._forward(texts)
        return vectors, [token_states_of(hidden[row], encoding) for row, encoding in enumerate(encodings)]

    def _forward(self, texts: list[str]) -> tuple[Vectors, Vectors, list[Any]]:
        """One pass: the texts' pooled, normalised vectors, the token vectors (the export's output) and the encodings."""
        encodings = self._encoder.encode_batch(texts, add_special_tokens=True)
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        wanted = {i.name for i in self._session.get_inputs()}
        (hidden,) = self._session.run(None, {k: v for k, v in feeds.items() if k in wanted})
        hidden = np.asarray(hidden, dtype=np.float32)
        return _normalise(pool(hidden, mask, self.pooling)), hidden, encodings


def pool(hidden: Vectors, mask: np.ndarray, pooling: Pooling) -> Vectors:
    """Token vectors (n, t, d) to text vectors (n, d), as sentence-transformers' Pooling does."""
    if pooling == "cls":
        pooled = hidden[:, 0]
    elif pooling == "lasttoken":
        pooled = hidden[np.arange(len(hidden)), mask.sum(axis=1) - 1]
    else:
        weights = mask[:, :, None].astype(np.float32)
        if pooling == "mean":
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        else:
            pooled = np.where(weights > 0, hidden, -1e9).max(axis=1)
    return np.asarray(pooled, dtype=np.float32)


def _normalise(vectors: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.clip(norms, 1e-12, None), dtype=np.float32)


def _pad_token(path: Path) -> str:
    try:
        special = json.loads((path / "special_tokens_map.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "[PAD]"
    token = special.get("pad_token", "[PAD]")
    return str(token["content"] if isinstance(token, dict) else token)


def export_onnx(location: ModelLocation, target: Path, *, fingerprint: str, pooling: Pooling) -> ExportReport:
    """Export a model's transformer to ONNX (and an int8 copy), verify both, and publish them at ``target``.

    Needs torch and sentence-transformers (once per model). The folder appears
    whole or not at all.

    Raises:
        UnsupportedModelError: the export's vectors differ from sentence-transformers'
            (cosine below 0.999 for some text).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logger.warning("exporting %s to ONNX once (a few seconds; needs torch) into %s", location.name, target)
    with _quiet_exporter():
        report = _export_and_verify(location, target, fingerprint=fingerprint, pooling=pooling)
    logger.warning("ONNX export verified: min cosine %.5f (int8 %s)", report.min_cosine, report.min_cosine_int8)
    return report


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's chatter (graph passes, quantiser notes, weight-loading bars) for its duration.

    The exporter and quantiser log at every level through loggers of their own
    and the root logger; the export runs once, before any request is served.
    """
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def _export_and_verify(location: ModelLocation, target: Path, *, fingerprint: str, pooling: Pooling) -> ExportReport:
    import onnxruntime
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(location.path), device="cpu")
    transformer: Any = reference[0].auto_model
    transformer.eval()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        _trace(transformer, staging / "model.onnx", torch)
        # Per-channel weights on the matrix products only: min cosine ~0.99 per text, vs ~0.93 per-tensor.
        quantize_dynamic(
            staging / "model.onnx",
            staging / "model.int8.onnx",
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
        )
        expected = reference.encode(list(VERIFY_TEXTS), normalize_embeddings=True, convert_to_numpy=True)
        cosines = {}
        for name, quantized in (("fp32", False), ("int8", True)):
            probe = OnnxEmbedder(location, cache_dir=target.parent, quantized=quantized, threads=1)
            probe.__dict__["source_fingerprint"] = fingerprint
            probe.__dict__["_loaded_session"] = onnxruntime.InferenceSession(
                str(staging / ("model.int8.onnx" if quantized else "model.onnx")), providers=["CPUExecutionProvider"]
            )
            got = np.vstack([probe.embed_queries([text]) for text in VERIFY_TEXTS])
            cosines[name] = float(np.min(np.sum(got * expected, axis=1)))
        if cosines["fp32"] < MIN_COSINE:
            raise UnsupportedModelError(
                f"the ONNX export of {location.name} reproduces sentence-transformers only to cosine "
                f"{cosines['fp32']:.5f} (< {MIN_COSINE}); use the torch backend (HEALTHQA_EMBED_BACKEND=torch)"
            )
        report = ExportReport(
            model=location.name,
            fingerprint=fingerprint,
            pooling=pooling,
            min_cosine=round(cosines["fp32"], 6),
            min_cosine_int8=round(cosines["int8"], 6),
            torch_version=torch.__version__,
            onnxruntime_version=onnxruntime.__version__,
        )
        (staging / "export.json").write_text(json.dumps(asdict(report), indent=2) + "\n", encoding="utf-8")
        if target.exists():  # another process finished first: theirs is as good as ours
            return report
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _trace(transformer: Any, path: Path, torch: Any) -> None:
    """Trace the transformer with a padded batch, so the attention mask stays in the graph."""
    takes_token_types = "token_type_ids" in inspect.signature(transformer.forward).parameters

    class LastHiddenState(torch.nn.Module):  # type: ignore[misc]
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            return self.model(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state

    ids = torch.tensor([[101, 7592, 2088, 102, 0, 0], [101, 2067, 3255, 2044, 3637, 102]], dtype=torch.long)
    mask = (ids != 0).long()
    inputs = (ids, mask, torch.zeros_like(ids)) if takes_token_types else (ids, mask)
    names = ["input_ids", "attention_mask", "token_type_ids"][: len(inputs)]
    axes = {0: torch.export.Dim("batch"), 1: torch.export.Dim("tokens")}
    with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # the exporter's notes on axis names and graph passes are noise here
        torch.onnx.export(
            LastHiddenState(transformer),
            inputs,
            str(path),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_shapes=dict.fromkeys(names, axes),
            dynamo=True,
            optimize=True,
            external_data=False,  # one self-contained file (the model is ~90 MB, well under protobuf's 2 GB)
            verbose=False,
        )
