"""How documents rank from their chunks: the lead chunk's share (``SearchSettings.lead_weight``) and the
title field (``SearchSettings.title_weight``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from index import Document, SearchIndex
from index.sparse import SparseIndex
from service.state import IndexHolder
from settings import SearchSettings
from tests.conftest import FakeEmbedder
from tests.index.generations import build

DOCS = [
    Document(
        "shingles",
        "Shingles",
        "Shingles is a painful rash that blisters on one side of the body, often in older people. "
        "The blisters crust over in a week or two. Pain can last after it heals. "
        "Rest and cool compresses ease the itching.",
        "/shingles",
    ),
    Document(
        "vaccines",
        "Vaccines for adults",
        "Adults need a flu vaccine every year and a tetanus booster every ten years. "
        "Travel can call for other vaccines. Ask a pharmacist which ones apply. "
        "The shingles vaccine prevents the shingles rash.",
        "/vaccines",
    ),
]


def _index(
    tmp_path: Path,
    embedder: FakeEmbedder,
    lead_weight: float,
    *,
    title_weight: float = 0.0,
    docs: list[Document] = DOCS,
) -> SearchIndex:
    if not (tmp_path / "CURRENT").exists():
        build(docs, tmp_path, embedder)
    settings = SearchSettings(lead_weight=lead_weight, title_weight=title_weight)
    return SearchIndex.load(tmp_path, embedder=embedder, settings=settings)


def test_a_document_whose_opening_matches_outranks_one_matching_only_in_a_later_chunk(
    tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    """Issue 12: a neighbouring article's passing mention ranked above the article about the topic."""
    mention_first = _index(tmp_path, fake_embedder, 0.0).search("shingles rash vaccine", k=1, mode="dense")
    assert mention_first[0].doc_id == "vaccines"  # its last chunk holds every word of the query
    lead_first = _index(tmp_path, fake_embedder, 0.5).search("shingles rash vaccine", k=1, mode="dense")
    assert lead_first[0].doc_id == "shingles"


@pytest.mark.parametrize("mode", ["dense", "hybrid", "sparse"])
def test_each_chunk_score_mixes_its_own_and_its_lead_chunks(
    tmp_path: Path, fake_embedder: FakeEmbedder, mode: str
) -> None:
    plain = _index(tmp_path, fake_embedder, 0.0)
    n = plain.manifest.counts["chunks"]
    assert n > len(DOCS)  # several chunks per document
    own = {hit.row: hit.score for hit in plain.search("rash pain vaccine", k=n, mode=mode)}  # type: ignore[arg-type]
    leaning = replace(plain.settings, lead_weight=0.3)
    plain.settings = leaning
    lead_of = plain._lead_rows()
    for hit in plain.search("rash pain vaccine", k=n, mode=mode):  # type: ignore[arg-type]
        lead_score = own.get(int(lead_of[hit.row]), 0.0)  # a lead chunk BM25 does not match scores 0
        assert hit.score == pytest.approx(0.7 * own[hit.row] + 0.3 * lead_score, abs=1e-5)


def test_lead_weight_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="lead_weight must be within"):
        SearchSettings(lead_weight=1.5)


# The second document mentions shingles more often than the first, whose title names it.
TITLED = [
    Document(
        "shingles",
        "Shingles",
        "A painful rash on one side of the body, often in older people. The blisters crust over in a week or two. "
        "Rest and cool compresses ease the itching. Pain can last after the rash heals.",
        "/shingles",
    ),
    Document(
        "vaccines",
        "Vaccines for adults",
        "Adults need a flu vaccine every year. The shingles vaccine prevents shingles; shingles is common after fifty. "
        "Ask a pharmacist which vaccines apply to you.",
        "/vaccines",
    ),
]


