from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from ingest import IngestInputError, NoDocumentsError, ingest, load_sources
from tests.conftest import SEED, require_shared


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_markdown_front_matter_becomes_metadata(tmp_path: Path) -> None:
    write(
        tmp_path / "a.md",
        "---\nid: sore-back\ntitle: Sore back\nurl: /articles/sore-back\nreviewed: 2026-11-24\n"
        "disclaimer: See a doctor.\nsources: [https://medlineplus.gov/backpain.html]\n---\n# Sore back\n\nRest a little. Then walk.\n",
    )
    [document] = load_sources([tmp_path]).documents
    assert (document.doc_id, document.title, document.url) == ("sore-back", "Sore back", "/articles/sore-back")
    assert document.metadata == {
        "reviewed": "2026-11-24",
        "disclaimer": "See a doctor.",
        "sources": ["https://medlineplus.gov/backpain.html"],
    }
    assert document.text == "# Sore back\n\nRest a little. Then walk."


def test_text_file_takes_its_first_line_as_title(tmp_path: Path) -> None:
    write(tmp_path / "knees.txt", "Why do knees ache?\n\nThey often do after squats.\n")
    [document] = load_sources([tmp_path / "knees.txt"]).documents
    assert (document.doc_id, document.title) == ("knees", "Why do knees ache?")


def test_html_keeps_the_article_and_drops_the_boilerplate(tmp_path: Path) -> None:
    body = " ".join(["Walking is one of the gentlest ways to keep a sore back moving."] * 6)
    write(
        tmp_path / "walk.html",
        "<html><head><title>Walking for back pain</title></head><body>"
        "<nav><a href='/'>Home</a> | <a href='/shop'>Shop our cushions</a></nav>"
        f"<article><h1>Walking for back pain</h1><p>{body}</p><p>Start with short walks.</p></article>"
        "<footer>Copyright 2026 Example Ltd. Cookie settings.</footer></body></html>",
    )
    [document] = load_sources([tmp_path]).documents
    assert document.title == "Walking for back pain"
    assert "Start with short walks." in document.text
    assert "Shop our cushions" not in document.text
    assert "Cookie settings" not in document.text


def test_jsonl_and_gzip_records(tmp_path: Path) -> None:
    records = [{"id": "r1", "title": "One", "text": "First   text.\n  Second line.", "url": "u1", "lang": "en"}]
    write(tmp_path / "a.jsonl", "\n".join(json.dumps(r) for r in records) + "\n")
    with gzip.open(tmp_path / "b.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": "r2", "text": "Gzipped."}) + "\n")
    documents = {d.doc_id: d for d in load_sources([tmp_path]).documents}
    assert documents["r1"].text == "First text.\nSecond line."
    assert documents["r1"].metadata == {"lang": "en"}
    assert documents["r2"].title == "r2"


def test_medquad_records_use_the_question_as_title(tmp_path: Path) -> None:
    record = {
        "id": "0000078-1",
        "question": "What is (are) Back Pain ?",
        "answer": "Back pain is common.  It ...",
        "url": "https://medlineplus.gov/backpain.html",
        "focus": "Back Pain",
        "qtype": "information",
        "source": "MPlusHealthTopics",
        "collection": "4_MPlus_Health_Topics_QA",
    }
    write(tmp_path / "m.jsonl", json.dumps(record) + "\n")
    [document] = load_sources([tmp_path]).documents
    assert document.doc_id == "medquad-00001"
    assert document.metadata["medquad_id"] == "0000078-1"
    assert document.title == "What is (are) Back Pain ?"
    assert document.text == "Back pain is common. It ..."
    assert document.metadata["focus"] == "Back Pain"


