"""The backstop's example bank: listed from texts in git, built with the embedder, cached, and checked at load."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from index.embedding import Vectors
from tests.conftest import FakeEmbedder
from tests.service.test_redflag_backstop import FAMILIES, SIMILAR
from tests.service.test_redflag_backstop import RULE as BACKSTOP_RULE
from triage import (
    BackstopMismatchError,
    BackstopParameters,
    NeighbourSettings,
    bank_examples,
    bank_vectors,
    build_bank,
    examples_digest,
    load_catalogue,
    load_triage,
)

RULE = {**BACKSTOP_RULE, "negative_phrases": ["no fever, back is fine", "my back aches after gardening"]}
QUESTIONS = [
    ("q001", "tune", "red_flag", "emergency", "my legs went numb and I cannot pee"),
    ("q002", "heldout", "red_flag", "urgent", "hot swollen knee and a temperature"),
    ("q003", "tune", "benign", None, "my legs feel tired after a long walk"),
    ("q004", "tune", "answerable", None, "how long does back pain last"),
]


class CountingEmbedder(FakeEmbedder):
    """The fake embedder, counting the texts it embeds as queries (the bank is embedded as training embeds)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.queries: list[str] = []

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        self.queries.extend(texts)
        return super().embed_queries(texts)


def write_texts(
    tmp_path: Path, questions: list[tuple[str, str, str, str | None, str]] = QUESTIONS
) -> tuple[Path, Path]:
    """A catalogue and a labelled questions file, as in git."""
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(
        yaml.safe_dump({"version": 1, "families": FAMILIES, "similar": SIMILAR, "rules": [RULE]}), encoding="utf-8"
    )
    lines: list[dict[str, object]] = [
        {
            "id": i,
            "question": q,
            "kind": kind,
            "relevant": [],
            "answer_sentences": [],
            "red_flag_level": level,
            "split": split,
        }
        for i, split, kind, level, q in questions
    ]
    questions_file = tmp_path / "questions.jsonl"
    questions_file.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return catalogue, questions_file


def write_parameters(tmp_path: Path, catalogue: Path, questions_file: Path, *, model: str = "fake-1") -> Path:
    """Backstop parameters trained (in name) with ``model`` on the examples these files give."""
    digest = examples_digest(bank_examples(load_catalogue(catalogue), questions_file=questions_file))
    parameters = BackstopParameters(
        model=model,
        examples=digest,
        c=1.0,
        red_weights=(0.0,) * 64,
        red_bias=-4.0,
        threshold=0.5,
        emergency_weights=(0.0,) * 64,
        emergency_bias=0.0,
        emergency_threshold=0.3,
        neighbours=NeighbourSettings(k=2, threshold=0.1),
    )
    path = tmp_path / "redflag_backstop.json"
    path.write_text(parameters.to_json(), encoding="utf-8")
    return path


def test_the_examples_are_the_tuning_questions_then_the_phrases_in_order(tmp_path: Path) -> None:
    catalogue, questions_file = write_texts(tmp_path)
    examples = bank_examples(load_catalogue(catalogue), questions_file=questions_file)
    assert [e.text for e in examples] == [
        QUESTIONS[0][4],
        QUESTIONS[2][4],
        QUESTIONS[3][4],
        *RULE["test_phrases"],
        *RULE["negative_phrases"],
    ]  # the held-out question is never read into the bank
    assert [(e.red, e.emergency, e.kind) for e in examples[:4]] == [
        (True, True, "red_flag"),
        (False, False, "benign"),
        (False, False, "answerable"),
        (True, False, "phrase"),
    ]
    flipped = [replace(examples[0], emergency=False), *examples[1:]]
    assert examples_digest(flipped) != examples_digest(examples)  # a label counts, not only the texts


