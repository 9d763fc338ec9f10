"""Feedback end to end: the SQLite store (concurrent writers, restart, full and read-only disks), POST /v1/feedback
(validation, limits, rate limit, error shape, metrics), the CLI's list and export, and the safety text in parts."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from answer import GENERAL_DISCLAIMER, AnswerIdError, answer_id_for, answer_secret, parse_answer_id
from cli.main import app as cli_app
from eval.questions import load_questions
from eval.splits import feedback_split
from feedback import (
    FeedbackEntry,
    FeedbackStore,
    FeedbackUnavailableError,
    to_question_line,
)
from ingest import ingest
from settings import ChunkerSettings, Settings
from tests import editor_note as note
from tests.editor_note import write_note_articles
from tests.mounts import fill_leaving, mounted_tmpfs, read_only
from tests.service.conftest import make_client

LIMIT = Settings.model_fields["max_question_chars"].default

slow = pytest.mark.slow
KNEE_QUESTION = "is it normal for my knees to ache after the gym?"
HOSTILE_COMMENT = "[bold red]x[/bold red] <script>alert(1)</script> \x1b[2J **bold** $(rm -rf /)"


def entry(question: str = KNEE_QUESTION, **overrides: object) -> FeedbackEntry:
    fields: dict[str, object] = {
        "question": question,
        "rating": "down",
        "reason": "unhelpful",
        "comment": "",
        "index_version": "v000001",
        "chunk_ids": ("joint-pain-after-working-out#0", "muscle-soreness-vs-injury#2"),
    }
    fields.update(overrides)
    return FeedbackEntry(**fields)  # type: ignore[arg-type]


# --- the store ----------------------------------------------------------------------------------------------


def test_store_keeps_feedback_across_restarts_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "data" / "feedback.sqlite"
    assert FeedbackStore(path).list() == [] and not path.exists(), "nothing is written before feedback arrives"
    first = FeedbackStore(path).add(entry(rating="up", reason=None))
    second = FeedbackStore(path).add(entry(comment="it never said when to see a GP"))
    reopened = FeedbackStore(path)  # a new process would do the same: nothing is held in memory
    rows = reopened.list()
    assert [r.id for r in rows] == [second.id, first.id], "newest first"
    assert rows[0].comment == "it never said when to see a GP" and rows[0].doc_ids == (
        "joint-pain-after-working-out",
        "muscle-soreness-vs-injury",
    )
    assert [r.id for r in reopened.list(rating="up")] == [first.id]
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_store_filters_by_day(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite")
    store.add(entry())
    today = datetime.now(UTC).date()
    assert len(store.list(since=today, until=today)) == 1
    assert store.list(since=today + timedelta(days=1)) == []
    assert store.list(until=today - timedelta(days=1)) == []


def _write_many(path: str, writer: int, count: int) -> None:
    store = FeedbackStore(Path(path))
    for n in range(count):
        store.add(entry(f"question {writer}-{n}", rating="up" if n % 2 else "down", reason=None))


def test_concurrent_writers_in_threads_and_processes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite"
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_write_many, args=(str(path), w, 40)) for w in range(3)]
    threads = [threading.Thread(target=_write_many, args=(str(path), 10 + w, 40)) for w in range(4)]
    workers: list[threading.Thread | multiprocessing.process.BaseProcess] = [*processes, *threads]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert all(p.exitcode == 0 for p in processes)
    rows = FeedbackStore(path).list()
    assert len(rows) == 7 * 40
    assert len({r.id for r in rows}) == 7 * 40
    assert {r.question for r in rows} == {f"question {w}-{n}" for w in (0, 1, 2, 10, 11, 12, 13) for n in range(40)}


def test_a_full_disk_is_a_clear_error_and_keeps_what_was_stored(tmp_path: Path) -> None:
    with mounted_tmpfs(tmp_path / "small", "1m") as folder:
        store = FeedbackStore(folder / "feedback.sqlite")
        kept = [store.add(entry(f"kept {n}")) for n in range(5)]
        fill_leaving(folder, 0)
        with pytest.raises(FeedbackUnavailableError, match="the disk is full"):
            for n in range(200):  # the WAL grows into the last free pages, then SQLite reports SQLITE_FULL
                store.add(entry(f"big {n}", comment="x" * 1000))
        (folder / "filler").unlink()
        rows = store.list()
        assert {r.question for r in rows} >= {k.question for k in kept}, "nothing stored before was lost"
        with sqlite3.connect(folder / "feedback.sqlite") as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert store.add(entry("after the disk was freed")).id > 0


def test_a_read_only_folder_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    with read_only(folder), pytest.raises(FeedbackUnavailableError, match="cannot be used"):
        FeedbackStore(folder / "feedback.sqlite").add(entry())


SECRET = b"a secret only these tests know"


def test_answer_ids_round_trip_and_refuse_malformed_ones() -> None:
    answer_id = answer_id_for("v000003", ["sciatica#1", "herniated-disc#0"], secret=SECRET)
    assert parse_answer_id(answer_id, secret=SECRET) == ("v000003", ("sciatica#1", "herniated-disc#0"))
    assert parse_answer_id(answer_id_for("v000001", [], secret=SECRET), secret=SECRET) == ("v000001", ())
    bad_version = answer_id_for("latest", ["a#0"], secret=SECRET)
    for bad in ("", "a2.", "a2.!!!", "x" + answer_id, bad_version, "a2." + "QQ" * 5000, answer_id + "x"):
        with pytest.raises(AnswerIdError, match="is not an answer id"):
            parse_answer_id(bad, secret=SECRET)


def test_an_id_of_valid_shape_signed_with_another_secret_is_refused() -> None:
    """An unsigned base64 id could be made by anyone; a forgery needs the deployment's secret."""
    forged = answer_id_for("v000001", ["sciatica#0"], secret=b"a guess at the secret")
    with pytest.raises(AnswerIdError, match="is not an answer id"):
        parse_answer_id(forged, secret=SECRET)
    body, _, _ = forged.rpartition(".")
    with pytest.raises(AnswerIdError):  # the contents alone, without a signature
        parse_answer_id(body, secret=SECRET)


