"""The versioned index: incremental builds, verification, refusal of damaged or foreign indexes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from index import (
    Document,
    EmbeddingMismatchError,
    EmptyIndexError,
    IndexCorruptError,
    IndexFormatError,
    IndexLockedError,
    IndexNotBuiltError,
    SearchIndex,
    current_version,
    list_versions,
)
from index.store import write_lock
from ingest import split_sentences
from tests.conftest import FakeEmbedder
from tests.index.generations import build

DOCS = [
    Document("knees", "Knee pain", "Knees can ache after squats. Rest and ice help. See a doctor if it swells.", "/k"),
    Document(
        "back", "Back pain", "Most back pain gets better in weeks. Keep moving gently. Heat can ease stiffness.", "/b"
    ),
    Document("sleep", "Sleep", "A pillow between the knees helps side sleepers. Roll to your side to get up.", "/s"),
]


def test_first_build_publishes_and_search_finds_each_document(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    report = build(DOCS, tmp_path, fake_embedder)
    assert (report.version, report.published, report.documents) == ("v000001", True, 3)
    index = SearchIndex.load(tmp_path, embedder=fake_embedder)
    for mode in ("dense", "sparse", "hybrid"):
        assert index.search("pillow side sleepers", k=1, mode=mode)[0].doc_id == "sleep"
    hit = index.search("squats", k=1, mode="sparse")[0]
    knees = index.document("knees")
    assert knees is not None and knees.text[hit.start : hit.end] == hit.text


def test_unchanged_corpus_embeds_nothing_and_publishes_nothing(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    build(DOCS, tmp_path, fake_embedder)
    fake_embedder.embedded.clear()
    report = build(DOCS, tmp_path, fake_embedder)
    assert (report.published, report.version) == (False, "v000001")
    assert fake_embedder.embedded == []
    assert list_versions(tmp_path) == ["v000001"]


def test_a_changed_document_is_re_embedded_alone(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    build(DOCS, tmp_path, fake_embedder)
    before = SearchIndex.load(tmp_path, embedder=fake_embedder)
    fake_embedder.embedded.clear()
    changed = [DOCS[0], replace(DOCS[1], text="Most back pain eases with time. Walking helps."), DOCS[2]]
    report = build(changed, tmp_path, fake_embedder)
    assert (report.published, report.changed, report.added, report.removed) == (True, ["back"], [], [])
    new_text = changed[1].text
    assert fake_embedder.embedded
    assert all(t.startswith("Back pain\n") or t in new_text for t in fake_embedder.embedded)
    assert report.chunks_embedded == len([t for t in fake_embedder.embedded if t.startswith("Back pain\n")])
    after = SearchIndex.load(tmp_path, embedder=fake_embedder)
    assert after.search("walking", k=1, mode="sparse")[0].doc_id == "back"
    # Reused vectors are the same vectors.
    rows_before = [h.row for h in before.search("pillow side sleepers", k=10, mode="dense") if h.doc_id == "sleep"]
    rows_after = [h.row for h in after.search("pillow side sleepers", k=10, mode="dense") if h.doc_id == "sleep"]
    np.testing.assert_allclose(
        before._dense.reconstruct_n(rows_before[0], 1), after._dense.reconstruct_n(rows_after[0], 1)
    )


def test_a_removed_document_disappears(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    build(DOCS, tmp_path, fake_embedder)
    fake_embedder.embedded.clear()
    report = build(DOCS[:2], tmp_path, fake_embedder)
    assert report.removed == ["sleep"]
    assert fake_embedder.embedded == []  # a removal reuses every vector and embeds nothing
    index = SearchIndex.load(tmp_path, embedder=fake_embedder)
    assert [d.doc_id for d in index.documents()] == ["back", "knees"]
    assert all(h.doc_id != "sleep" for h in index.search("pillow side sleepers", k=10))


def test_save_load_gives_the_same_hits(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    build(DOCS, tmp_path, fake_embedder)
    first = SearchIndex.load(tmp_path, embedder=fake_embedder).search("knee pain rest", k=5)
    second = SearchIndex.load(tmp_path, embedder=fake_embedder).search("knee pain rest", k=5)
    assert first == second and first


def test_missing_index_is_a_clear_error(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    with pytest.raises(IndexNotBuiltError, match="healthqa ingest"):
        SearchIndex.load(tmp_path, embedder=fake_embedder)


@pytest.mark.parametrize("victim", ["dense.faiss", "meta.sqlite", "sentences.npy", "bm25/params.index.json"])
def test_a_corrupt_file_is_refused_by_name(tmp_path: Path, fake_embedder: FakeEmbedder, victim: str) -> None:
    build(DOCS, tmp_path, fake_embedder)
    path = tmp_path / "versions" / "v000001" / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match=victim.replace(".", r"\.")):
        SearchIndex.load(tmp_path, embedder=fake_embedder)


def test_a_truncated_file_is_refused(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    build(DOCS, tmp_path, fake_embedder)
    path = tmp_path / "versions" / "v000001" / "dense.faiss"
    path.write_bytes(path.read_bytes()[:10])
    with pytest.raises(IndexCorruptError, match="has 10 bytes"):
        SearchIndex.load(tmp_path, embedder=fake_embedder)


def test_a_damaged_manifest_is_refused(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    build(DOCS, tmp_path, fake_embedder)
    (tmp_path / "versions" / "v000001" / "manifest.json").write_text("{not json")
    with pytest.raises(IndexCorruptError, match="not a valid manifest"):
        SearchIndex.load(tmp_path, embedder=fake_embedder)


def test_an_index_of_another_model_is_refused(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    build(DOCS, tmp_path, fake_embedder)
    other = FakeEmbedder(fingerprint="fake-2")
    with pytest.raises(EmbeddingMismatchError, match="built with model 'fake'.*re-run 'healthqa ingest'"):
        SearchIndex.load(tmp_path, embedder=other)


def test_a_model_change_re_embeds_everything(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    build(DOCS, tmp_path, fake_embedder)
    other = FakeEmbedder(fingerprint="fake-2")
    report = build(DOCS, tmp_path, other)
    assert report.published and report.chunks_embedded == report.chunks
    manifest = json.loads((tmp_path / "versions" / report.version / "manifest.json").read_text())
    assert manifest["model"]["fingerprint"] == "fake-2"


def test_damaged_published_version_falls_back_to_the_newest_good_one(
    tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    build(DOCS, tmp_path, fake_embedder)
    build(DOCS[:2], tmp_path, fake_embedder)
    (tmp_path / "versions" / "v000002" / "sentences.npy").write_bytes(b"garbage")
    index = SearchIndex.load_newest_good(tmp_path, embedder=fake_embedder)
    assert index.version == "v000001"


def test_damaged_published_version_is_rebuilt_from_scratch(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    build(DOCS, tmp_path, fake_embedder)
    (tmp_path / "versions" / "v000001" / "dense.faiss").write_bytes(b"garbage")
    report = build(DOCS, tmp_path, fake_embedder)
    assert report.published and report.chunks_embedded == report.chunks
    assert SearchIndex.load(tmp_path, embedder=fake_embedder).version == report.version


def test_old_versions_are_pruned(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    for n in range(1, 6):
        build([replace(d, text=d.text + f" Edit {n}.") for d in DOCS], tmp_path, fake_embedder, keep_versions=2)
    assert list_versions(tmp_path) == ["v000004", "v000005"]
    assert current_version(tmp_path) == "v000005"


def test_a_second_writer_is_refused(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    with write_lock(tmp_path), pytest.raises(IndexLockedError, match="another ingest is writing"):
        build(DOCS, tmp_path, fake_embedder)


def test_documents_without_sentences_cannot_make_an_index(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    with pytest.raises(EmptyIndexError, match="hold no sentences"):
        build([Document("h", "Heading only", "# Heading only")], tmp_path, fake_embedder)
    assert current_version(tmp_path) is None


def test_hnsw_index_builds_and_searches(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    build(DOCS, tmp_path, fake_embedder, dense_type="hnsw")
    index = SearchIndex.load(tmp_path, embedder=fake_embedder)
    assert index.manifest.dense["type"] == "hnsw"
    assert index.search("pillow side sleepers", k=1, mode="dense")[0].doc_id == "sleep"


def test_search_validates_its_arguments(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    build(DOCS, tmp_path, fake_embedder)
    index = SearchIndex.load(tmp_path, embedder=fake_embedder)
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        index.search("x", k=0)
    with pytest.raises(ValueError, match="mode must be one of"):
        index.search("x", mode="fuzzy")  # type: ignore[arg-type]
    assert index.search("zzzz qqqq", mode="sparse") == []


def test_a_search_only_index_skips_sentence_vectors(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    report = build(DOCS, tmp_path, fake_embedder, sentence_vectors="none")
    assert report.sentences_embedded == 0 and report.sentences > 0
    index = SearchIndex.load(tmp_path, embedder=fake_embedder)
    assert index.search("pillow side sleepers", k=1)[0].doc_id == "sleep"
    with pytest.raises(ValueError, match="built without sentence vectors"):
        index.sentence_vectors([0])
    fake_embedder.embedded.clear()
    again = build(DOCS, tmp_path, fake_embedder, sentence_vectors="pooled")
    assert again.published and again.sentences_embedded == again.sentences


def test_a_sentence_repeated_across_documents_is_embedded_once(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    shared = "Call your doctor if the pain lasts more than a week."
    docs = [
        Document("a", "Knees", f"Knees ache after squats. {shared}", "/a"),
        Document("b", "Backs", f"Backs ache after lifting. {shared}", "/b"),
    ]
    build(docs, tmp_path, fake_embedder)
    assert fake_embedder.embedded.count(shared) == 1
    index = SearchIndex.load(tmp_path, embedder=fake_embedder)
    rows = [
        record.row
        for _, record in index.sentences_in_chunks(list(range(index.manifest.counts["chunks"])))
        if record.text == shared
    ]
    assert len(set(rows)) == 2  # both documents keep their own sentence, with the same vector
    vectors = index.sentence_vectors(sorted(set(rows)))
    assert np.allclose(vectors[0], vectors[1]) and np.isclose(np.linalg.norm(vectors[0]), 1.0, atol=1e-3)


def test_a_sentence_repeated_far_apart_is_still_embedded_once(
    tmp_path: Path, fake_embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Documents are embedded a window at a time; a repeat in a later window reuses the earlier vector."""
    monkeypatch.setattr("index.build._WINDOW_DOCUMENTS", 1)
    shared = "Call your doctor if the pain lasts more than a week."
    docs = [Document(f"d{i}", f"Topic {i}", f"Topic {i} aches after sport number {i}. {shared}", "") for i in range(3)]
    report = build(docs, tmp_path, fake_embedder)
    assert fake_embedder.embedded.count(shared) == 1
    assert report.sentences_embedded == report.sentences == 6 and report.sentences_standalone == 4
    index = SearchIndex.load(tmp_path, embedder=fake_embedder)
    assert index.manifest.sentence_vectors == "standalone"
    assert np.allclose(index.sentence_vectors([1]), index.sentence_vectors([5]))


