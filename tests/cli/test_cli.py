"""The healthqa command as a user runs it: real model, real files, real exit codes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import get_args

import pytest
from typer.testing import CliRunner, Result

from answer import BACKSTOP_FILE, write_artifact
from cli.main import SuiteChoice, app
from eval.run import Suite
from index import SearchIndex, current_version, list_versions
from settings import MODELS_DIR
from tests.conftest import CORPUS, ROOT

pytestmark = pytest.mark.slow


def healthqa(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", **(env or {})},
    )


def test_the_suite_choices_are_the_evaluation_suites() -> None:
    """``healthqa eval --suite`` offers exactly the suites ``eval.run`` runs (Typer takes an Enum, not a Literal list)."""
    assert {choice.value for choice in SuiteChoice} == set(get_args(Suite))


def in_process(*args: str) -> Result:
    """The command run in this process: for help and usage errors a subprocess proves nothing more."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_help_explains_every_command() -> None:
    result = in_process("--help")
    assert result.exit_code == 0
    for command in ("ingest", "search", "serve", "ask", "ui", "calibrate", "eval", "sweep"):
        assert command in result.stdout
        sub = in_process(command, "--help")
        assert sub.exit_code == 0 and "Example:" in sub.stdout


def test_unknown_sweeps_and_suites_are_clear_errors() -> None:
    sweep = in_process("sweep", "nope")
    assert sweep.exit_code == 1 and "unknown sweep 'nope'" in sweep.stderr and isinstance(sweep.exception, SystemExit)
    tuning_set = in_process("sweep", "alpha", "--set", "heldout")
    assert tuning_set.exit_code == 1 and "unknown tuning set 'heldout'" in tuning_set.stderr
    suite = in_process("eval", "--suite", "nope")
    # A --suite outside the choices is a usage error (exit 2) that lists them.
    assert suite.exit_code == 2 and "mediqa" in suite.stderr and isinstance(suite.exception, SystemExit)


def test_ingest_then_search_then_incremental(tmp_path: Path, corpus_copy: Path) -> None:
    index_dir = tmp_path / "index"
    first = healthqa("ingest", str(corpus_copy), "--index", str(index_dir), "-q")
    assert first.returncode == 0, first.stderr
    assert "Published index version v000001" in first.stdout
    assert "13 documents" in first.stdout

    search = healthqa(
        "search", "is it normal for my knees to ache after the gym?", "--index", str(index_dir), "-k", "3", "--json"
    )
    assert search.returncode == 0, search.stderr
    hits = json.loads(search.stdout)["hits"]
    assert len(hits) == 3
    assert {"rank", "score", "title", "url", "doc_id", "text"} <= set(hits[0])
    assert {h["doc_id"] for h in hits} & {"joint-pain-after-working-out", "muscle-soreness-vs-injury"}

    table = healthqa("search", "sciatica down my leg", "--index", str(index_dir), "-k", "2")
    assert table.returncode == 0 and "/articles/sciatica" in table.stdout

    again = healthqa("ingest", str(corpus_copy), "--index", str(index_dir), "-q")
    assert again.returncode == 0 and "is up to date" in again.stdout and "nothing to embed" in again.stdout

    article = corpus_copy / "sleep-and-back-pain.md"
    article.write_text(
        article.read_text(encoding="utf-8") + "\nA new closing sentence about pillows.\n", encoding="utf-8"
    )
    (corpus_copy / "neck-and-upper-back-pain.md").unlink()
    changed = healthqa("ingest", str(corpus_copy), "--index", str(index_dir), "-q")
    assert changed.returncode == 0, changed.stderr
    assert "12 documents" in changed.stdout and "0 added, 1 changed, 1 removed" in changed.stdout


def test_ingest_builds_the_backstops_bank_and_warns_when_the_service_would_not_be_ready(
    tmp_path: Path, onnx_cache: Path
) -> None:
    """So that 'bash scripts/run.sh' pays for the bank once, at ingest, and hears early why serving would fail."""
    for old in onnx_cache.glob("redflag-bank-*.npz"):
        old.unlink()
    env = {"HEALTHQA_MODEL_CACHE_DIR": str(onnx_cache)}
    built = healthqa("ingest", str(CORPUS / "sciatica.md"), "--index", str(tmp_path / "index"), "-q", env=env)
    assert built.returncode == 0, built.stderr
    assert len(list(onnx_cache.glob("redflag-bank-*.npz"))) == 1 and "warning" not in built.stderr
    models = tmp_path / "models"
    shutil.copytree(MODELS_DIR, models)
    backstop = json.loads((models / BACKSTOP_FILE).read_text(encoding="utf-8"))
    write_artifact(models / BACKSTOP_FILE, json.dumps({**backstop, "model": "0" * 64}))
    env["HEALTHQA_MODELS_DIR"] = str(models)
    stale = healthqa("ingest", str(CORPUS / "sciatica.md"), "--index", str(tmp_path / "index"), "-q", env=env)
    assert stale.returncode == 0 and "is up to date" in stale.stdout  # the index is good
    assert "warning: the service will not be ready" in stale.stderr and "eval.redflag_backstop --write" in stale.stderr