def test_without_a_configured_secret_one_is_made_once_beside_the_index(tmp_path: Path) -> None:
    first = answer_secret(None, tmp_path / "index")
    assert len(first) >= 32 and answer_secret(None, tmp_path / "index") == first
    assert ((tmp_path / "index" / "answer-secret").stat().st_mode & 0o777) == 0o600
    assert answer_secret("configured", tmp_path / "index") == b"configured"


def test_export_lines_have_the_shape_of_the_labelled_questions(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite")
    up = to_question_line(store.add(entry(rating="up", reason=None)), split=feedback_split(KNEE_QUESTION))
    down = to_question_line(store.add(entry(comment="wrong article")), split="tune")
    with (Path(__file__).parents[2] / "eval" / "data" / "questions.jsonl").open() as labelled:
        shape = set(json.loads(labelled.readline()))
    assert set(up) == set(down) == shape
    assert up["kind"] is None and up["relevant"] == ["joint-pain-after-working-out", "muscle-soreness-vs-injury"]
    assert down["relevant"] == [] and "wrong article" in down["note"] and "down (unhelpful)" in down["note"]
    assert up["split"] == feedback_split(KNEE_QUESTION) and down["split"] == "tune"
    assert feedback_split("  IS it normal ") == feedback_split("is it normal")
    shares = [feedback_split(f"question {n}") for n in range(600)]
    assert 150 <= shares.count("heldout") <= 250, "about one in three is held out"


# --- the API ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def feedback_client(corpus_index: Path, embedder, tmp_path_factory: pytest.TempPathFactory):
    db = tmp_path_factory.mktemp("feedback") / "feedback.sqlite"
    with make_client(corpus_index, embedder, feedback_db=db, answer_secret=SECRET.decode()) as client:
        client.db = db  # type: ignore[attr-defined]
        yield client


def post(client: TestClient, **body: object):
    return client.post("/v1/feedback", json=body)


def assert_error(response, status: int, code: str, message: str = "") -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["request_id"] and message in error["message"], error


@slow
def test_feedback_on_an_answer_is_stored_with_its_question_and_cited_passages(feedback_client: TestClient) -> None:
    answer = feedback_client.post("/v1/ask", json={"question": KNEE_QUESTION}).json()
    assert parse_answer_id(answer["answer_id"], secret=SECRET) == (
        answer["index_version"],
        tuple(c["chunk_id"] for c in answer["citations"]),
    )
    response = post(
        feedback_client, question=KNEE_QUESTION, answer_id=answer["answer_id"], rating="down", reason="wrong",
        comment=HOSTILE_COMMENT,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    stored_id = response.json()["id"]
    row = next(r for r in FeedbackStore(feedback_client.db).list() if r.id == stored_id)  # type: ignore[attr-defined]
    assert (row.question, row.rating, row.reason) == (KNEE_QUESTION, "down", "wrong")
    assert row.chunk_ids == tuple(c["chunk_id"] for c in answer["citations"])
    assert row.comment == HOSTILE_COMMENT.replace("\x1b", " "), "control characters are cleaned, the rest kept"
    abstention = feedback_client.post("/v1/ask", json={"question": "best lasagne recipe"}).json()
    assert abstention["abstained"] and abstention["citations"] == []
    by_parts = post(
        feedback_client, question="best lasagne recipe", index_version=abstention["index_version"], chunk_ids=[],
        rating="up",
    )  # fmt: skip
    assert by_parts.status_code == 201 and by_parts.json()["id"] > stored_id
    metrics = feedback_client.get("/metrics").text
    assert 'healthqa_feedback_total{rating="down",reason="wrong"} 1.0' in metrics
    assert 'healthqa_feedback_total{rating="up",reason="none"} 1.0' in metrics


@slow
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"question": "q", "rating": "up"}, "give the answer's answer_id, or its index_version and chunk_ids"),
        ({"question": "q", "rating": "meh", "index_version": "v000001", "chunk_ids": []}, "rating"),
        ({"question": "q", "rating": "up", "reason": "wrong", "index_version": "v000001", "chunk_ids": []},
         "reason: is for a thumbs down only"),
        ({"question": "q", "rating": "down", "reason": "boring", "index_version": "v000001", "chunk_ids": []},
         "reason"),
        ({"question": "q", "rating": "down", "comment": "x" * 1001, "index_version": "v000001", "chunk_ids": []},
         "comment"),
        ({"question": "   ", "rating": "up", "index_version": "v000001", "chunk_ids": []}, "question"),
        (
            {"question": "q" * (LIMIT + 1), "rating": "up", "index_version": "v000001", "chunk_ids": []},
            f"the limit is {LIMIT}",
        ),
        ({"question": "q", "rating": "up", "index_version": "../etc", "chunk_ids": []}, "index_version"),
        ({"question": "q", "rating": "up", "index_version": "v000001", "chunk_ids": ["a#1"] * 21}, "chunk_ids"),
        ({"question": "q", "rating": "up", "index_version": "v000001", "chunk_ids": [], "user": "me"}, "user"),
    ],
)  # fmt: skip
def test_bad_feedback_gets_422_in_the_error_shape(feedback_client: TestClient, body: dict, message: str) -> None:
    assert_error(post(feedback_client, **body), 422, "validation_error", message)


