"""Ingest with the real model: the shipped corpus and a MedQuAD slice."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from index import SearchIndex
from ingest import ingest, load_sources
from tests.conftest import CORPUS, MEDQUAD_SLICE

pytestmark = pytest.mark.slow


def test_shipped_corpus_index_is_complete_and_within_the_model_limit(corpus_index: Path, embedder) -> None:
    index = SearchIndex.load(corpus_index, embedder=embedder)
    manifest = index.manifest
    assert manifest.model.name == "sentence-transformers/all-MiniLM-L6-v2"
    assert manifest.model.dim == 384 and manifest.model.fingerprint == embedder.fingerprint
    assert manifest.counts["documents"] == 13
    assert manifest.chunker["chunk_tokens"] <= embedder.max_tokens
    db = index._db()
    assert db.execute("SELECT MAX(n_tokens) FROM chunks").fetchone()[0] <= manifest.chunker["chunk_tokens"]
    for document in index.documents():
        rows = db.execute('SELECT start, "end", text FROM sentences WHERE doc_id = ?', (document.doc_id,)).fetchall()
        assert rows, document.doc_id
        assert all(document.text[start:end] == text for start, end, text in rows)


def test_each_article_is_found_by_its_own_title(corpus_index: Path, embedder) -> None:
    index = SearchIndex.load(corpus_index, embedder=embedder)
    for document in load_sources([CORPUS]).documents:
        for mode in ("hybrid", "dense", "sparse"):
            top = [h.doc_id for h in index.search(document.title, k=3, mode=mode)]
            assert document.doc_id in top, (mode, document.title, top)


def test_medquad_slice_ingests_and_answers_its_own_questions(tmp_path: Path, medquad_slice: Path, embedder) -> None:
    result = ingest([medquad_slice], index_dir=tmp_path, embedder=embedder, progress=False)
    assert result.skipped == [] and result.build.documents == MEDQUAD_SLICE
    index = SearchIndex.load(tmp_path, embedder=embedder)
    db = index._db()
    assert db.execute("SELECT MAX(n_tokens) FROM chunks").fetchone()[0] <= 192
    for document in index.documents()[:40]:
        rows = db.execute('SELECT start, "end", text FROM chunks WHERE doc_id = ?', (document.doc_id,)).fetchall()
        assert all(document.text[start:end] == text for start, end, text in rows)
    with gzip.open(medquad_slice, "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    # The question is indexed as the title, so the answer should come back near the top.
    found = sum(
        f"medquad-{n:05d}" in {h.doc_id for h in index.search(r["question"], k=10)}
        for n, r in enumerate(records[:30], start=1)
    )
    assert found >= 24