def test_the_real_medquad_file_loads_whole() -> None:
    path = require_shared(Path(__file__).resolve().parents[3] / "shared/datasets/medquad/medquad.jsonl.gz")
    result = load_sources([path])
    assert result.problems == []
    assert len(result.documents) == 16_407


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.md", "", "file is empty"),
        ("blank.txt", "   \n\n", "file is empty"),
        ("latin1.txt", "Caf\xe9 au lait".encode("latin-1"), "not valid UTF-8 (byte 0xe9 at offset 3)"),
        ("bad-yaml.md", "---\ntitle: [unclosed\n---\nBody.\n", "front matter is not valid YAML"),
        ("no-body.md", "---\ntitle: Only meta\n---\n", "has no article text after the front matter"),
        ("bad id.md", "Some text.", "invalid document id 'bad id'"),
        ("broken.jsonl.gz", b"\x1f\x8b\x08\x00garbage", "is not a valid gzip file"),
    ],
)
def test_bad_files_are_named_with_the_reason(tmp_path: Path, name: str, content: str | bytes, reason: str) -> None:
    path = write(tmp_path / name, content)
    result = load_sources([tmp_path])
    assert len(result.problems) == 1
    assert result.problems[0].source == str(path)
    assert reason in result.problems[0].reason


def test_bad_jsonl_lines_are_reported_with_line_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path / "mixed.jsonl",
        '{"id": "ok", "text": "Fine."}\n{not json}\n{"id": "no-text"}\n[1, 2]\n{"id": "also-ok", "text": "Fine too."}\n',
    )
    result = load_sources([path])
    assert [d.doc_id for d in result.documents] == ["ok", "also-ok"]
    assert [(p.source, p.reason.split(" (")[0]) for p in result.problems] == [
        (f"{path}:2", "line is not valid JSON"),
        (f"{path}:3", "record lacks 'text'"),
        (f"{path}:4", "expected a JSON object, got list"),
    ]


def test_duplicate_ids_name_both_files(tmp_path: Path) -> None:
    first = write(tmp_path / "a" / "same.txt", "One.")
    second = write(tmp_path / "b" / "same.md", "---\nid: same\n---\nTwo.")
    result = load_sources([tmp_path])
    [problem] = result.problems
    assert problem.source == str(second)
    assert f"duplicate document id 'same', also in {first}" == problem.reason


def test_missing_path_and_unsupported_type(tmp_path: Path) -> None:
    write(tmp_path / "notes.pdf", "x")
    result = load_sources([tmp_path / "nope", tmp_path / "notes.pdf"])
    assert [p.reason.split(";")[0] for p in result.problems] == ["no such file or folder", "unsupported file type"]


def test_other_file_types_in_folders_are_ignored_not_errors(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "Text.")
    write(tmp_path / "image.png", b"\x89PNG")
    write(tmp_path / ".hidden" / "b.txt", "Hidden.")
    result = load_sources([tmp_path])
    assert [d.doc_id for d in result.documents] == ["a"]
    assert result.ignored == [str(tmp_path / "image.png")]
    assert result.problems == []


def test_seed_text_file_loads_verbatim() -> None:
    [document] = load_sources([require_shared(SEED)]).documents
    assert document.text == SEED.read_text(encoding="utf-8")
    assert document.title == "Is joint pain good after working out?"


def test_ingest_refuses_bad_input_unless_keep_going(tmp_path: Path, fake_embedder) -> None:
    write(tmp_path / "src" / "good.txt", "Good text here.")
    write(tmp_path / "src" / "bad.md", "")
    with pytest.raises(IngestInputError, match="bad.md: file is empty"):
        ingest([tmp_path / "src"], index_dir=tmp_path / "index", embedder=fake_embedder, progress=False)
    assert not (tmp_path / "index" / "CURRENT").exists()
    result = ingest(
        [tmp_path / "src"], index_dir=tmp_path / "index", embedder=fake_embedder, keep_going=True, progress=False
    )
    assert result.build.documents == 1
    assert [p.source for p in result.skipped] == [str(tmp_path / "src" / "bad.md")]


def test_ingest_with_no_documents_is_an_error(tmp_path: Path, fake_embedder) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoDocumentsError, match="no documents found"):
        ingest([tmp_path / "empty"], index_dir=tmp_path / "index", embedder=fake_embedder, progress=False)
