"""The records the index stores and returns.

Offsets are character offsets into ``Document.text`` (Python ``str`` indices),
so ``doc.text[start:end]`` is always the exact span.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

SearchMode = Literal["hybrid", "dense", "sparse"]
SEARCH_MODES: tuple[SearchMode, ...] = ("hybrid", "dense", "sparse")


@dataclass(frozen=True)
class Document:
    """One article as loaded from its source file.

    Attributes:
        doc_id: Unique id within the corpus.
        title: Human-readable title.
        text: The document text that all offsets refer to.
        url: Where a reader can find the article (may be empty).
        source: The file (and line, for JSONL) it came from.
        metadata: Everything else from front matter or the record
            (``disclaimer``, ``reviewed``, ``sources``, ``related``, ...).
    """

    doc_id: str
    title: str
    text: str
    url: str = ""
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        """SHA-256 over everything that affects chunks and stored metadata."""
        payload = json.dumps(
            [self.doc_id, self.title, self.text, self.url, self.metadata],
            sort_keys=True,
            ensure_ascii=False,
            default=str,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Span:
    """A sentence, and the block marks that place it in its document's structure.

    Ingest reads the Markdown once and records here what later stages need of it, so nothing after
    ingest parses ``document.text`` again.

    Attributes:
        start: Offset of the first character in the document text.
        end: Offset one past the last character; ``text == document.text[start:end]``.
        text: The sentence.
        block: Which paragraph or list item of the document the sentence is in (0-based, in document
            order; headings are not blocks). Two sentences share a paragraph exactly when they share a block.
        in_list_item: The block is a list item (bulleted or numbered), wherever in it the sentence is.
        starts_list_item: The sentence is the first of its list item.
        follows_heading: A heading (Markdown, or a short title line) lies between this sentence and the
            one before it (for the first sentence: between it and the start of the document).
    """

    start: int
    end: int
    text: str
    block: int
    in_list_item: bool
    starts_list_item: bool
    follows_heading: bool


@dataclass(frozen=True)
class Chunk:
    """A passage of consecutive sentences, sized to fit the embedding model.

    Attributes:
        doc_id: The document it belongs to.
        ordinal: Position of the chunk within its document (0-based).
        section: The heading the passage sits under ("" before any heading).
        start: Offset of the first character in the document text.
        end: Offset one past the last character.
        text: ``document.text[start:end]``.
        sentences: Indices into the document's sentence list, in order.
        embed_text: What is embedded (the passage, optionally prefixed with
            title and section for context); always within the token budget.
        n_tokens: Token count of ``embed_text`` by the model's tokenizer,
            special tokens included.
    """

    doc_id: str
    ordinal: int
    section: str
    start: int
    end: int
    text: str
    sentences: tuple[int, ...]
    embed_text: str
    n_tokens: int

    @property
    def chunk_id(self) -> str:
        return f"{self.doc_id}#{self.ordinal}"


@dataclass(frozen=True)
class PreparedDocument:
    """A document split for indexing: its sentences and chunks."""

    document: Document
    sentences: tuple[Span, ...]
    chunks: tuple[Chunk, ...]


@dataclass(frozen=True)
class Hit:
    """One ranked passage returned by a search.

    ``score`` is the score of the mode asked for (fused RRF score for hybrid,
    cosine similarity for dense, BM25 for sparse); ``dense_score`` and
    ``sparse_score`` are filled when that retriever ranked the chunk.
    """

    rank: int
    score: float
    row: int
    chunk_id: str
    doc_id: str
    title: str
    url: str
    section: str
    text: str
    start: int
    end: int
    dense_score: float | None = None
    sparse_score: float | None = None


@dataclass(frozen=True)
class SentenceRecord:
    """A stored sentence with its row in the sentence-vector matrix.

    ``ordinal`` is its position among its document's sentences; ``section`` the heading it sits under
    ("" before any heading); ``block``, ``in_list_item``, ``starts_list_item`` and ``follows_heading``
    are its block marks, as on ``Span``.
    """

    row: int
    doc_id: str
    ordinal: int
    start: int
    end: int
    text: str
    section: str
    block: int
    in_list_item: bool
    starts_list_item: bool
    follows_heading: bool