class SpanFakeEmbedder(FakeEmbedder):
    """The fake embedder with span pooling: a span's vector is the bag of its words; a span holding
    the word "cut" counts as cut off by the model's token limit (not read whole)."""

    span_pooling = "mean"

    def __init__(self) -> None:
        super().__init__(fingerprint="fake-1")
        self.pooled_texts: list[str] = []

    def embed_with_spans(self, texts, spans, *, batch_size=64, progress=False, desc=""):
        self.pooled_texts.extend(texts)
        pieces = [text[a:b] for text, text_spans in zip(texts, spans, strict=True) for a, b in text_spans]
        whole = np.array(["cut" not in piece for piece in pieces], dtype=bool)
        vectors = np.stack([self._vector(p) for p in pieces]) if pieces else np.zeros((0, self.dim), np.float32)
        return np.stack([self._vector(t) for t in texts]), vectors * whole[:, None], whole


def test_pooled_sentence_vectors_come_from_the_chunk_pass_and_switching_method_re_embeds(tmp_path: Path) -> None:
    docs = [*DOCS, Document("cut", "Long", "This sentence gets cut by the limit. The next one is read whole.", "/c")]
    fake = SpanFakeEmbedder()
    build(docs, tmp_path, fake, sentence_vectors="standalone")
    fake.embedded.clear()
    report = build(docs, tmp_path, fake)  # pooled by default
    # Another method: everything is embedded again, in one pass per chunk; only the cut sentence alone.
    assert report.published and report.chunks_embedded == report.chunks and report.sentence_vectors == "pooled"
    assert fake.embedded == ["This sentence gets cut by the limit."] and report.sentences_standalone == 1
    index = SearchIndex.load(tmp_path, embedder=fake)
    assert index.manifest.sentence_vectors == "pooled"
    for _, sentence in index.sentences_in_chunks(list(range(report.chunks))):
        expected = fake._vector(sentence.text)  # the bag of the sentence's words, cut inside its chunk's text
        assert np.allclose(index.sentence_vectors([sentence.row])[0], expected, atol=2e-3), sentence.text
    assert any(text.startswith("Knee pain\n") for text in fake.pooled_texts)  # the embedded text, title first
    unchanged = build(docs, tmp_path, fake, sentence_vectors="pooled")  # the default, named
    assert not unchanged.published
    back = build(docs, tmp_path, fake, sentence_vectors="standalone")
    assert back.published and back.chunks_embedded == back.chunks and back.sentence_vectors == "standalone"