@slow
def test_unknown_or_mismatched_answer_ids_get_404_and_409(feedback_client: TestClient) -> None:
    unknown = post(feedback_client, question="q", rating="up", answer_id="a2.bm9wZQ")
    assert_error(unknown, 404, "unknown_answer", "is not an answer id from /v1/ask")
    forged = answer_id_for("v000001", ["sciatica#0"], secret=b"a guess at the secret")
    assert_error(post(feedback_client, question="q", rating="up", answer_id=forged), 404, "unknown_answer")
    mismatch = post(
        feedback_client, question="q", rating="up", answer_id=answer_id_for("v000001", ["a#0"], secret=SECRET),
        index_version="v000002",
    )  # fmt: skip
    assert_error(mismatch, 409, "answer_mismatch", "names another answer")
    blank_comment = post(feedback_client, question="q", rating="up", answer_id=answer_id_for("v000001", [], secret=SECRET),
                         comment=" \u200b ")  # fmt: skip
    assert blank_comment.status_code == 201


@slow
def test_feedback_bodies_over_the_cap_get_413(feedback_client: TestClient) -> None:
    response = feedback_client.post(
        "/v1/feedback", content=json.dumps({"question": "q", "comment": "x" * (Settings.model_fields["max_body_bytes"].default + 1), "rating": "up"}),
        headers={"content-type": "application/json"},
    )  # fmt: skip
    assert_error(response, 413, "payload_too_large")


