"""The MEDIQA consumer-question suite (its fixed split and metrics), the MedQuAD tuning draw, the sweeps."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from eval.corpus import RETRIEVAL_KINDS
from eval.mediqa import MEDIQA_DIR, MediqaQuestion, load_questions, mediqa_metrics, split_of
from eval.medquad import FULL_QUERIES, TUNING_QUERIES, load_benchmark
from eval.metrics import retrieval_metrics
from eval.questions import load_questions as load_corpus_questions
from eval.retrieval import run_queries
from eval.sweeps import SWEEPS, run_sweep
from index import SearchIndex
from settings import ChunkerSettings, SearchSettings
from tests.conftest import MEDQUAD, FakeEmbedder, require_shared


def test_the_split_is_a_fixed_function_of_the_question_id() -> None:
    ids = [f"question-{n}" for n in range(3000)]
    splits = [split_of(i) for i in ids]
    assert splits == [split_of(i) for i in ids]
    assert 0.30 < splits.count("heldout") / len(ids) < 0.37  # about a third held out


def test_metrics_count_grade_3_and_up_as_correct_and_grade_as_gain() -> None:
    question = MediqaQuestion("q", "text", {"incorrect": 1, "related": 2, "good": 3, "best": 4})
    run = {"q": {"related": 3.0, "good": 2.0, "other": 1.0}}
    metrics = mediqa_metrics([question], run)
    assert metrics["mrr@10"] == pytest.approx(0.5)  # the first correct passage is second
    assert metrics["precision@1"] == 0.0  # a grade-2 passage first is not correct
    assert metrics["recall@10"] == pytest.approx(0.5)  # "good" found, "best" not
    dcg = 2 / math.log2(2) + 3 / math.log2(3)
    ideal = 4 / math.log2(2) + 3 / math.log2(3) + 2 / math.log2(4) + 1 / math.log2(5)
    assert metrics["ndcg@10"] == pytest.approx(dcg / ideal, abs=1e-4)


def test_the_judged_only_diagnostics_drop_the_passages_nobody_judged() -> None:
    question = MediqaQuestion("q", "text", {"related": 2, "best": 4})
    run = {"q": {"unjudged-a": 4.0, "related": 3.0, "unjudged-b": 2.0, "best": 1.0}}
    metrics = mediqa_metrics([question], run)
    assert metrics["unjudged@10"] == pytest.approx(0.5)
    assert metrics["ndcg@10"] < metrics["ndcg@10_judged_only"]
    # Judged only, the ranking is related (2) then best (4).
    dcg, ideal = 2 + 4 / math.log2(3), 4 + 2 / math.log2(3)
    assert metrics["ndcg@10_judged_only"] == pytest.approx(dcg / ideal, abs=1e-4)


def test_a_question_with_nothing_retrieved_counts_as_zero() -> None:
    questions = [MediqaQuestion("a", "t", {"d1": 4}), MediqaQuestion("b", "t", {"d2": 3})]
    metrics = mediqa_metrics(questions, {"a": {"d1": 1.0}})
    assert metrics["mrr@10"] == pytest.approx(0.5)


def test_the_real_questions_load_with_their_declared_split() -> None:
    require_shared(MEDIQA_DIR)
    questions = load_questions()
    assert len(questions) == 126  # the answerable ones: a passage graded >= 3
    tune, heldout = load_questions(split="tune"), load_questions(split="heldout")
    assert (len(tune), len(heldout)) == (86, 40)
    assert {q.id for q in tune}.isdisjoint(q.id for q in heldout)
    assert all(q.correct for q in questions)


def test_a_missing_dataset_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="mediqa2019-qa"):
        load_questions(tmp_path)


def test_the_medquad_tuning_draw_is_disjoint_from_the_benchmark() -> None:
    require_shared(MEDQUAD)
    benchmark = load_benchmark(MEDQUAD)
    tuning = load_benchmark(MEDQUAD, tuning=True)
    assert (len(benchmark.queries), len(tuning.queries)) == (FULL_QUERIES, TUNING_QUERIES)
    assert set(benchmark.queries).isdisjoint(tuning.queries)
    assert [d.doc_id for d in tuning.documents] == [d.doc_id for d in benchmark.documents]
    assert list(load_benchmark(MEDQUAD, tuning=True).queries) == list(tuning.queries)


def test_a_sweep_scores_every_value_on_the_tuning_split_through_the_product_search(
    tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    base = SearchSettings()
    table = run_sweep(
        "alpha", embedder=fake_embedder, base=base, chunker=ChunkerSettings(), work_dir=tmp_path, sets=["corpus"]
    )
    assert [value for value, _ in table["rows"]] == list(SWEEPS["alpha"].values)
    assert table["columns"] == [("corpus", "mrr@10"), ("corpus", "recall@10")]
    # The default's row is what the corpus suite's tuning split measures with the same settings.
    index = SearchIndex.load(tmp_path / "index-corpus", embedder=fake_embedder, settings=base)
    questions = [q for q in load_corpus_questions(split="tune") if q.kind in RETRIEVAL_KINDS and q.relevant]
    expected = retrieval_metrics(
        {q.id: dict.fromkeys(q.relevant, 1) for q in questions},
        run_queries(index, {q.id: q.question for q in questions}, mode="hybrid"),
    )
    [default_row] = [figures for value, figures in table["rows"] if value == base.convex_alpha]
    assert default_row == [expected["mrr@10"], expected["recall@10"]]
    # Different weights rank differently (the sweep really changes the setting).
    assert len({tuple(figures) for _, figures in table["rows"]}) > 1


@pytest.mark.parametrize("method", ["standalone", "pooled"])
def test_the_mediqa_suite_builds_its_index_with_the_configured_sentence_method(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    """Every build path takes the configured BuildSettings (the suite once ignored HEALTHQA_SENTENCE_VECTORS)."""
    from eval.run import run_eval
    from index import version_path
    from index.store import read_manifest
    from settings import Settings
    from tests.index.test_build import SpanFakeEmbedder
    from tests.service.conftest import rules_only_models

    data = tmp_path / "mediqa"
    data.mkdir()
    passages = [
        ("p-1", "Sprained ankle", "A sprained ankle heals with rest. Ice eases the swelling in the first days."),
        ("p-2", "Hay fever", "Hay fever is an allergy to pollen. It makes the nose run and the eyes itch."),
    ]
    (data / "corpus.jsonl").write_text(
        "".join(json.dumps({"id": i, "title": t, "text": x}) + "\n" for i, t, x in passages), encoding="utf-8"
    )
    questions = [(f"q-{n}", q) for n, q in enumerate(["How does a sprained ankle heal?", "What is hay fever?"] * 3)]
    (data / "queries.jsonl").write_text(
        "".join(json.dumps({"id": i, "question": q}) + "\n" for i, q in questions), encoding="utf-8"
    )
    (data / "qrels.tsv").write_text(
        "".join(f"{i}\tp-{1 + n % 2}\t4\n" for n, (i, _) in enumerate(questions)), encoding="utf-8"
    )
    monkeypatch.setenv("HEALTHQA_SENTENCE_VECTORS", method)
    # The shipped backstop reads the real model's vectors; with the fake embedder the rules triage alone.
    models = rules_only_models()
    results = run_eval(
        ["mediqa"],
        settings=Settings(),
        embedder=SpanFakeEmbedder(),
        work_dir=tmp_path / "work",
        mediqa_dir=data,
        models=models,
    )
    manifest = read_manifest(version_path(tmp_path / "work" / "index-mediqa"))
    assert manifest.sentence_vectors == method
    assert results["mediqa.all"]["questions"] == len(questions)


def test_triage_on_real_messages_counts_banners_against_the_labels(tmp_path: Path) -> None:
    """Every labelled question is triaged by the product and scored against its label, per split."""
    from eval.mediqa import index_passages, triage_on_real_messages
    from settings import AnswerSettings, BuildSettings
    from tests.index.test_build import SpanFakeEmbedder
    from tests.service.conftest import rules_only_models

    data = tmp_path / "mediqa"
    data.mkdir()
    (data / "corpus.jsonl").write_text(
        json.dumps({"id": "p-1", "title": "Back pain", "text": "Back pain usually gets better in a few weeks."}) + "\n",
        encoding="utf-8",
    )
    questions = {
        "q-none": "how long does back pain last?",
        "q-alarm": "my back hurts and i cant feel my bum when i wipe",
        "q-urgent": "what is hay fever?",
    }
    (data / "queries.jsonl").write_text(
        "".join(json.dumps({"id": i, "question": q}) + "\n" for i, q in questions.items()), encoding="utf-8"
    )
    embedder = SpanFakeEmbedder()
    index_dir = index_passages(
        tmp_path / "work", embedder=embedder, chunker=ChunkerSettings(), build=BuildSettings(), data_dir=data
    )
    index = SearchIndex.load(index_dir, embedder=embedder)
    labels = {"q-none": "none", "q-alarm": "none", "q-urgent": "urgent"}
    results = triage_on_real_messages(index, AnswerSettings(), rules_only_models(), data, labels)  # type: ignore[arg-type]
    counts = results["all"]["triage_counts"]
    assert counts["false_alarms.none"] == "1/2" and counts["emergency_banners.none"] == "1/2"
    assert counts["at_level.urgent"] == "0/1" and counts["at_level.emergency"] == "0/0"
    assert results["all"]["triage"]["at_level.emergency"] is None  # no such question: no rate, not a perfect one
    assert set(results) == {"tune", "heldout", "all"}
    with pytest.raises(ValueError, match="without a triage label"):
        triage_on_real_messages(index, AnswerSettings(), rules_only_models(), data, {"q-none": "none"})


def test_every_mediqa_question_has_a_blind_triage_label() -> None:
    from eval.mediqa import load_triage_labels

    data = require_shared(MEDIQA_DIR)
    ids = [json.loads(line)["id"] for line in (data / "queries.jsonl").read_text(encoding="utf-8").splitlines() if line]
    labels = load_triage_labels()
    assert sorted(labels) == sorted(ids) and set(labels.values()) <= {"none", "urgent", "emergency"}
