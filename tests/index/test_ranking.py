"""How documents rank from their chunks: the lead chunk's share (``SearchSettings.lead_weight``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from index import Document, SearchIndex, SearchSettings
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


def _index(tmp_path: Path, embedder: FakeEmbedder, lead_weight: float) -> SearchIndex:
    if not (tmp_path / "CURRENT").exists():
        build(DOCS, tmp_path, embedder)
    return SearchIndex.load(tmp_path, embedder=embedder, settings=SearchSettings(lead_weight=lead_weight))


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
