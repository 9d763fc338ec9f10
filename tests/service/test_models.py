"""The learned files load when the app starts, hash-checked, with the backstop's bank built from texts in git;
without them, or with a backstop that does not fit the model or the texts, the service is not ready."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from answer import ABSTENTION_FILE, BACKSTOP_FILE, ArtifactError, load_models, verify_artifact, write_artifact
from settings import MODELS_DIR
from tests.service.conftest import make_client
from triage import bank_examples, bank_vectors, examples_digest, load_catalogue

pytestmark = pytest.mark.slow


def _copy_models(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    shutil.copytree(MODELS_DIR, folder)
    return folder


def test_the_shipped_files_match_their_hashes_and_the_bank_is_built_from_the_texts(tmp_path: Path, embedder) -> None:
    for name in (ABSTENTION_FILE, BACKSTOP_FILE):
        verify_artifact(MODELS_DIR / name)
    backstop = load_models(MODELS_DIR, embedder=embedder, cache_dir=tmp_path).triage.backstop
    assert backstop is not None and backstop.neighbours is not None
    examples = bank_examples(load_catalogue())
    texts = [example.text for example in examples]
    assert backstop.neighbours.vectors.shape == (len(examples), 384)
    assert (backstop.neighbours.vectors == bank_vectors(embedder.embed_queries(texts))).all()
    (cached,) = tmp_path.glob("redflag-bank-*.npz")
    assert examples_digest(examples).sha256[:16] in cached.name


@pytest.mark.parametrize("damage", ["edited", "missing", "no hash line"])
def test_a_damaged_file_fails_its_check_by_name(tmp_path: Path, damage: str, embedder) -> None:
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
        load_models(folder, embedder=embedder, cache_dir=None)


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


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("model", "0" * 64, r"trained on the vectors of embedding model 000000000000 and this process embeds with"),
        (
            "examples",
            {"count": 1, "sha256": "0" * 64},
            r"trained on 1 examples .* questions file or the catalogue changed",
        ),
    ],
)
def test_a_backstop_trained_on_another_model_or_other_texts_keeps_the_service_not_ready(
    tmp_path: Path, corpus_index: Path, embedder, field: str, value: object, reason: str
) -> None:
    """Such a backstop used to stay silent beside the rules (another model) or read a stale bank."""
    folder = _copy_models(tmp_path)
    path = folder / BACKSTOP_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    data[field] = value
    write_artifact(path, json.dumps(data))  # its hash is right: the mismatch is what must stop it
    with make_client(corpus_index, embedder, models_dir=folder, model_cache_dir=tmp_path / "cache") as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert (
            BACKSTOP_FILE in ready.json()["detail"]
            and "python -m eval.redflag_backstop --write" in ready.json()["detail"]
        )
        assert re.search(reason, ready.json()["detail"])
        ask = client.post("/v1/ask", json={"question": "my back hurts after lifting"})
        assert ask.status_code == 503 and ask.json()["error"]["code"] == "models_unavailable"
    assert not (tmp_path / "cache").exists()  # refused before any bank was built
