"""The learned files load when the app starts, hash-checked; without them the service is not ready."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from answer import ABSTENTION_FILE, BACKSTOP_FILE, ArtifactError, load_models, verify_artifact, write_artifact
from settings import MODELS_DIR
from tests.service.conftest import make_client

pytestmark = pytest.mark.slow


def _copy_models(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    shutil.copytree(MODELS_DIR, folder)
    return folder


def test_the_shipped_files_match_their_hashes() -> None:
    for name in (ABSTENTION_FILE, BACKSTOP_FILE):
        verify_artifact(MODELS_DIR / name)
    assert load_models(MODELS_DIR).triage.backstop is not None


@pytest.mark.parametrize("damage", ["edited", "missing", "no hash line"])
def test_a_damaged_file_fails_its_check_by_name(tmp_path: Path, damage: str) -> None:
    folder = _copy_models(tmp_path)
    path = folder / BACKSTOP_FILE
    if damage == "edited":
        path.write_text(path.read_text(encoding="utf-8").replace('"threshold": ', '"threshold": 0.0', 1))
    elif damage == "missing":
        path.unlink()
    else:
        sums = folder / "SHA256SUMS"
        sums.write_text("".join(line for line in sums.read_text().splitlines(True) if BACKSTOP_FILE not in line))
    with pytest.raises(ArtifactError, match=BACKSTOP_FILE):
        load_models(folder)


def test_write_artifact_records_the_hash_the_check_reads(tmp_path: Path) -> None:
    folder = _copy_models(tmp_path)
    text = (folder / ABSTENTION_FILE).read_text(encoding="utf-8").replace("\n", "\n ", 1)
    write_artifact(folder / ABSTENTION_FILE, text)
    verify_artifact(folder / ABSTENTION_FILE)
    verify_artifact(folder / BACKSTOP_FILE)  # the other line is kept


def test_without_its_safety_layer_the_service_is_not_ready_and_answers_nothing(
    tmp_path: Path, corpus_index: Path, embedder
) -> None:
    folder = _copy_models(tmp_path)
    (folder / BACKSTOP_FILE).unlink()
    with make_client(corpus_index, embedder, models_dir=folder) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and BACKSTOP_FILE in ready.json()["detail"]
        ask = client.post("/v1/ask", json={"question": "my back hurts after lifting"})
        assert ask.status_code == 503 and ask.json()["error"]["code"] == "models_unavailable"