def test_a_bank_from_toy_texts_is_what_the_margin_reads(tmp_path: Path) -> None:
    catalogue, questions_file = write_texts(tmp_path)
    examples = bank_examples(load_catalogue(catalogue), questions_file=questions_file)
    embedder = FakeEmbedder()
    bank = build_bank(examples, embedder, cache_dir=tmp_path / "cache")
    expected = bank_vectors(embedder.embed_queries([e.text for e in examples]))
    assert bank.vectors.dtype == np.float32 and np.array_equal(bank.vectors, expected)
    assert bank.red.tolist() == [e.red for e in examples]
    triage = load_triage(
        catalogue_path=catalogue,
        backstop_path=write_parameters(tmp_path, catalogue, questions_file),
        embedder=embedder,
        cache_dir=tmp_path / "cache",
        questions_file=questions_file,
    )
    assert triage.backstop is not None and triage.backstop.neighbours is not None
    question = embedder.embed_queries(["fever and my lower back hurts"])[0]
    # By hand: mean cosine of the 2 nearest warning-sign examples minus that of the 2 nearest others.
    cosines = expected @ question
    red = np.sort(cosines[bank.red])[-2:].mean() - np.sort(cosines[~bank.red])[-2:].mean()
    assert triage.backstop.neighbours.margin(question) == pytest.approx(red, abs=1e-6)


def test_a_cache_hit_does_not_embed_again(tmp_path: Path) -> None:
    catalogue, questions_file = write_texts(tmp_path)
    examples = bank_examples(load_catalogue(catalogue), questions_file=questions_file)
    cache = tmp_path / "cache"
    first = CountingEmbedder()
    built = build_bank(examples, first, cache_dir=cache)
    assert len(first.queries) == len(examples)
    (path,) = cache.iterdir()
    assert path.name == f"redflag-bank-fake-1-{examples_digest(examples).sha256[:16]}.npz"
    assert path.stat().st_mode & 0o777 == 0o644  # readable by an image's serving user
    again = CountingEmbedder()
    cached = build_bank(examples, again, cache_dir=cache)
    assert again.queries == [] and np.array_equal(cached.vectors, built.vectors)
    other_model = CountingEmbedder(fingerprint="fake-2")
    build_bank(examples, other_model, cache_dir=cache)  # keyed by the model: its own bank
    assert len(other_model.queries) == len(examples) and len(list(cache.iterdir())) == 2


def test_a_damaged_cache_is_built_again(tmp_path: Path) -> None:
    catalogue, questions_file = write_texts(tmp_path)
    examples = bank_examples(load_catalogue(catalogue), questions_file=questions_file)
    cache = tmp_path / "cache"
    built = build_bank(examples, FakeEmbedder(), cache_dir=cache)
    (path,) = cache.iterdir()
    path.write_bytes(path.read_bytes()[:100])
    embedder = CountingEmbedder()
    assert np.array_equal(build_bank(examples, embedder, cache_dir=cache).vectors, built.vectors)
    assert len(embedder.queries) == len(examples)
    assert np.array_equal(build_bank(examples, FakeEmbedder(), cache_dir=cache).vectors, built.vectors)


def test_a_changed_example_fails_to_load_and_says_to_retrain(tmp_path: Path) -> None:
    catalogue, questions_file = write_texts(tmp_path)
    backstop_path = write_parameters(tmp_path, catalogue, questions_file)
    edited = [(*q[:4], q[4] + " since monday") if q[0] == "q003" else q for q in QUESTIONS]
    write_texts(tmp_path, edited)
    embedder = CountingEmbedder()
    with pytest.raises(
        BackstopMismatchError, match=r"trained on 9 examples \(sha256 \w{12}\) and .* now give 9"
    ) as caught:
        load_triage(
            catalogue_path=catalogue,
            backstop_path=backstop_path,
            embedder=embedder,
            cache_dir=tmp_path / "cache",
            questions_file=questions_file,
        )
    assert str(backstop_path) in str(caught.value) and "python -m eval.redflag_backstop --write" in str(caught.value)
    assert embedder.queries == []  # refused before any embedding


def test_another_model_fails_to_load_and_says_to_retrain(tmp_path: Path) -> None:
    catalogue, questions_file = write_texts(tmp_path)
    backstop_path = write_parameters(tmp_path, catalogue, questions_file, model="a" * 64)
    embedder = CountingEmbedder(fingerprint="a" * 64 + "+int8")
    with pytest.raises(
        BackstopMismatchError, match=r"model aaaaaaaaaaaa and this process embeds with aaaaaaaaaaaa\+int8"
    ):
        load_triage(
            catalogue_path=catalogue,
            backstop_path=backstop_path,
            embedder=embedder,
            cache_dir=tmp_path / "cache",
            questions_file=questions_file,
        )
    assert embedder.queries == []
