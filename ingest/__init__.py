"""Raw articles to chunks: read, parse, clean, split, then hand to ``index`` to embed and publish."""

from ingest.chunking import chunk_document, split_sentences
from ingest.errors import IngestInputError, NoDocumentsError, Problem, SourceError
from ingest.loaders import SUFFIXES, LoadResult, clean_text, load_sources
from ingest.pipeline import IngestResult, chunker_config, ingest
from ingest.screening import Finding, FlaggedDocument, screen_document, screen_text

__all__ = [
    "SUFFIXES",
    "Finding",
    "FlaggedDocument",
    "IngestInputError",
    "IngestResult",
    "LoadResult",
    "NoDocumentsError",
    "Problem",
    "SourceError",
    "chunk_document",
    "chunker_config",
    "clean_text",
    "ingest",
    "load_sources",
    "screen_document",
    "screen_text",
    "split_sentences",
]