@pytest.mark.parametrize(
    ("old", "read_as"),
    [
        ({"sentence_vectors": True, "sentence_method": "chunk-mean-pooled"}, "pooled"),
        ({"sentence_vectors": True, "sentence_method": "standalone"}, "standalone"),
        ({"sentence_vectors": True}, "standalone"),  # from before the method was recorded
        ({"sentence_vectors": False, "sentence_method": "standalone"}, "none"),
    ],
)
def test_a_manifest_of_the_earlier_format_reads_under_the_one_name(
    tmp_path: Path, old: dict[str, object], read_as: str
) -> None:
    """Indexes built before the settings had one name each still load (and say how they were made)."""
    build(DOCS, tmp_path, SpanFakeEmbedder(), sentence_vectors="standalone")
    (manifest_file,) = tmp_path.glob("versions/v*/manifest.json")
    data = json.loads(manifest_file.read_text())
    data.pop("sentence_vectors")
    from index.store import Manifest

    assert Manifest.from_json(json.dumps(data | old)).sentence_vectors == read_as


STRUCTURED = Document(
    "stretches",
    "Stretches",
    "# Stretches\n\nGentle stretches ease a stiff back. Try these:\n\n- A knee roll loosens the lower back.\n"
    "- A pelvic tilt works the stomach.\n  It is gentle.\n\n## Afterwards\n\n1. Rest for a day.\n2. Walk again.\n",
    "/st",
)


