"""The learned red-flag backstop: when it fires, at which level, what it says, and that it never goes quiet."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from answer import BACKSTOP_FILE, answer_question
from settings import MODELS_DIR, AnswerSettings
from tests.learned import shipped_abstention
from triage import (
    BackstopMismatchError,
    BackstopParameters,
    ExampleBank,
    ExamplesDigest,
    NeighbourMargin,
    NeighbourSettings,
    RedFlagBackstop,
    RedFlagCatalogue,
    RedFlagCatalogueError,
    Triage,
    load_backstop,
    load_catalogue,
)

DIM = 4
SIMILAR = {
    "emergency": {"id": "possible-emergency-sign", "message": "Call now.", "source": "https://www.nhs.uk/a"},
    "urgent": {"id": "possible-urgent-sign", "message": "Get help today.", "source": "https://www.nhs.uk/b"},
}
FAMILIES = {"spinal-infection": "an infection in the spine"}
RULE = {
    "id": "fever-with-back-pain",
    "level": "urgent",
    "family": "spinal-infection",
    "message": "Fever with back pain needs checking today.",
    "source": "https://www.nhs.uk/conditions/back-pain/",
    "patterns": [{"all": ["fever", "back"]}],
    "test_phrases": ["back pain and a fever", "fever and my back hurts", "back ache with fever", "fever, sore back"],
}


def neighbours() -> NeighbourMargin:
    # Warning-sign examples around axis 2, other examples around axis 3 (the weights below never read those axes).
    vectors = np.array(
        [[0, 0, 1, 0.1], [0, 0, 1, -0.1], [0, 0.1, 1, 0], [0, 0, 0.1, 1], [0, 0, -0.1, 1], [0.1, 0, 0, 1]]
    )
    return NeighbourMargin(
        vectors / np.linalg.norm(vectors, axis=1, keepdims=True), np.array([1, 1, 1, 0, 0, 0]) == 1, k=2, threshold=0.5
    )


def backstop(model: str = "m1", *, margin: NeighbourMargin | None = None) -> RedFlagBackstop:
    # Axis 0 says "warning sign", axis 1 says "emergency".
    return RedFlagBackstop(
        model=model,
        red_weights=(8.0, 0.0, 0.0, 0.0),
        red_bias=-4.0,
        threshold=0.75,
        emergency_weights=(0.0, 8.0, 0.0, 0.0),
        emergency_bias=-4.0,
        emergency_threshold=0.2,
        neighbours=margin,
    )


def catalogue(tmp_path: Path, *, similar: object = SIMILAR) -> RedFlagCatalogue:
    path = tmp_path / "catalogue.yaml"
    path.write_text(
        yaml.safe_dump({"version": 1, "families": FAMILIES, "similar": similar, "rules": [RULE]}), encoding="utf-8"
    )
    return load_catalogue(path)


def test_it_fires_over_its_threshold_and_escalates_when_unsure(tmp_path: Path) -> None:
    rules = catalogue(tmp_path)
    quiet, sign, emergency = np.array([0.2, 0, 0, 0]), np.array([1.0, 0, 0, 0]), np.array([1.0, 0.4, 0, 0])
    assert backstop().flags(quiet, rules, model="m1") == ()
    (urgent_flag,) = backstop().flags(sign, rules, model="m1")
    assert (urgent_flag.level, urgent_flag.rule, urgent_flag.message) == (
        "urgent",
        "possible-urgent-sign",
        "Get help today.",
    )
    # P(emergency) = sigmoid(8 * 0.4 - 4) = 0.31: under one half, over the threshold of 0.2, so emergency.
    assert backstop().level(emergency) == "emergency"
    assert backstop().flags(emergency, rules, model="m1")[0].source == "https://www.nhs.uk/a"


def test_the_neighbour_margin_fires_where_the_linear_model_does_not(tmp_path: Path) -> None:
    near_signs, near_others, between = np.array([0, 0, 1.0, 0]), np.array([0, 0, 0, 1.0]), np.array([0, 0, 1.0, 1.0])
    margin = neighbours()
    # cosine 0.995 to the nearest two signs, 0.05 on average to the nearest two others
    assert margin.margin(near_signs) == pytest.approx(0.945, abs=0.01)
    assert margin.margin(near_others) == pytest.approx(-0.945, abs=0.01)
    assert abs(margin.margin(between)) < 0.05
    assert backstop().level(near_signs) is None
    (flag,) = backstop(margin=margin).flags(near_signs, catalogue(tmp_path), model="m1")
    assert flag.rule == "possible-urgent-sign"  # P(emergency) = sigmoid(-4) is under 0.2
    assert backstop(margin=margin).level(near_others) is None
    assert backstop(margin=margin).level(between) is None
    with pytest.raises(ValueError, match="k = 4 needs at least"):
        NeighbourMargin(margin.vectors, margin.red, k=4, threshold=0.5)
    with pytest.raises(ValueError, match="dimension"):
        replace(backstop(margin=margin), red_weights=(1.0,) * 3, emergency_weights=(1.0,) * 3)


def test_it_refuses_another_model_and_is_silent_without_a_catalogue_message(tmp_path: Path) -> None:
    """It used to stay silent with another model (a warning in the log): a safety layer that went quiet."""
    sign = np.array([1.0, 0, 0, 0])
    with pytest.raises(BackstopMismatchError, match=r"trained on the vectors of embedding model other.*--write"):
        backstop(model="other").flags(sign, catalogue(tmp_path), model="m1")
    with pytest.raises(BackstopMismatchError):
        backstop().flags(np.ones(DIM + 1), catalogue(tmp_path), model="m1")
    assert backstop().flags(sign, catalogue(tmp_path, similar={}), model="m1") == ()


def parameters(*, neighbours: NeighbourSettings | None = NeighbourSettings(k=2, threshold=0.5)) -> BackstopParameters:
    linear = backstop()
    return BackstopParameters(
        model=linear.model,
        examples=ExamplesDigest(count=6, sha256="ab" * 32),
        c=1.0,
        red_weights=linear.red_weights,
        red_bias=linear.red_bias,
        threshold=linear.threshold,
        emergency_weights=linear.emergency_weights,
        emergency_bias=linear.emergency_bias,
        emergency_threshold=linear.emergency_threshold,
        neighbours=neighbours,
    )


@pytest.mark.parametrize("neighbours", [NeighbourSettings(k=2, threshold=0.5), None])
def test_its_parameters_round_trip_through_their_file(tmp_path: Path, neighbours: NeighbourSettings | None) -> None:
    path = tmp_path / "backstop.json"
    path.write_text(parameters(neighbours=neighbours).to_json(), encoding="utf-8")
    assert load_backstop(path) == parameters(neighbours=neighbours)
    assert "vectors" not in path.read_text(encoding="utf-8")  # the bank is built from texts, never stored
    path.write_text('{"model": "m1"}', encoding="utf-8")
    with pytest.raises(ValueError, match="not a usable red-flag backstop"):
        load_backstop(path)
    with pytest.raises(ValueError, match="thresholds"):
        replace(parameters(), threshold=1.5)


def test_its_parameters_take_only_the_bank_of_their_model_and_examples() -> None:
    margin = neighbours()
    bank = ExampleBank(model="m1", examples=parameters().examples, vectors=margin.vectors, red=margin.red)
    built = parameters().with_bank(bank)
    assert built == backstop(margin=margin) and built.level(np.array([0, 0, 1.0, 0])) == "urgent"
    with pytest.raises(BackstopMismatchError, match=r"embedding model m2.*this process embeds with m1"):
        replace(parameters(), model="m2").with_bank(bank)
    other_examples = replace(bank, examples=ExamplesDigest(count=6, sha256="cd" * 32))
    with pytest.raises(BackstopMismatchError, match=r"trained on 6 examples \(sha256 abababababab\).*now give 6"):
        parameters().with_bank(other_examples)


@pytest.mark.parametrize(
    ("similar", "expected"),
    [
        ({"soon": SIMILAR["urgent"]}, r"similar.soon: level must be one of"),
        ({"urgent": {"id": "x-y", "message": "m"}}, r"similar.urgent: missing field 'source'"),
        ({"urgent": {**SIMILAR["urgent"], "source": "http://nhs.uk"}}, r"similar.urgent.source: must be an https"),
        ({"urgent": {**SIMILAR["urgent"], "id": "fever-with-back-pain"}}, r"an id is also a rule's id"),
    ],
)
def test_the_catalogue_checks_what_the_backstop_says(tmp_path: Path, similar: object, expected: str) -> None:
    with pytest.raises(RedFlagCatalogueError, match=expected):
        catalogue(tmp_path, similar=similar)


def test_the_shipped_catalogue_and_backstop_go_together() -> None:
    catalogue = load_catalogue()
    assert set(catalogue.similar) == {"emergency", "urgent"}
    assert all(flag.source.startswith("https://www.nhs.uk/") for flag in catalogue.similar.values())
    assert (MODELS_DIR / BACKSTOP_FILE).is_file()
    shipped_backstop = load_backstop(MODELS_DIR / BACKSTOP_FILE)
    assert len(shipped_backstop.red_weights) == 384  # all-MiniLM-L6-v2, the default model
    assert shipped_backstop.neighbours is not None
    assert (MODELS_DIR / BACKSTOP_FILE).stat().st_size < 20_000  # parameters only: the bank is built, not committed


def test_an_answer_carries_the_backstop_flag_only_when_no_rule_fired(fake_embedder, tmp_path: Path) -> None:
    from index import SearchIndex
    from ingest import ingest
    from settings import ChunkerSettings

    sources = tmp_path / "articles"
    sources.mkdir()
    (sources / "rest.md").write_text(
        "---\nid: rest\ntitle: Back pain\n---\n# Back pain\n\nRest helps most back pain. Walking helps too.\n",
        encoding="utf-8",
    )
    ingest([sources], index_dir=tmp_path / "index", embedder=fake_embedder, chunker=ChunkerSettings(), progress=False)
    index = SearchIndex.load(tmp_path / "index", embedder=fake_embedder)
    rules = catalogue(tmp_path)
    question = "my legs went strange"
    vector = fake_embedder.embed_queries([question])[0]
    always = RedFlagBackstop(
        model=fake_embedder.fingerprint,
        red_weights=tuple(float(v) for v in vector * 50),
        red_bias=0.0,
        threshold=0.75,
        emergency_weights=tuple(0.0 for _ in vector),
        emergency_bias=5.0,
        emergency_threshold=0.2,
    )
    flagged = answer_question(
        question, index, settings=AnswerSettings(), triage=Triage(rules, always), abstention=shipped_abstention()
    )
    assert [flag.rule for flag in flagged.red_flags] == ["possible-emergency-sign"]
    silent = answer_question(
        question, index, settings=AnswerSettings(), triage=Triage(rules, None), abstention=shipped_abstention()
    )
    assert silent.red_flags == ()
    other_model = replace(always, model="another-model")
    with pytest.raises(BackstopMismatchError, match="python -m eval.redflag_backstop --write"):
        answer_question(
            question,
            index,
            settings=AnswerSettings(),
            triage=Triage(rules, other_model),
            abstention=shipped_abstention(),
        )
    by_rule = answer_question(
        "back pain and a fever",
        index,
        settings=AnswerSettings(),
        triage=Triage(rules, always),
        abstention=shipped_abstention(),
    )
    assert [flag.rule for flag in by_rule.red_flags] == ["fever-with-back-pain"]
