"""The ONNX Runtime backend: same vectors as sentence-transformers, exported once, no torch when serving."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index import ModelExportError, SentenceTransformerEmbedder, load_embedder, resolve_model
from index.embedding import OnnxEmbedder, UnsupportedModelError, read_pooling
from index.embedding.onnx_backend import pool
from ingest import load_sources
from settings import DEFAULT_MODEL
from tests.conftest import CORPUS, ROOT

pytestmark = pytest.mark.slow


def _real_texts() -> list[str]:
    """Corpus paragraphs of every length and the labelled questions: what the backend will really see."""
    paragraphs = [p.strip() for d in load_sources([CORPUS]).documents for p in d.text.split("\n\n") if p.strip()]
    lines = (ROOT / "eval" / "data" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines]
    return paragraphs[:150] + questions[:50]


def test_onnx_vectors_match_sentence_transformers_on_real_texts(embedder, torch_embedder) -> None:
    texts = _real_texts()
    onnx = embedder.embed_documents(texts, batch_size=16)
    torch = torch_embedder.embed_documents(texts, batch_size=16)
    cosines = np.sum(onnx * torch, axis=1)
    assert onnx.shape == torch.shape == (len(texts), 384)
    assert cosines.min() >= 0.999, texts[int(cosines.argmin())]
    # Batching pads; a text alone must get the same vector as inside a padded batch.
    alone = np.vstack([embedder.embed_queries([t]) for t in texts[:20]])
    assert np.allclose(alone, onnx[:20], atol=1e-4)


def test_remembered_query_vectors_are_the_models(embedder) -> None:
    """The session's embedder remembers query vectors per text (tests.conftest): what it gives back for a text
    asked before, alone or in another batch, is what the model computes for it afresh."""
    texts = _real_texts()[140:170]
    first = embedder.embed_queries(texts)
    again = embedder.embed_queries(list(reversed(texts)) + ["a text it has not seen"])
    fresh = OnnxEmbedder.embed_queries(embedder, texts)
    assert np.array_equal(again[: len(texts)], first[::-1])
    assert np.allclose(first, fresh, atol=1e-5)
    assert np.allclose(again[-1], OnnxEmbedder.embed_queries(embedder, ["a text it has not seen"])[0], atol=1e-5)


def test_int8_vectors_stay_close_and_the_export_records_both(onnx_cache, torch_embedder) -> None:
    int8 = load_embedder(DEFAULT_MODEL, backend="onnx-int8", cache_dir=onnx_cache)
    texts = _real_texts()[:60]
    cosines = np.sum(int8.embed_documents(texts) * torch_embedder.embed_documents(texts), axis=1)
    assert cosines.min() >= 0.97
    (export,) = onnx_cache.glob("*/export.json")
    report = json.loads(export.read_text())
    assert report["min_cosine"] >= 0.999 and 0.97 <= report["min_cosine_int8"] < 1.0
    assert report["fingerprint"] == torch_embedder.fingerprint
    # Its vectors differ, so an index built by one is refused by the other rather than mixed.
    assert int8.fingerprint == torch_embedder.fingerprint + "+int8"


def test_a_second_embedder_reuses_the_export(onnx_cache, monkeypatch) -> None:
    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr("index.embedding.onnx_backend.export_onnx", no_export)
    again = OnnxEmbedder(resolve_model(DEFAULT_MODEL), cache_dir=onnx_cache)
    assert again.embed_queries(["back pain"]).shape == (1, 384)


def test_the_onnx_embedder_keeps_the_source_models_fingerprint(embedder, torch_embedder) -> None:
    # An index built on either backend is served by the other.
    assert embedder.fingerprint == torch_embedder.fingerprint
    assert embedder.max_tokens == torch_embedder.max_tokens == 256
    assert embedder.dim == 384


def test_the_serving_path_never_imports_torch(corpus_index: Path, onnx_cache: Path) -> None:
    script = f"""
import sys
from fastapi.testclient import TestClient
from settings import Settings
from service.main import create_app
settings = Settings(index_dir={str(corpus_index)!r}, model_cache_dir={str(onnx_cache)!r}, embed_backend="onnx")
with TestClient(create_app(settings)) as client:
    answer = client.post("/v1/ask", json={{"question": "is it normal for my knees to ache after the gym?"}})
    assert answer.status_code == 200, answer.text
    assert not answer.json()["abstained"]
heavy = sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules)
print("heavy modules:", heavy)
sys.exit(1 if heavy else 0)
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def _model_folder(tmp_path: Path, modules: list[dict]) -> Path:
    folder = tmp_path / "model"
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    return folder