def _stored_marks(index: SearchIndex) -> dict[str, list[tuple[object, ...]]]:
    """Every stored sentence's place and block marks, by document, in document order."""
    records = {r.row: r for _, r in index.sentences_in_chunks(list(range(index.manifest.counts["chunks"])))}
    marks: dict[str, list[tuple[object, ...]]] = {}
    for record in sorted(records.values(), key=lambda r: r.row):
        marks.setdefault(record.doc_id, []).append(
            (
                record.ordinal,
                record.text,
                record.block,
                record.in_list_item,
                record.starts_list_item,
                record.follows_heading,
            )
        )
    return marks


def _ingested_marks(document: Document) -> list[tuple[object, ...]]:
    spans = [s for s, _ in split_sentences(document)]
    return [(i, s.text, s.block, s.in_list_item, s.starts_list_item, s.follows_heading) for i, s in enumerate(spans)]


def test_block_marks_survive_build_and_load(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    build([*DOCS, STRUCTURED], tmp_path, fake_embedder)
    stored = _stored_marks(SearchIndex.load(tmp_path, embedder=fake_embedder))
    assert stored["stretches"] == _ingested_marks(STRUCTURED)
    assert any(m[4] for m in stored["stretches"]) and any(m[5] for m in stored["stretches"])  # the test tests


def test_an_incremental_build_keeps_the_marks_of_the_documents_it_reuses(
    tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    """A reused document's sentences are read back from the previous version: with their marks, not defaults."""
    build([*DOCS, STRUCTURED], tmp_path, fake_embedder)
    before = _stored_marks(SearchIndex.load(tmp_path, embedder=fake_embedder))
    report = build(
        [replace(DOCS[0], text="Knees can ache after running. Ice helps."), *DOCS[1:], STRUCTURED],
        tmp_path,
        fake_embedder,
    )
    assert report.changed == ["knees"] and report.published
    after = _stored_marks(SearchIndex.load(tmp_path, embedder=fake_embedder))
    assert after["stretches"] == before["stretches"] == _ingested_marks(STRUCTURED)


def test_an_index_of_the_older_format_is_refused_and_the_next_build_makes_it_afresh(
    tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    """A format-1 index holds no block marks: it is not served, and nothing of it is reused."""
    build([*DOCS, STRUCTURED], tmp_path, fake_embedder)
    (manifest_file,) = tmp_path.glob("versions/v*/manifest.json")
    manifest_file.write_text(json.dumps(json.loads(manifest_file.read_text()) | {"format_version": 1}))
    with pytest.raises(IndexFormatError, match="has format 1, this program reads 2; re-run ingest"):
        SearchIndex.load(tmp_path, embedder=fake_embedder)
    fake_embedder.embedded.clear()
    report = build([*DOCS, STRUCTURED], tmp_path, fake_embedder)
    assert report.published and report.chunks_embedded == report.chunks
    stored = _stored_marks(SearchIndex.load(tmp_path, embedder=fake_embedder))
    assert stored["stretches"] == _ingested_marks(STRUCTURED)