@pytest.mark.parametrize("mode", ["hybrid", "sparse"])
def test_a_title_match_adds_the_same_scaled_amount_to_every_chunk_of_its_document(
    tmp_path: Path, fake_embedder: FakeEmbedder, mode: str
) -> None:
    query = "shingles rash blisters"
    plain = _index(tmp_path, fake_embedder, 0.2, docs=TITLED)
    n = plain.manifest.counts["chunks"]
    own = {hit.row: hit for hit in plain.search(query, k=n, mode=mode)}  # type: ignore[arg-type]
    title_bm25 = dict(
        zip(["shingles", "vaccines"], SparseIndex.build([d.title for d in TITLED]).scores(query), strict=True)
    )
    assert title_bm25["shingles"] > 0 and title_bm25["vaccines"] == 0
    plain.settings = replace(plain.settings, title_weight=0.5)
    best_bm25 = max(hit.sparse_score or 0.0 for hit in own.values())
    scale = plain.settings.convex_alpha if mode == "hybrid" else best_bm25
    for hit in plain.search(query, k=n, mode=mode):  # type: ignore[arg-type]
        added = 0.5 * scale * title_bm25[hit.doc_id] / title_bm25["shingles"]
        assert hit.score == pytest.approx(own[hit.row].score + added, abs=1e-5)
        assert hit.dense_score == own[hit.row].dense_score  # the cosine abstention reads is not touched


def test_the_document_a_title_names_outranks_one_that_mentions_it_more_often(
    tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    body_first = _index(tmp_path, fake_embedder, 0.0, docs=TITLED).search("shingles", k=1, mode="sparse")
    assert body_first[0].doc_id == "vaccines"
    title_first = _index(tmp_path, fake_embedder, 0.0, title_weight=0.5, docs=TITLED)
    assert title_first.search("shingles", k=1, mode="sparse")[0].doc_id == "shingles"


@pytest.mark.parametrize("mode", ["dense", "hybrid", "sparse"])
def test_documents_without_titles_rank_exactly_as_without_the_title_field(
    tmp_path: Path, fake_embedder: FakeEmbedder, mode: str
) -> None:
    """MedQuAD's answers have no titles: the title field must leave them as they were."""
    untitled = [replace(doc, title="") for doc in TITLED]
    without = _index(tmp_path, fake_embedder, 0.2, docs=untitled).search("shingles rash", k=5, mode=mode)  # type: ignore[arg-type]
    with_field = _index(tmp_path, fake_embedder, 0.2, title_weight=1.0, docs=untitled)
    assert with_field.search("shingles rash", k=5, mode=mode) == without  # type: ignore[arg-type]


def test_a_negative_title_weight_is_refused() -> None:
    with pytest.raises(ValueError, match="fusion weights must be >= 0"):
        SearchSettings(title_weight=-0.1)


def test_reciprocal_rank_fusion_takes_no_title_share_but_sparse_search_does(
    tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    rrf = replace(SearchSettings(lead_weight=0.0), fusion="rrf")
    index = _index(tmp_path, fake_embedder, 0.0, docs=TITLED)
    index.settings = rrf
    without = index.search("shingles", k=5, mode="hybrid")
    index.settings = replace(rrf, title_weight=1.0)
    assert index.search("shingles", k=5, mode="hybrid") == without  # ranks have no scale to add to
    assert index.search("shingles", k=1, mode="sparse")[0].doc_id == "shingles"  # sparse is scored either way


def test_a_served_version_has_its_title_field_and_lead_rows_read_before_the_first_question(
    tmp_path: Path, fake_embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holder prepares each version it swaps in (at start and on reload): 16,000 titles take
    0.7 s to index, which the first question after a publish must not wait for."""
    build(TITLED, tmp_path, fake_embedder)
    holder = IndexHolder(tmp_path, embedder=fake_embedder, search=SearchSettings(lead_weight=0.2, title_weight=0.5))
    served = holder.load()
    assert served is not None

    def no_reads(*_: object) -> None:
        raise AssertionError("read on first use, not before serving")

    monkeypatch.setattr(SearchIndex, "_load_title_index", no_reads)
    assert getattr(served, "_lead_rows_cache", None) is not None
    assert served.search("shingles", k=1, mode="sparse")[0].doc_id == "shingles"