def test_a_model_with_a_dense_layer_falls_back_to_torch_with_a_warning(tmp_path: Path, caplog) -> None:
    folder = _model_folder(
        tmp_path,
        [
            {"idx": 0, "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
        ],
    )
    with pytest.raises(UnsupportedModelError, match="Dense"):
        read_pooling(folder)
    with caplog.at_level(logging.WARNING):
        chosen = load_embedder(str(folder), backend="onnx", cache_dir=tmp_path / "cache")
    assert isinstance(chosen, SentenceTransformerEmbedder)
    assert "torch backend" in caplog.text


def test_pooling_is_read_from_the_model_folder(tmp_path: Path) -> None:
    folder = _model_folder(
        tmp_path,
        [
            {"idx": 0, "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        ],
    )
    assert read_pooling(folder) == "cls"
    assert read_pooling(resolve_model(DEFAULT_MODEL).path) == "mean"


def test_pooling_ignores_padding() -> None:
    hidden = np.array([[[1.0, 1.0], [3.0, -1.0], [100.0, 100.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0]])
    assert pool(hidden, mask, "mean").tolist() == [[2.0, 0.0]]
    assert pool(hidden, mask, "max").tolist() == [[3.0, 1.0]]
    assert pool(hidden, mask, "cls").tolist() == [[1.0, 1.0]]
    assert pool(hidden, mask, "lasttoken").tolist() == [[3.0, -1.0]]


def test_an_unknown_backend_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="onnx, onnx-int8, torch"):
        load_embedder(DEFAULT_MODEL, backend="tpu", cache_dir=Path("unused"))  # type: ignore[arg-type]


def test_a_damaged_cached_export_is_made_again(onnx_cache: Path, tmp_path: Path, embedder) -> None:
    cache = tmp_path / "models"
    shutil.copytree(onnx_cache, cache)
    (model_file,) = cache.glob("*/model.onnx")
    model_file.write_bytes(model_file.read_bytes()[:1000])  # as if a disk filled up while copying it
    again = OnnxEmbedder(resolve_model(DEFAULT_MODEL), cache_dir=cache)
    vector = again.embed_queries(["knee pain after squats"])
    assert np.allclose(vector, embedder.embed_queries(["knee pain after squats"]), atol=1e-5)
    assert model_file.stat().st_size > 1_000_000


def test_an_unwritable_model_cache_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")  # root ignores permissions; a file in the path stops anyone
    embedder = OnnxEmbedder(resolve_model(DEFAULT_MODEL), cache_dir=tmp_path / "a-file" / "models")
    with pytest.raises(ModelExportError, match=r"cannot write the ONNX export .* HEALTHQA_MODEL_CACHE_DIR"):
        embedder.embed_queries(["back pain"])


def test_span_vectors_are_the_mean_of_their_tokens_on_both_backends(embedder, torch_embedder) -> None:
    """One forward pass gives the text's vector and each span's; ONNX and torch agree on both."""
    title = "Back pain — Causes\n"
    sentences = ["Most back pain gets better within a few weeks.", "Keep moving gently; rest in bed slows recovery."]
    text = title + " ".join(sentences)
    spans = [(len(title), len(title) + len(sentences[0]))]
    spans.append((spans[0][1] + 1, len(text)))
    long_text = " ".join(["Lower back pain that lasts more than six weeks is called chronic back pain."] * 30)
    texts, all_spans = [text, long_text], [spans, [(0, 75), (len(long_text) - 75, len(long_text))]]
    assert [text[a:b] for a, b in spans] == sentences
    results = [e.embed_with_spans(texts, all_spans, batch_size=2) for e in (embedder, torch_embedder)]
    (onnx_texts, onnx_spans, onnx_whole), (torch_texts, torch_spans, torch_whole) = results
    assert np.allclose(onnx_texts, embedder.embed_documents(texts), atol=1e-5)  # the text's vector, as before
    # The tail of the long text is past the 256-token limit: not read whole, so it must be embedded alone.
    assert onnx_whole.tolist() == torch_whole.tolist() == [True, True, True, False]
    assert np.sum(onnx_spans[:3] * torch_spans[:3], axis=1).min() >= 0.999
    assert np.allclose(np.linalg.norm(onnx_spans[:3], axis=1), 1.0, atol=1e-5)
    alone = embedder.embed_documents(sentences)
    # In context the sentence reads differently, but it is still itself.
    assert (np.sum(onnx_spans[:2] * alone, axis=1) > 0.7).all()
    encoding = embedder._window_tokenizer.encode(text)
    hidden = embedder._forward([text])[1][0]
    inside = [i for i, (a, b) in enumerate(encoding.offsets) if a >= spans[0][0] and b <= spans[0][1] and b > a]
    manual = hidden[inside].mean(axis=0)
    assert np.allclose(onnx_spans[0], manual / np.linalg.norm(manual), atol=1e-5)


def test_batches_hold_a_bounded_number_of_padded_tokens_and_every_text_once(tmp_path: Path) -> None:
    """A forward pass's memory grows with rows x tokens^2: long texts go in small batches, short ones in full ones."""
    from index.embedding.base import MAX_BATCH_TOKENS

    embedder = OnnxEmbedder(resolve_model(DEFAULT_MODEL), cache_dir=tmp_path)  # the tokenizer only, no session
    texts = [" ".join(["word"] * n) for n in (3, 400, 40, 120, 7, 250, 60, 500, 15, 90) * 12]
    lengths = [min(n, embedder.max_tokens) for n in embedder.count_tokens(texts)]
    batches = [batch.tolist() for batch in embedder._batches(texts, 64)]
    assert sorted(row for batch in batches for row in batch) == list(range(len(texts)))
    for batch in batches:
        padded = len(batch) * max(lengths[row] for row in batch)
        assert len(batch) <= 64 and (padded <= MAX_BATCH_TOKENS or len(batch) == 1)
    assert max(len(b) for b in batches) >= MAX_BATCH_TOKENS // 32  # short texts still go many to a pass
    assert any(len(b) < 64 and min(lengths[r] for r in b) >= embedder.max_tokens for b in batches)
