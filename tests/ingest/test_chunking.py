from __future__ import annotations

import pytest

from index import Document, SentenceTransformerEmbedder
from ingest import chunk_document, load_sources, split_sentences
from settings import DEFAULT_MODEL, ChunkerSettings
from tests.conftest import CORPUS


@pytest.fixture(scope="module")
def count_tokens():
    """The real model's tokenizer (loads in milliseconds; the model itself is not loaded)."""
    return SentenceTransformerEmbedder.from_name(DEFAULT_MODEL).count_tokens


def test_markdown_headings_set_sections_and_are_not_sentences() -> None:
    text = "# Sciatica\n\nIntro sentence one. Intro two.\n\n## Self-care\n\nKeep moving. Use heat."
    spans = split_sentences(Document("d", "Sciatica", text))
    assert [(s.text, section) for s, section in spans] == [
        ("Intro sentence one.", ""),
        ("Intro two.", ""),
        ("Keep moving.", "Self-care"),
        ("Use heat.", "Self-care"),
    ]


def test_list_markers_are_left_out_of_sentences() -> None:
    text = "Try these:\n\n- Walk every day.\n- Bend your knees.\n\n1. Excessive Stress on Joints: lift less."
    sentences = [s.text for s, _ in split_sentences(Document("d", "t", text))]
    assert "Walk every day." in sentences
    assert "Bend your knees." in sentences
    assert "Excessive Stress on Joints: lift less." in sentences
    assert not any(s.startswith(("-", "1.")) for s in sentences)


def test_title_line_and_short_unpunctuated_lines_are_headings() -> None:
    text = "Is it bad?\n\nIt is not. Rest.\n\nBack Pain - Related Articles"
    spans = split_sentences(Document("d", "Is it bad?", text))
    assert [s.text for s, _ in spans] == ["It is not.", "Rest."]


def test_abbreviations_do_not_end_sentences() -> None:
    spans = split_sentences(Document("d", "t", "Ask Dr. Lee about it. Then rest."))
    assert [s.text for s, _ in spans] == ["Ask Dr. Lee about it.", "Then rest."]


def test_every_offset_of_the_shipped_corpus_round_trips(count_tokens) -> None:
    settings = ChunkerSettings(chunk_tokens=128, chunk_overlap=1)
    for document in load_sources([CORPUS]).documents:
        prepared = chunk_document(document, count_tokens=count_tokens, settings=settings)
        assert prepared.chunks, document.doc_id
        for sentence in prepared.sentences:
            assert document.text[sentence.start : sentence.end] == sentence.text
            assert sentence.text == sentence.text.strip()
        for chunk in prepared.chunks:
            assert document.text[chunk.start : chunk.end] == chunk.text
            assert chunk.n_tokens <= 128
            assert count_tokens([chunk.embed_text])[0] == chunk.n_tokens
            first, last = prepared.sentences[chunk.sentences[0]], prepared.sentences[chunk.sentences[-1]]
            assert (chunk.start, chunk.end) == (first.start, last.end)


def test_chunks_cover_every_sentence_and_overlap_by_one(count_tokens) -> None:
    document = next(d for d in load_sources([CORPUS]).documents if d.doc_id == "sciatica")
    prepared = chunk_document(document, count_tokens=count_tokens, settings=ChunkerSettings(chunk_tokens=96))
    covered = {i for chunk in prepared.chunks for i in chunk.sentences}
    assert covered == set(range(len(prepared.sentences)))
    shared = [
        set(a.sentences) & set(b.sentences)
        for a, b in zip(prepared.chunks, prepared.chunks[1:], strict=False)
        if a.section == b.section
    ]
    assert shared and all(len(s) <= 1 for s in shared)
    assert any(len(s) == 1 for s in shared)


def test_a_sentence_longer_than_the_budget_is_cut_not_truncated(count_tokens) -> None:
    long_sentence = " ".join(f"word{i}" for i in range(400)) + "."
    document = Document("d", "t", f"Short one. {long_sentence} Another short one.")
    prepared = chunk_document(document, count_tokens=count_tokens, settings=ChunkerSettings(chunk_tokens=64))
    assert all(c.n_tokens <= 64 for c in prepared.chunks)
    joined = " ".join(document.text[s.start : s.end] for s in prepared.sentences)
    assert joined.split() == document.text.split()


def test_budget_must_be_sane() -> None:
    with pytest.raises(ValueError, match="chunk_tokens must be >= 16, got 4"):
        ChunkerSettings(chunk_tokens=4)