@slow
def test_feedback_counts_against_the_rate_limit(corpus_index: Path, embedder, tmp_path: Path) -> None:
    body = {"question": "q", "rating": "up", "index_version": "v000001", "chunk_ids": []}
    with make_client(corpus_index, embedder, feedback_db=tmp_path / "f.sqlite", rate_limit="2/minute") as client:
        assert [post(client, **body).status_code for _ in range(2)] == [201, 201]
        limited = post(client, **body)
        assert_error(limited, 429, "rate_limited")
        assert limited.headers["retry-after"]


@slow
def test_a_full_disk_gives_503_and_the_answers_go_on(corpus_index: Path, embedder, tmp_path: Path) -> None:
    body = {"question": "q", "rating": "down", "index_version": "v000001", "chunk_ids": [], "comment": "y" * 900}
    with mounted_tmpfs(tmp_path / "small", "1m") as folder:
        with make_client(corpus_index, embedder, feedback_db=folder / "feedback.sqlite") as client:
            assert post(client, **body).status_code == 201
            fill_leaving(folder, 0)
            statuses = [post(client, **body) for _ in range(100)]
            refused = [r for r in statuses if r.status_code != 201]
            assert refused, "the disk never filled up"
            assert_error(refused[0], 503, "feedback_unavailable", "the disk is full")
            assert "Traceback" not in refused[0].text
            assert client.post("/v1/ask", json={"question": KNEE_QUESTION}).status_code == 200
            (folder / "filler").unlink()
            assert post(client, **body).status_code == 201
        stored = FeedbackStore(folder / "feedback.sqlite").list()
        assert len(stored) == 2 + sum(r.status_code == 201 for r in statuses)


def test_feedback_file_may_not_live_inside_an_index_version(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="inside the index versions"):
        Settings(index_dir=tmp_path / "index", feedback_db=tmp_path / "index" / "versions" / "v000001" / "f.sqlite")
    assert Settings(index_dir=tmp_path / "index").feedback_db == Path("var/feedback.sqlite")


# --- safety text in parts -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def note_client(embedder, tmp_path_factory: pytest.TempPathFactory):
    corpus = write_note_articles(tmp_path_factory.mktemp("note-corpus"))
    index_dir = tmp_path_factory.mktemp("note-index")
    ingest([corpus], index_dir=index_dir, embedder=embedder, chunker=ChunkerSettings(), progress=False)
    with make_client(index_dir, embedder, feedback_db=index_dir.parent / "f.sqlite") as client:
        yield client


@slow
def test_safety_parts_carry_each_sources_text_once_and_the_editors_note(note_client: TestClient) -> None:
    body = note_client.post("/v1/ask", json={"question": note.QUESTION}).json()
    assert not body["abstained"] and {c["doc_id"] for c in body["citations"]} == {note.NOTED_ID, note.TWIN_ID}
    safety = body["safety"]
    assert safety["general"] == GENERAL_DISCLAIMER
    parts = {p["doc_id"]: p for p in safety["sources"]}
    assert [p["doc_id"] for p in safety["sources"]] == list(dict.fromkeys(c["doc_id"] for c in body["citations"]))
    hot, physio = (
        "A hot, swollen knee with a fever needs same-day care.",
        "See a physiotherapist if the ache lasts weeks.",
    )
    if safety["sources"][0]["doc_id"] == note.NOTED_ID:
        assert [p["text"] for p in safety["sources"]] == [hot, physio], "a sentence is shown with one source only"
    else:
        assert [p["text"] for p in safety["sources"]] == [f"{hot} {physio}", ""]
    assert parts[note.NOTED_ID]["editor_note"] == note.EDITOR_NOTE
    assert parts[note.NOTED_ID]["editor_note_sources"] == [note.NOTE_SOURCE]
    assert parts[note.TWIN_ID]["editor_note"] == ""
    for sentence in ("A hot, swollen knee", "See a physiotherapist", "general information"):
        assert sentence in body["disclaimer"], "the one-string disclaimer is kept for compatibility"


