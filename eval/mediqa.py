"""The MEDIQA 2019 consumer-question suite: real people's questions over judged passages.

Protocol (fixed): the 731 passages of ``../shared/datasets/mediqa2019-qa/corpus.jsonl`` are
ingested with the product's own pipeline; the 126 questions with at least one passage graded
3 or 4 ("correct") are the queries. A document ranks where its best chunk does, as everywhere.

Metrics, per mode and per split: MRR@10 and precision@1 count a passage graded >= 3 as correct;
nDCG@10 is graded (the gain is the judge's grade, 1-4); Recall@10 is the share of the passages
graded >= 3 found in the top 10. The answer level runs ``answer.answer_question`` (the code
behind ``/v1/ask``) on every answerable question.

Splits (declared before any tuning, never to be changed): a question is held out when the
SHA-256 of its id, read as an integer, is divisible by 3 (42 of 128 questions, 40 answerable);
the others (86) are the tuning split. Choices are made on ``tune`` only.

Triage on real messages: every one of the 128 questions is labelled blind for triage
(``eval/data/mediqa-triage-labels.jsonl``, ids only: ``none``, ``urgent`` or ``emergency``), and the
product's banners are counted against the labels, per split: banners on questions that need none (false
alarms, and among them emergency banners), and questions labelled urgent or emergency flagged at their level.

The data are the source sites' text: they are read from ``../shared`` and never copied here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import ir_measures
from ir_measures import RR, P, R, nDCG

from answer import LearnedModels, answer_question
from eval.retrieval import run_queries
from eval.splits import mediqa_split
from index import SEARCH_MODES, Embedder, SearchIndex
from ingest import ingest
from settings import AnswerSettings, BuildSettings, ChunkerSettings

MEDIQA_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mediqa2019-qa"
TRIAGE_LABELS = Path(__file__).resolve().parent / "data" / "mediqa-triage-labels.jsonl"
TriageLevel = Literal["none", "urgent", "emergency"]
_RANK = {"emergency": 0, "urgent": 1, "none": 2}
CORRECT_GRADE = 3  # the task's own rule: 4 "excellent" and 3 "correct but incomplete" are correct answers
JUDGED_ONLY_DEPTH = 50
MediqaSplit = Literal["tune", "heldout"]
MEDIQA_SPLITS: tuple[MediqaSplit, ...] = ("tune", "heldout")

_MEASURES = {
    "mrr@10": RR(rel=CORRECT_GRADE) @ 10,
    "precision@1": P(rel=CORRECT_GRADE) @ 1,
    "ndcg@10": nDCG @ 10,
    "recall@10": R(rel=CORRECT_GRADE) @ 10,
}


@dataclass(frozen=True)
class MediqaQuestion:
    id: str
    question: str
    grades: dict[str, int]  # document id -> grade 1-4, for every judged passage

    @property
    def correct(self) -> set[str]:
        return {doc for doc, grade in self.grades.items() if grade >= CORRECT_GRADE}


def split_of(question_id: str) -> MediqaSplit:
    """The fixed split of a question (``eval.splits.mediqa_split``): held out when sha256(id) is divisible by 3."""
    return mediqa_split(question_id)


def corpus_file(data_dir: Path = MEDIQA_DIR) -> Path:
    """The passages file, checked to exist.

    Raises:
        FileNotFoundError: when the dataset is absent.
    """
    path = data_dir / "corpus.jsonl"
    if not path.is_file():
        raise FileNotFoundError(
            f"MEDIQA passages not found at {path} (expected ../shared/datasets/mediqa2019-qa/ beside the project)"
        )
    return path


def index_passages(
    work_dir: Path, *, embedder: Embedder, chunker: ChunkerSettings, build: BuildSettings, data_dir: Path = MEDIQA_DIR
) -> Path:
    """The judged passages ingested with the product's own pipeline into ``work_dir/index-mediqa`` (only new
    or changed ones embedded); returns that index folder."""
    index_dir = work_dir / "index-mediqa"
    ingest(
        [corpus_file(data_dir)], index_dir=index_dir, embedder=embedder, chunker=chunker, build=build, progress=False
    )
    return index_dir


def load_questions(data_dir: Path = MEDIQA_DIR, *, split: MediqaSplit | None = None) -> list[MediqaQuestion]:
    """The answerable questions (a passage graded >= 3), of one split or both, in file order.

    Raises:
        FileNotFoundError: when the dataset is absent.
    """
    corpus_file(data_dir)
    grades: dict[str, dict[str, int]] = {}
    for line in (data_dir / "qrels.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip():
            qid, doc_id, grade = line.split("\t")
            grades.setdefault(qid, {})[doc_id] = int(grade)
    questions = []
    for line in (data_dir / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        question = MediqaQuestion(record["id"], record["question"], grades.get(record["id"], {}))
        if question.correct and (split is None or split_of(question.id) == split):
            questions.append(question)
    return questions


def mediqa_metrics(questions: list[MediqaQuestion], run: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """MRR@10, precision@1, graded nDCG@10 and Recall@10 (ir-measures), averaged over ``questions``;
    a question with nothing retrieved counts as zero.

    Two diagnostics say how much of the nDCG gap is the judging pool: the passages judged for a
    question are those one system retrieved for it in 2019, and an unjudged passage, however good,
    counts as a miss. ``ndcg@10_judged_only`` is graded nDCG@10 over the ranking with unjudged
    passages removed (a "condensed list", Sakai 2007; it reads as deep as ``run`` goes), and
    ``unjudged@10`` the share of the top 10 that nobody judged for that question.
    """
    qrels = {q.id: dict(q.grades) for q in questions}
    full_run = {q.id: dict(run.get(q.id, {})) or {"__none__": 0.0} for q in questions}
    values = ir_measures.calc_aggregate(list(_MEASURES.values()), qrels, full_run)
    metrics = {name: float(values[measure]) for name, measure in _MEASURES.items()}
    judged_run = {
        qid: {d: s for d, s in ranked.items() if d in qrels[qid]} or {"__none__": 0.0}
        for qid, ranked in full_run.items()
    }
    metrics["ndcg@10_judged_only"] = float(ir_measures.calc_aggregate([nDCG @ 10], qrels, judged_run)[nDCG @ 10])
    unjudged = [
        sum(d not in qrels[qid] for d in top) / len(top)
        for qid, ranked in full_run.items()
        if (top := sorted(ranked, key=lambda d: -ranked[d])[:10])
    ]
    metrics["unjudged@10"] = sum(unjudged) / len(unjudged) if unjudged else 0.0
    return metrics


def evaluate_answers(
    index: SearchIndex, questions: list[MediqaQuestion], qa: AnswerSettings, models: LearnedModels
) -> dict[str, Any]:
    """The answer level through ``answer_question`` (the code behind ``/v1/ask``).

    Returns:
        ``rates``: the first citation is from a passage graded >= 3, over the answered questions
        (``first_citation_correct_of_answered``) and over all of them, an abstention counting as a
        miss (``first_citation_correct_of_answerable``); the share of answers that abstain
        (``abstained``). ``counts`` and ``failures`` say which.
    """
    answered = first_correct = 0
    failures = []
    for q in questions:
        answer = answer_question(q.question, index, settings=qa, triage=models.triage, abstention=models.abstention)
        if answer.abstained:
            failures.append(f"{q.id} abstained (confidence {answer.confidence:.3f})")
            continue
        answered += 1
        first = answer.citations[0].doc_id if answer.citations else ""
        if first in q.correct:
            first_correct += 1
        else:
            failures.append(f"{q.id} first citation {first or 'none'} graded {q.grades.get(first, 'unjudged')}")
    counts = {"questions": len(questions), "answered": answered, "first_citation_correct": first_correct}
    return {"rates": answer_rates(counts), "counts": counts, "failures": failures}


def answer_rates(counts: Mapping[str, int]) -> dict[str, float]:
    total, answered, correct = counts["questions"], counts["answered"], counts["first_citation_correct"]
    return {
        "first_citation_correct_of_answered": correct / answered if answered else float("nan"),
        "first_citation_correct_of_answerable": correct / total if total else float("nan"),
        "abstained": (total - answered) / total if total else float("nan"),
    }


def run_mediqa_suite(
    index: SearchIndex,
    qa: AnswerSettings,
    models: LearnedModels,
    *,
    data_dir: Path = MEDIQA_DIR,
    triage_labels: Mapping[str, TriageLevel] | None = None,
) -> dict[str, dict[str, Any]]:
    """Retrieval per mode and the answer level, per split and on all answerable questions; with
    ``triage_labels``, triage on every labelled question too (``triage_on_real_messages``).

    Returns:
        ``{"mediqa.tune": ..., "mediqa.heldout": ..., "mediqa.all": ...}``.
    """
    questions = load_questions(data_dir)
    texts = {q.id: q.question for q in questions}
    # Ranked deeper than 10 only for the judged-only nDCG (judged passages below the 10th move up).
    runs = {mode: run_queries(index, texts, mode=mode, k=JUDGED_ONLY_DEPTH) for mode in SEARCH_MODES}
    results: dict[str, dict[str, Any]] = {}
    for split in MEDIQA_SPLITS:
        chosen = [q for q in questions if split_of(q.id) == split]
        answers = evaluate_answers(index, chosen, qa, models)
        results[f"mediqa.{split}"] = {
            "questions": len(chosen),
            "retrieval": {mode: mediqa_metrics(chosen, runs[mode]) for mode in SEARCH_MODES},
            "answers": answers["rates"],
            "answer_counts": answers["counts"],
            "failures": answers["failures"],
        }
    # Each question is answered once; the whole set's answer level adds up the splits' counts.
    counts = {
        name: sum(results[f"mediqa.{split}"]["answer_counts"][name] for split in MEDIQA_SPLITS)
        for name in ("questions", "answered", "first_citation_correct")
    }
    results["mediqa.all"] = {
        "questions": len(questions),
        "retrieval": {mode: mediqa_metrics(questions, runs[mode]) for mode in SEARCH_MODES},
        "answers": answer_rates(counts),
        "answer_counts": counts,
    }
    if triage_labels is not None:
        for name, triage in triage_on_real_messages(index, qa, models, data_dir, triage_labels).items():
            results[f"mediqa.{name}"] |= triage
    return results


def load_triage_labels(path: Path = TRIAGE_LABELS) -> dict[str, TriageLevel]:
    """Question id -> the blind reviewer's triage level."""
    labels: dict[str, TriageLevel] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            if record["level"] not in _RANK:
                raise ValueError(f"{path}: {record['id']} has level {record['level']!r}, not none, urgent or emergency")
            labels[record["id"]] = record["level"]
    return labels