def test_bad_input_exits_1_naming_the_file_and_keeps_the_index(tmp_path: Path, corpus_index: Path) -> None:
    index_dir = tmp_path / "index"
    good = healthqa("ingest", str(CORPUS / "sciatica.md"), "--index", str(index_dir), "-q")
    assert good.returncode == 0
    bad = tmp_path / "bad.md"
    bad.write_bytes(b"---\ntitle: x\n---\nCaf\xe9")
    failed = healthqa("ingest", str(CORPUS / "sciatica.md"), str(bad), "--index", str(index_dir), "-q")
    assert failed.returncode == 1
    assert f"{bad}: is not valid UTF-8" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert current_version(index_dir) == "v000001"

    kept = healthqa("ingest", str(CORPUS / "sciatica.md"), str(bad), "--index", str(index_dir), "-q", "--keep-going")
    assert kept.returncode == 0
    assert "Skipped 1 bad source" in kept.stderr and str(bad) in kept.stderr


def test_missing_index_and_empty_query_are_clear_errors(tmp_path: Path) -> None:
    missing = healthqa("search", "back pain", "--index", str(tmp_path / "none"))
    assert missing.returncode == 1 and "no index in" in missing.stderr and "healthqa ingest" in missing.stderr
    empty = healthqa("search", "   ", "--index", str(tmp_path / "none"))
    assert empty.returncode == 1 and "the query is empty" in empty.stderr
    bad_mode = healthqa("search", "x", "--mode", "fuzzy")
    assert bad_mode.returncode == 1 and "--mode must be one of" in bad_mode.stderr


def test_unknown_model_is_a_clear_error(tmp_path: Path) -> None:
    result = healthqa("ingest", str(CORPUS), "--index", str(tmp_path), "--model", "no-such/model-xyz")
    assert result.returncode == 1
    assert "model 'no-such/model-xyz' is neither a folder nor in the local Hugging Face cache" in result.stderr
    served = healthqa("serve", "--index", str(tmp_path), "--port", "1", "--model", "no-such/model-xyz", timeout=60)
    assert served.returncode == 1 and "Traceback" not in served.stderr
    assert "model 'no-such/model-xyz' is neither a folder" in served.stderr


def test_an_index_from_another_model_is_refused(tmp_path: Path, corpus_index: Path, embedder) -> None:
    """A copy of the bundled model with one changed file counts as another model."""
    import shutil

    other = tmp_path / "other-model"
    shutil.copytree(embedder.path, other)
    (other / "config_sentence_transformers.json").write_text(
        (other / "config_sentence_transformers.json").read_text() + "\n", encoding="utf-8"
    )
    result = healthqa("search", "back pain", "--index", str(corpus_index), "--model", str(other))
    assert result.returncode == 1
    assert "was built with model 'sentence-transformers/all-MiniLM-L6-v2'" in result.stderr


def test_ingest_killed_midway_leaves_the_previous_version_loadable(tmp_path: Path, corpus_copy: Path, embedder) -> None:
    index_dir = tmp_path / "index"
    assert healthqa("ingest", str(corpus_copy / "sciatica.md"), "--index", str(index_dir), "-q").returncode == 0
    for delay in (1.0, 3.0, 6.0):
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "ingest", str(corpus_copy), "--index", str(index_dir), "-q"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        index = SearchIndex.load(index_dir, embedder=embedder)  # verifies every file
        assert index.version in list_versions(index_dir)
        assert [d.doc_id for d in index.documents()] in (["sciatica"], sorted(p.stem for p in corpus_copy.glob("*.md")))
    rerun = healthqa("ingest", str(corpus_copy), "--index", str(index_dir), "-q")
    assert rerun.returncode == 0
    assert len(SearchIndex.load(index_dir, embedder=embedder).documents()) == 13
    assert not list((index_dir / "versions").glob(".staging-*"))


def test_an_unwritable_index_folder_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the index folder should go")
    result = healthqa("ingest", str(CORPUS / "sciatica.md"), "--index", str(blocker / "index"), "-q")
    assert result.returncode == 1
    assert f"cannot create index folder {blocker / 'index'}" in result.stderr
    assert "Traceback" not in result.stderr


def test_ask_prints_the_answer_sources_and_disclaimer(corpus_index: Path) -> None:
    result = healthqa("ask", "is it normal for my knees to ache after the gym?", "--index", str(corpus_index))
    assert result.returncode == 0, result.stderr
    assert "Answer" in result.stdout and "Sources" in result.stdout and "[1]" in result.stdout
    assert "not medical advice" in result.stdout


def test_ask_shows_an_emergency_banner_first_and_json_matches_the_api(corpus_index: Path) -> None:
    result = healthqa("ask", "numb around my bum and cant pee, back agony", "--index", str(corpus_index))
    assert result.returncode == 0, result.stderr
    assert "EMERGENCY" in result.stdout.lstrip().splitlines()[0]
    as_json = healthqa("ask", "sciatica self care at home", "--index", str(corpus_index), "--json")
    body = json.loads(as_json.stdout)
    assert {"answer", "sentences", "citations", "abstained", "red_flags", "disclaimer", "index_version"} <= set(body)
    empty = healthqa("ask", "  ", "--index", str(corpus_index))
    assert empty.returncode == 1 and "must not be empty" in empty.stderr


def test_serve_answers_over_http_and_logs_json(corpus_index: Path) -> None:
    import socket

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--port", str(port), "--index", str(corpus_index)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            pytest.fail("the API did not become ready in 90 s")
        response = httpx.post(f"http://127.0.0.1:{port}/v1/ask", json={"question": "sciatica self care"}, timeout=30)
        assert response.status_code == 200 and response.json()["citations"]
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    answer = next(line for line in lines if line["msg"] == "answer")
    assert answer["request_id"] == response.headers["x-request-id"]
    assert "sciatica self care" not in stderr