@slow
def test_abstentions_and_escalations_carry_the_general_disclaimer(client: TestClient) -> None:
    abstention = client.post("/v1/ask", json={"question": "best lasagne recipe"}).json()
    assert abstention["safety"] == {"general": GENERAL_DISCLAIMER, "sources": []}
    emergency = client.post("/v1/ask", json={"question": "i cant feel my bum when i wipe and my back is agony"}).json()
    assert emergency["red_flags"] and emergency["safety"]["general"] == GENERAL_DISCLAIMER
    texts = [p["text"] for p in emergency["safety"]["sources"]]
    sentences = [s for t in texts for s in t.split(". ")]
    assert len(sentences) == len(set(sentences)), "no sentence twice"
    assert not any(s.startswith("This article is general information, not a diagnosis or medical advice") and
                   s.endswith("advice") for s in sentences), "the boilerplate is left to the general disclaimer"  # fmt: skip


# --- the command line ---------------------------------------------------------------------------------------


def test_cli_lists_newest_first_with_filters_and_shows_hostile_text_as_text(tmp_path: Path) -> None:
    db = tmp_path / "feedback.sqlite"
    store = FeedbackStore(db)
    store.add(entry("first question", rating="up", reason=None))
    store.add(entry("second question", comment=HOSTILE_COMMENT.replace("\x1b", " ")))
    runner = CliRunner()
    listed = runner.invoke(cli_app, ["feedback", "list", "--db", str(db)], env={"COLUMNS": "250"})
    assert listed.exit_code == 0, listed.output
    assert listed.output.index("second question") < listed.output.index("first question")
    assert "[bold red]x[/bold red]" in listed.output and "<script>alert(1)</script>" in listed.output
    assert "$(rm -rf /)" in listed.output and "\x1b" not in listed.output
    only_up = runner.invoke(cli_app, ["feedback", "list", "--db", str(db), "--rating", "up"], env={"COLUMNS": "250"})
    assert "first question" in only_up.output and "second question" not in only_up.output
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    later = runner.invoke(cli_app, ["feedback", "list", "--db", str(db), "--since", tomorrow])
    assert later.exit_code == 0 and "No feedback" in later.output
    bad = runner.invoke(cli_app, ["feedback", "list", "--db", str(db), "--rating", "sideways"])
    assert bad.exit_code == 1 and "--rating is 'up' or 'down'" in bad.output


def test_cli_export_is_labelled_by_a_person_then_read_by_eval(tmp_path: Path) -> None:
    db = tmp_path / "feedback.sqlite"
    store = FeedbackStore(db)
    store.add(entry("my knees ache after squats", rating="up", reason=None))
    store.add(entry("what is the capital of france", comment="not health at all"))
    exported = tmp_path / "review" / "feedback.jsonl"
    runner = CliRunner()
    result = runner.invoke(cli_app, ["feedback", "export", "--db", str(db), "-o", str(exported)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    assert [line["question"] for line in lines] == ["my knees ache after squats", "what is the capital of france"]
    unlabelled = runner.invoke(cli_app, ["eval", "--questions", str(exported), "--suite", "corpus"])
    assert unlabelled.exit_code == 1 and "line 1: kind is None: label it answerable" in unlabelled.output
    lines[0].update(kind="answerable")  # what the reviewer does
    lines[1].update(kind="out_of_scope")
    exported.write_text("".join(json.dumps(line) + "\n" for line in lines))
    questions = load_questions(exported)
    assert [(q.kind, q.relevant) for q in questions] == [
        ("answerable", ("joint-pain-after-working-out", "muscle-soreness-vs-injury")),
        ("out_of_scope", ()),
    ]


def test_cli_export_of_a_damaged_file_fails_clearly(tmp_path: Path) -> None:
    db = tmp_path / "feedback.sqlite"
    db.write_bytes(b"this is not a database" * 100)
    result = CliRunner().invoke(cli_app, ["feedback", "export", "--db", str(db)])
    assert result.exit_code == 1 and "cannot be used" in result.output and "Traceback" not in result.output


def test_feedback_store_refuses_nothing_it_can_store(tmp_path: Path) -> None:
    """Unicode, right-to-left text and 1,000-character comments are stored and read back unchanged."""
    store = FeedbackStore(tmp_path / "feedback.sqlite")
    comment = "ركبتي تؤلمني " + "é" * 980
    stored = store.add(entry("膝が痛い after squats", comment=comment))
    assert store.list()[0].comment == comment and stored.question == "膝が痛い after squats"