def triage_on_real_messages(
    index: SearchIndex,
    qa: AnswerSettings,
    models: LearnedModels,
    data_dir: Path,
    labels: Mapping[str, TriageLevel],
) -> dict[str, dict[str, Any]]:
    """The product's banners on every labelled question (the answerable ones and the rest), against the labels.

    Returns:
        ``{"tune" | "heldout" | "all": {"triage": rates, "triage_counts": counts}}``. A rate's name says what
        it counts: ``false_alarms.none`` (any banner on a question that needs none), ``emergency_banners.none``
        (an emergency banner on one), ``at_level.urgent`` / ``at_level.emergency`` (a banner at the label's
        level or higher).
    """
    texts = {}
    for line in (data_dir / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            texts[record["id"]] = record["question"]
    missing = sorted(set(texts) - set(labels))
    if missing:
        raise ValueError(f"MEDIQA questions without a triage label: {', '.join(missing[:5])}")
    flagged: dict[str, TriageLevel] = {}
    for question_id, text in texts.items():
        answer = answer_question(text, index, settings=qa, triage=models.triage, abstention=models.abstention)
        flagged[question_id] = min((f.level for f in answer.red_flags), key=_RANK.__getitem__, default="none")
    out: dict[str, dict[str, Any]] = {}
    for split in (*MEDIQA_SPLITS, "all"):
        ids = [i for i in texts if split == "all" or split_of(i) == split]
        counts: dict[str, list[int]] = {}
        for level in ("none", "urgent", "emergency"):
            labelled = [i for i in ids if labels[i] == level]
            if level == "none":
                counts["false_alarms.none"] = [sum(flagged[i] != "none" for i in labelled), len(labelled)]
                counts["emergency_banners.none"] = [sum(flagged[i] == "emergency" for i in labelled), len(labelled)]
            else:
                at_level = sum(_RANK[flagged[i]] <= _RANK[level] for i in labelled)
                counts[f"at_level.{level}"] = [at_level, len(labelled)]
        out[split] = {
            "triage": {name: (hit / total if total else None) for name, (hit, total) in counts.items()},
            "triage_counts": {name: f"{hit}/{total}" for name, (hit, total) in counts.items()},
        }
    return out
