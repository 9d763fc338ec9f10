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


def _marks(text: str, *, title: str = "t") -> list[tuple[str, int, bool, bool, bool]]:
    """Each sentence with its block marks: (text, block, in_list_item, starts_list_item, follows_heading)."""
    return [
        (s.text, s.block, s.in_list_item, s.starts_list_item, s.follows_heading)
        for s, _ in split_sentences(Document("d", title, text))
    ]


def test_sentences_of_one_paragraph_share_a_block_and_a_blank_line_starts_the_next() -> None:
    text = "Rest helps. Heat eases\nstiffness on the next line.\n\nA new paragraph starts here."
    assert _marks(text) == [
        ("Rest helps.", 0, False, False, False),
        ("Heat eases\nstiffness on the next line.", 0, False, False, False),
        ("A new paragraph starts here.", 1, False, False, False),
    ]


def test_bulleted_items_are_blocks_and_a_sentence_inside_an_item_continues_it() -> None:
    text = "Try these:\n\n- Walk every day. Keep it gentle.\n* Bend your knees.\n+ Lie flat\n  on a firm mattress.\n"
    assert _marks(text) == [
        ("Try these:", 0, False, False, False),
        ("Walk every day.", 1, True, True, False),
        ("Keep it gentle.", 1, True, False, False),
        ("Bend your knees.", 2, True, True, False),
        ("Lie flat\n  on a firm mattress.", 3, True, True, False),
    ]


def test_numbered_items_are_blocks_and_an_item_continues_on_its_next_lines() -> None:
    text = "Do this in order.\n1. Warm up first.\n2) Stretch slowly.\nHold each stretch.\n\nThen rest."
    assert _marks(text) == [
        ("Do this in order.", 0, False, False, False),
        ("Warm up first.", 1, True, True, False),
        ("Stretch slowly.", 2, True, True, False),
        ("Hold each stretch.", 2, True, False, False),  # a lazy continuation line: still the item
        ("Then rest.", 3, False, False, False),
    ]


def test_a_heading_between_sentences_is_marked_on_the_sentence_after_it() -> None:
    text = (
        "Text before any heading. More of it.\n\n# Sciatica\n\nUnder the title.\n\n## Self-care\n\n"
        "- Keep moving.\n\nCommon causes\n\nA disc can press on the nerve."
    )
    spans = split_sentences(Document("d", "Sciatica", text))
    assert [(s.text, s.follows_heading, section) for s, section in spans] == [
        ("Text before any heading.", False, ""),
        ("More of it.", False, ""),
        ("Under the title.", True, ""),  # the title's own heading is a heading too
        ("Keep moving.", True, "Self-care"),
        ("A disc can press on the nerve.", True, "Common causes"),  # a short title line is a heading
    ]


def test_a_short_item_read_as_a_title_line_is_no_heading_over_its_list() -> None:
    """Ingest reads a short unpunctuated item ("- Fever") as a title line; the items after it stay in its list."""
    text = "Watch for these signs:\n\n- Fever\n- A cough that lasts for weeks.\n- Chills\n- Pain when you breathe in."
    assert _marks(text) == [
        ("Watch for these signs:", 0, False, False, False),
        ("A cough that lasts for weeks.", 1, True, True, False),
        ("Pain when you breathe in.", 2, True, True, False),
    ]


def test_pieces_of_an_over_long_item_stay_in_it_and_only_the_first_starts_it(count_tokens) -> None:
    long_sentence = " ".join(f"word{i}" for i in range(200)) + "."
    document = Document("d", "t", f"## Steps\n\n- {long_sentence}\n- Rest.")
    prepared = chunk_document(document, count_tokens=count_tokens, settings=ChunkerSettings(chunk_tokens=64))
    *pieces, rest = prepared.sentences
    assert len(pieces) > 1 and rest.text == "Rest."
    assert {(p.block, p.in_list_item) for p in pieces} == {(0, True)}
    assert [(p.starts_list_item, p.follows_heading) for p in pieces] == [(True, True)] + [(False, False)] * (
        len(pieces) - 1
    )
    assert (rest.block, rest.starts_list_item, rest.follows_heading) == (1, True, False)


def test_budget_must_be_sane() -> None:
    with pytest.raises(ValueError, match="chunk_tokens must be >= 16, got 4"):
        ChunkerSettings(chunk_tokens=4)
