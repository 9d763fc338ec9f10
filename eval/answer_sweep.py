"""Sweeps that chose the answer-selection settings, on the corpus suite's tuning questions only.

``python -m eval.answer_sweep answers`` varies one ``AnswerSettings`` weight at a time around the shipped
defaults and prints, for each value, what a reader of the answers would check:

- ``first right``: the first citation is from a right article (answerable questions);
- ``expected``: a cited quote is, or contains, a labelled answer sentence;
- ``any right``: some citation is from a right article (answerable questions);
- ``cited relevant``: share of all citations that come from a right article (a sentence from an
  unrelated article lowers it);
- ``sentences``: mean cited sentences per answer.

The default of each weight is the value on its row marked ``*``: the best on ``first right``, then on
``expected``, then on ``cited relevant``, among values that lower neither ``any right`` (an existing
corpus figure) nor ``cited relevant`` by more than 0.01 (weights were re-swept until no single change
improved on that order); a tie goes to the value with fewer sentences per answer, then to the smaller value. ``--weight NAME`` sweeps
one weight only. ``max_list_items`` is not chosen this way: list answers are required (issue 12); its rows show
what they cost on these figures.
With ``--mediqa``, each row also shows ``mediqa first``: on MEDIQA's tuning split (86 real consumer
questions, ``eval/mediqa.py``), the share whose first citation is a passage graded >= 3. ``lead_margin``
is chosen on both tuning sets (it ties on the corpus, so the MEDIQA column decides).
Held-out questions are never read here.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from answer import LearnedModels, answer_question, load_models
from eval import mediqa
from eval.answers import _quotes_expected
from eval.questions import LabelledQuestion, load_questions
from eval.run import CORPUS_DIR
from index import SearchIndex, open_embedder
from ingest import ingest
from settings import AnswerSettings, Settings

# Values tried for each weight; the shipped default is always among them.
ANSWER_GRID: dict[str, tuple[float, ...]] = {
    "lead_margin": (0.0, 0.02, 0.05, 0.1, 0.2, 1.0),
    "rank_prior": (0.0, 0.02, 0.04, 0.08, 0.12),
    "term_weight": (0.0, 0.05, 0.1, 0.15, 0.2, 0.3),
    "dangling_penalty": (0.0, 0.03, 0.06, 0.1),
    "support_margin": (0.1, 0.15, 0.2, 0.25, 1.0),
    "relevance_margin": (0.06, 0.09, 0.12, 0.15, 0.2),
    "length_cap_factor": (1.0, 1.25, 1.5, 2.0),
    "max_list_items": (0, 4, 8, 12),
    "mmr_lambda": (0.5, 0.65, 0.75, 0.9, 1.0),
    "next_sentence_bonus": (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5),
}


@dataclass(frozen=True)
class AnswerFigures:
    first_right: float
    any_right: float
    expected: float
    cited_relevant: float
    sentences: float


def answer_figures(
    index: SearchIndex, models: LearnedModels, settings: AnswerSettings, questions: list[LabelledQuestion]
) -> AnswerFigures:
    """The four figures above over the answerable questions given (tuning ones only)."""
    first = any_right = expected = labelled = relevant = cited = answers = 0
    answerable = [q for q in questions if q.kind == "answerable"]
    for q in answerable:
        answer = answer_question(
            q.question, index, settings=settings, triage=models.triage, abstention=models.abstention
        )
        first += bool(answer.citations) and answer.citations[0].doc_id in q.relevant
        any_right += any(c.doc_id in q.relevant for c in answer.citations)
        if q.answer_sentences:
            labelled += 1
            expected += _quotes_expected(answer, q.answer_sentences)
        relevant += sum(c.doc_id in q.relevant for c in answer.citations)
        cited += len(answer.citations)
        answers += not answer.abstained
    return AnswerFigures(
        first_right=first / len(answerable),
        any_right=any_right / len(answerable),
        expected=expected / labelled,
        cited_relevant=relevant / cited if cited else 0.0,
        sentences=cited / answers if answers else 0.0,
    )


def mediqa_first_correct(index: SearchIndex, models: LearnedModels, settings: AnswerSettings) -> float:
    """On MEDIQA's tuning split: the share of questions whose first citation is a passage graded >= 3."""
    result = mediqa.evaluate_answers(index, mediqa.load_questions(split="tune"), settings, models)
    return float(result["rates"]["first_citation_correct_of_answerable"])


