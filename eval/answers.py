"""Answer quality on the labelled questions: citations, abstention and red flags.

Runs the product's own ``answer_question`` on every question of one split and
counts what a reader would check: is the first citation from a right article,
is an expected sentence quoted, are out-of-scope questions declined, are red
flags raised at the right level and never on the look-alikes, and is every
quote found verbatim at its offsets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from eval.questions import LabelledQuestion, Split, load_questions
from index import SearchIndex
from service.qa import Answer, QASettings, answer_question
from service.redflags import RedFlagCatalogue

_LEVEL_ORDER = {"urgent": 1, "emergency": 2}


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
    red_flag_recall: dict[str, Rate]
    red_flag_at_level: Rate
    false_alarms: dict[str, Rate]
    citation_integrity: Rate
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
                "red_flag_at_level",
                "citation_integrity",
            )
        }
        flat |= {f"red_flag_recall.{level}": rate.value for level, rate in self.red_flag_recall.items()}
        flat |= {f"false_alarms.{kind}": rate.value for kind, rate in self.false_alarms.items()}
        return flat


def _norm(text: str) -> str:
    return " ".join(text.split())


def _quotes_expected(answer: Answer, expected: Sequence[str]) -> bool:
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
    catalogue: RedFlagCatalogue,
    settings: QASettings,
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
        answer = answer_question(q.question, index, settings=settings, catalogue=catalogue)
        levels = {f.level for f in answer.red_flags}
        if answer.abstain_reason != "instructions":
            confidences.append((q.in_scope, answer.confidence))
        if q.in_scope:
            count("answered_in_scope", not answer.abstained)
        else:
            count("declined_out_of_scope", answer.abstained)
            if not answer.abstained:
                failures.append(f"{q.id} answered out of scope: {q.question!r}")
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
            count(f"recall_{q.red_flag_level}", bool(levels))
            count("at_level", any(_LEVEL_ORDER[level] >= _LEVEL_ORDER[q.red_flag_level] for level in levels))
            if not levels:
                failures.append(f"{q.id} red flag missed ({q.red_flag_level}): {q.question!r}")
        elif q.kind != "red_flag":
            count(f"false_alarm_{q.kind}", bool(levels))
            if levels:
                failures.append(
                    f"{q.id} false alarm on {q.kind}: {q.question!r} -> {[f.rule for f in answer.red_flags]}"
                )
        count("citation_integrity", _integrity(answer, index))

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
        red_flag_recall={level: rate(f"recall_{level}") for level in ("emergency", "urgent")},
        red_flag_at_level=rate("at_level"),
        false_alarms={kind: rate(f"false_alarm_{kind}") for kind in ("benign", "answerable", "out_of_scope")},
        citation_integrity=rate("citation_integrity"),
        failures=failures,
        confidences=confidences,
    )
