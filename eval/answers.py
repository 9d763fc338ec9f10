"""Answer quality on the labelled questions: citations, abstention and red flags.

Runs the product's own ``answer_question`` on every question of one split and
counts what a reader would check: is the first citation from a right article,
is an expected sentence quoted, are out-of-scope questions declined, are red
flags raised at the right level and never on the look-alikes, and, for the
answered questions only, is every sentence cited and every quote found
verbatim at its offsets (``citation_integrity_answered``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from answer import Answer, LearnedModels, answer_question
from eval.questions import LabelledQuestion, load_questions
from eval.splits import Split
from index import SearchIndex
from settings import AnswerSettings

LEVEL_ORDER = {"urgent": 1, "emergency": 2}
RED_FLAG_LEVELS = ("emergency", "urgent")


@dataclass(frozen=True)
class Rate:
    hits: int
    total: int

    @property
    def value(self) -> float:
        return self.hits / self.total if self.total else float("nan")

    def __str__(self) -> str:
        return f"{self.value:.1%} ({self.hits}/{self.total})"


@dataclass(frozen=True)
class AnswerReport:
    split: str
    questions: int
    first_citation_right: Rate
    right_article_cited: Rate
    expected_sentence_cited: Rate
    answered_in_scope: Rate
    declined_out_of_scope: Rate
    # Red flags, strictly: a labelled question counts as recalled only when a flag at its level or higher fires
    # (an emergency needs an emergency flag). Under-triage: an emergency flagged only as urgent. Over-triage:
    # an urgent question flagged as an emergency (safe, reported apart). Missed: no flag at all.
    red_flag_recall_at_level: dict[str, Rate]
    red_flag_under_triage: dict[str, Rate]
    red_flag_over_triage: dict[str, Rate]
    red_flag_missed: dict[str, Rate]
    # Share of the questions of each kind (benign look-alike, answerable, out of scope) that raised any flag.
    false_alarms: dict[str, Rate]
    citation_integrity_answered: Rate  # over answered questions only: an abstention has nothing to check
    failures: list[str] = field(default_factory=list)
    confidences: list[tuple[bool, float]] = field(default_factory=list)

    def rates(self) -> dict[str, float]:
        """Every rate by a flat name, for the results JSON and the gate."""
        flat = {
            name: getattr(self, name).value
            for name in (
                "first_citation_right",
                "right_article_cited",
                "expected_sentence_cited",
                "answered_in_scope",
                "declined_out_of_scope",
                "citation_integrity_answered",
            )
        }
        for name in ("red_flag_recall_at_level", "red_flag_under_triage", "red_flag_over_triage", "red_flag_missed"):
            flat |= {f"{name}.{level}": rate.value for level, rate in getattr(self, name).items()}
        flat |= {f"false_alarms.{kind}": rate.value for kind, rate in self.false_alarms.items()}
        return flat

    def red_flag_counts(self) -> dict[str, str]:
        """The red-flag and false-alarm rates with their counts ("100.0% (6/6)"), for the report."""
        counts: dict[str, str] = {}
        for name in ("red_flag_recall_at_level", "red_flag_under_triage", "red_flag_over_triage", "red_flag_missed"):
            counts |= {f"{name}.{level}": str(rate) for level, rate in getattr(self, name).items()}
        counts |= {f"false_alarms.{kind}": str(rate) for kind, rate in self.false_alarms.items()}
        return counts


def _norm(text: str) -> str:
    return " ".join(text.split())


def _wording(question: LabelledQuestion) -> str:
    """A failed question's wording for the report: tuning questions only, so that reading a report never
    shows anyone the held-out wording they must not tune on (the id is enough to count)."""
    return f": {question.question!r}" if question.split == "tune" else ""


def _quotes_expected(answer: Answer, expected: Sequence[str]) -> bool:
    """A cited quote is an expected sentence or contains one whole (whitespace normalised).

    A quote that is only a fragment of an expected sentence does not count: the label means the
    reader is shown that sentence.
    """
    wanted = [_norm(s) for s in expected]
    return any(w in _norm(c.quote) for c in answer.citations for w in wanted)


def _integrity(answer: Answer, index: SearchIndex) -> bool:
    """Every answer sentence is cited, and every quote sits verbatim at its offsets."""
    if any(not s.citations for s in answer.sentences):
        return False
    for citation in answer.citations:
        document = index.document(citation.doc_id)
        if document is None or document.text[citation.start : citation.end] != citation.quote:
            return False
    return True


def evaluate_answers(
    index: SearchIndex,
    models: LearnedModels,
    settings: AnswerSettings,
    *,
    split: Split | None,
    questions: list[LabelledQuestion] | None = None,
) -> AnswerReport:
    """Answer every question of ``split`` (both when None) and score the answers."""
    questions = questions if questions is not None else load_questions(split=split)
    counts: dict[str, list[int]] = {}
    failures: list[str] = []
    confidences: list[tuple[bool, float]] = []

    def count(name: str, ok: bool) -> None:
        counts.setdefault(name, [0, 0])
        counts[name][0] += int(ok)
        counts[name][1] += 1

    for q in questions:
        answer = answer_question(
            q.question, index, settings=settings, triage=models.triage, abstention=models.abstention
        )
        levels = {f.level for f in answer.red_flags}
        if answer.abstain_reason not in ("instructions", "dose"):  # declined by rule, not by confidence
            confidences.append((q.in_scope, answer.confidence))
        if q.in_scope:
            count("answered_in_scope", not answer.abstained)
        else:
            count("declined_out_of_scope", answer.abstained)
            if not answer.abstained:
                failures.append(f"{q.id} answered out of scope{_wording(q)}")
        if q.kind == "answerable":
            first_right = bool(answer.citations) and answer.citations[0].doc_id in q.relevant
            count("first_citation_right", first_right)
            count("right_article_cited", any(c.doc_id in q.relevant for c in answer.citations))
            if not first_right:
                failures.append(
                    f"{q.id} first citation {answer.citations[0].doc_id if answer.citations else 'none'} not in {list(q.relevant)}"
                )
            if q.answer_sentences:
                count("expected_sentence_cited", _quotes_expected(answer, q.answer_sentences))
        if q.kind == "red_flag" and q.red_flag_level:
            wanted = LEVEL_ORDER[q.red_flag_level]
            highest = max((LEVEL_ORDER[level] for level in levels), default=0)
            count(f"at_level_{q.red_flag_level}", highest >= wanted)
            count(f"under_{q.red_flag_level}", 0 < highest < wanted)
            count(f"over_{q.red_flag_level}", highest > wanted)
            count(f"missed_{q.red_flag_level}", highest == 0)
            if highest < wanted:
                got = "nothing" if not levels else f"only {'/'.join(sorted(levels))}"
                failures.append(f"{q.id} red flag below its level ({q.red_flag_level}, got {got}){_wording(q)}")
        elif q.kind != "red_flag":
            count(f"false_alarm_{q.kind}", bool(levels))
            if levels:
                failures.append(f"{q.id} false alarm on {q.kind}{_wording(q)} -> {[f.rule for f in answer.red_flags]}")
        if not answer.abstained:
            # An abstention cites nothing, so it would pass vacuously: count answered questions only.
            count("citation_integrity_answered", _integrity(answer, index))

    def rate(name: str) -> Rate:
        hits, total = counts.get(name, [0, 0])
        return Rate(hits, total)

    return AnswerReport(
        split=split or "all",
        questions=len(questions),
        first_citation_right=rate("first_citation_right"),
        right_article_cited=rate("right_article_cited"),
        expected_sentence_cited=rate("expected_sentence_cited"),
        answered_in_scope=rate("answered_in_scope"),
        declined_out_of_scope=rate("declined_out_of_scope"),
        red_flag_recall_at_level={level: rate(f"at_level_{level}") for level in RED_FLAG_LEVELS},
        # Only an emergency can be under-triaged and only an urgent question over-triaged (two levels).
        red_flag_under_triage={"emergency": rate("under_emergency")},
        red_flag_over_triage={"urgent": rate("over_urgent")},
        red_flag_missed={level: rate(f"missed_{level}") for level in RED_FLAG_LEVELS},
        false_alarms={kind: rate(f"false_alarm_{kind}") for kind in ("benign", "answerable", "out_of_scope")},
        citation_integrity_answered=rate("citation_integrity_answered"),
        failures=failures,
        confidences=confidences,
    )