def sweep_answers(
    index: SearchIndex,
    models: LearnedModels,
    base: AnswerSettings,
    *,
    mediqa_index: SearchIndex | None = None,
    weights: Sequence[str] = tuple(ANSWER_GRID),
) -> list[str]:
    """One table per weight (all of ``ANSWER_GRID`` unless ``weights`` names some); returns the printed lines."""
    questions = load_questions(split="tune")
    lines = [f"Answer selection, {sum(q.kind == 'answerable' for q in questions)} answerable tuning questions"]
    extra = "  mediqa first" if mediqa_index is not None else ""
    for name in weights:
        values = ANSWER_GRID[name]
        lines += ["", f"{name:<18} first right  any right  expected  cited relevant  sentences{extra}"]
        for value in values:
            settings = replace(base, **{name: value})  # type: ignore[arg-type]  # each name is a numeric field
            figures = answer_figures(index, models, settings, questions)
            mark = "*" if getattr(base, name) == value else " "
            line = (
                f"{mark} {value!s:<16} {figures.first_right:11.3f} {figures.any_right:10.3f} {figures.expected:9.3f} "
                f"{figures.cited_relevant:15.3f} {figures.sentences:10.2f}"
            )
            if mediqa_index is not None:
                line += f" {mediqa_first_correct(mediqa_index, models, settings):14.3f}"
            lines.append(line)
    return lines


def corpus_index(settings: Settings, work_dir: Path) -> SearchIndex:
    """The shipped corpus indexed with the product's pipeline under ``work_dir`` (incrementally)."""
    embedder = open_embedder(settings.embedder_settings())
    index_dir = work_dir / "index-corpus"
    chunker = settings.chunker_settings()
    build = settings.build_settings()  # the sentence vectors the product is configured with
    ingest([CORPUS_DIR], index_dir=index_dir, embedder=embedder, chunker=chunker, build=build, progress=False)
    index = SearchIndex.load(index_dir, embedder=embedder, settings=settings.search_settings())
    # The sweep asks each question many times: embed each once.
    index.embed_query = functools.lru_cache(maxsize=None)(index.embed_query)  # type: ignore[method-assign]
    return index


def mediqa_index(settings: Settings, work_dir: Path) -> SearchIndex:
    """MEDIQA's judged passages indexed with the product's pipeline under ``work_dir`` (as ``healthqa eval``)."""
    embedder = open_embedder(settings.embedder_settings())
    chunker = settings.chunker_settings()
    index_dir = mediqa.index_passages(work_dir, embedder=embedder, chunker=chunker, build=settings.build_settings())
    index = SearchIndex.load(index_dir, embedder=embedder, settings=settings.search_settings())
    index.embed_query = functools.lru_cache(maxsize=None)(index.embed_query)  # type: ignore[method-assign]
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.answer_sweep", description=__doc__.splitlines()[0])
    parser.add_argument("sweep", choices=["answers"], help="which sweep to run")
    parser.add_argument("--work-dir", type=Path, default=Path("var/eval"), help="where the corpus index is kept")
    parser.add_argument(
        "--mediqa", action="store_true", help="add MEDIQA's tuning split (needs ../shared/datasets/mediqa2019-qa)"
    )
    parser.add_argument(
        "--weight",
        action="append",
        choices=list(ANSWER_GRID),
        help="sweep only this weight (repeat for several; default: all)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = Settings()
    index = corpus_index(settings, args.work_dir)
    extra = mediqa_index(settings, args.work_dir) if args.mediqa else None
    lines = sweep_answers(
        index,
        load_models(
            settings.models_dir,
            embedder=index.embedder,
            cache_dir=settings.model_cache_dir,
            catalogue_path=settings.redflag_catalogue,
        ),
        settings.answer_settings(),
        mediqa_index=extra,
        weights=args.weight or tuple(ANSWER_GRID),
    )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
