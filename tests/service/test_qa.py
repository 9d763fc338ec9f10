"""Answer selection on articles written for these tests: list answers, corrected sentences, settings.

A real index (the bundled model) of four small articles of our own, none from the shipped corpus.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from answer import (
    NO_DOSES,
    NOT_A_QUESTION,
    AbstentionModel,
    answer_question,
    is_dose_request,
    load_abstention_model,
)
from index import SearchIndex
from ingest import ingest
from settings import AnswerSettings, ChunkerSettings
from tests.learned import shipped

CORRECTED = "Daily kettlebell swings always make your wrists stronger."
ARTICLES = {
    "kettlebell-basics": f"""---
id: kettlebell-basics
title: Kettlebell basics
corrected_sentences:
  - "{CORRECTED}"
---
# Kettlebell basics

{CORRECTED} Kettlebells come in many weights and sizes.

Start light and learn the swing from a coach before adding weight.
""",
    "wrist-strength": """---
id: wrist-strength
title: Wrist strength for lifters
---
# Wrist strength for lifters

Wrists can grow stronger from kettlebell work done with good form and rest days.
Wrist curls with a light weight are another way to build grip.
""",
    "ferret-care": """---
id: ferret-care
title: Ferret bedding
corrected_sentences:
  - "Ferrets sleep best in a hammock lined with fleece blankets."
  - "A ferret hammock should be washed every week with unscented soap."
---
# Ferret bedding

Ferrets sleep best in a hammock lined with fleece blankets. A ferret hammock should be washed every week with unscented soap.
""",
    "hand-exercises": """---
id: hand-exercises
title: Exercises for stiff fingers
---
# Exercises for stiff fingers

## Gentle hand exercises

Gentle hand exercises can ease stiffness in the fingers. The following movements are often suggested.

- A finger spread means opening your hand wide on a table and slowly closing it again.
- A thumb touch means touching the tip of your thumb to each fingertip in turn.
- A soft fist means curling your fingers into a loose fist and then straightening them.

Hand exercises should never hurt, and a warm bath beforehand can make them easier.
""",
    "rowing-stroke": """---
id: rowing-stroke
title: The rowing stroke
---
# The rowing stroke

Coaches split a rowing stroke into four named phases. They are the catch, the drive, the finish and the recovery.
Rowing machines in gyms measure each stroke in watts and metres.

## Choosing a club

A rowing club will usually lend you a boat for your first season.
""",
}
ALWAYS_ANSWER = AnswerSettings(abstain_threshold=0.0)  # confidence is in (0, 1): never abstains


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, embedder) -> SearchIndex:
    sources = tmp_path_factory.mktemp("qa-articles")
    for doc_id, text in ARTICLES.items():
        (sources / f"{doc_id}.md").write_text(text, encoding="utf-8")
    index_dir = tmp_path_factory.mktemp("qa-index")
    ingest([sources], index_dir=index_dir, embedder=embedder, chunker=ChunkerSettings(), progress=False)
    return SearchIndex.load(index_dir, embedder=embedder)


def _quotes_are_exact(answer, index: SearchIndex) -> bool:
    for citation in answer.citations:
        document = index.document(citation.doc_id)
        if document is None or document.text[citation.start : citation.end] != citation.quote:
            return False
    return True


@pytest.mark.slow
def test_what_question_gets_the_list_under_the_lead_sentence(index: SearchIndex) -> None:
    answer = answer_question(
        "what exercises help stiff fingers",
        index,
        settings=ALWAYS_ANSWER,
        triage=shipped(index.embedder).triage,
        abstention=shipped(index.embedder).abstention,
    )
    assert answer.sentences[0].text == "Gentle hand exercises can ease stiffness in the fingers."
    items = [s.text for s in answer.sentences if s.list_item]
    assert items == [
        "A finger spread means opening your hand wide on a table and slowly closing it again.",
        "A thumb touch means touching the tip of your thumb to each fingertip in turn.",
        "A soft fist means curling your fingers into a loose fist and then straightening them.",
    ]
    assert len(answer.sentences) == 4 and all(len(s.citations) == 1 for s in answer.sentences)
    assert answer.answer.count("\n- ") == 3
    assert _quotes_are_exact(answer, index)


@pytest.mark.slow
def test_the_sentence_after_the_lead_carries_on_its_thought(index: SearchIndex) -> None:
    question = "what are the phases of a rowing stroke called"
    two = replace(ALWAYS_ANSWER, min_sentences=1, max_sentences=2)
    answer = answer_question(
        question,
        index,
        settings=two,
        triage=shipped(index.embedder).triage,
        abstention=shipped(index.embedder).abstention,
    )
    assert [s.text for s in answer.sentences] == [
        "Coaches split a rowing stroke into four named phases.",
        "They are the catch, the drive, the finish and the recovery.",
    ]
    # Without the bonus, the sentence that leans on the lead ("They are ...") loses to its neighbours.
    plain = answer_question(
        question,
        index,
        settings=replace(two, next_sentence_bonus=0.0),
        triage=shipped(index.embedder).triage,
        abstention=shipped(index.embedder).abstention,
    )
    assert "They are the catch, the drive, the finish and the recovery." not in [s.text for s in plain.sentences]


@pytest.mark.slow
def test_a_list_is_not_quoted_for_a_yes_no_question(index: SearchIndex) -> None:
    answer = answer_question(
        "do finger exercises ease stiffness",
        index,
        settings=ALWAYS_ANSWER,
        triage=shipped(index.embedder).triage,
        abstention=shipped(index.embedder).abstention,
    )
    assert not answer.abstained and not any(s.list_item for s in answer.sentences)


@pytest.mark.slow
def test_a_sentence_the_editors_note_corrects_gives_way_to_another_articles(index: SearchIndex) -> None:
    answer = answer_question(
        "do kettlebell swings make your wrists stronger",
        index,
        settings=ALWAYS_ANSWER,
        triage=shipped(index.embedder).triage,
        abstention=shipped(index.embedder).abstention,
    )
    quotes = [c.quote for c in answer.citations]
    assert CORRECTED not in quotes
    assert answer.citations[0].doc_id == "wrist-strength"
    assert _quotes_are_exact(answer, index)


@pytest.mark.slow
def test_a_corrected_sentence_is_used_when_nothing_else_qualifies(index: SearchIndex) -> None:
    answer = answer_question(
        "where do ferrets like to sleep",
        index,
        settings=ALWAYS_ANSWER,
        triage=shipped(index.embedder).triage,
        abstention=shipped(index.embedder).abstention,
        k=1,
    )
    assert [c.doc_id for c in answer.citations][:1] == ["ferret-care"]
    assert answer.citations[0].quote == "Ferrets sleep best in a hammock lined with fleece blankets."


@pytest.mark.slow
def test_timings_are_set_on_a_new_answer_not_by_mutation(index: SearchIndex) -> None:
    """Regression: timings were written into a frozen Answer's dict after it was built."""
    answer = answer_question(
        "what exercises help stiff fingers",
        index,
        settings=ALWAYS_ANSWER,
        triage=shipped(index.embedder).triage,
        abstention=shipped(index.embedder).abstention,
    )
    assert {"red_flags", "embed", "search", "compose", "total"} <= set(answer.timings_ms)
    assert 0.0 < answer.confidence <= 1.0


@pytest.mark.parametrize(
    "question",
    [
        "how many mg of paracetamol is ok for a 10 year old",
        "How many tablets of co-codamol can I have in 24 hours?",
        "how much aspirin can i take for a sore wrist",
        "how much codeine should my mum take",
        "what's the maximum dose of diclofenac gel",
        "is 800mg of ibuprofen too much at once",
        "what dosage of vitamin d for bone health",
        "how often can i take naproxen",
        "safe daily dose of glucosamine for knees?",
        "how many naproxen can i have in a day",
        "how many co-codamol should my dad take for his hip",
        "how many times a day can i take tramadol",
    ],
)
def test_requests_for_a_medicine_dose_are_recognised(question: str) -> None:
    assert is_dose_request(question)


@pytest.mark.parametrize(
    "question",
    [
        "can i take ibuprofen if i have asthma",
        "how much time should i take off work with a bad back",
        "how much weight can i lift after a hernia repair",
        "how much rest should i take between sets",
        "is it ok to take paracetamol and ibuprofen together",
        "how many sets and reps for knee strengthening",
        "does a high dose of vitamin d help back pain",
        "how many physio sessions should i have for a frozen shoulder",
        "how many days should i take off work after a back strain",
        "how many times a day should i do these stretches",
    ],
)
def test_questions_about_medicines_that_ask_no_dose_are_not_dose_requests(question: str) -> None:
    assert not is_dose_request(question)


@pytest.mark.slow
def test_a_dose_request_is_declined_by_rule_before_retrieval(index: SearchIndex) -> None:
    """Even with a model that would answer anything, a dose request gets the no-doses message, not a quote."""
    answer = answer_question(
        "how many mg of ibuprofen can i take before kettlebell training",
        index,
        settings=ALWAYS_ANSWER,
        triage=shipped(index.embedder).triage,
        abstention=shipped(index.embedder).abstention,
    )
    assert answer.abstained and answer.abstain_reason == "dose" and answer.answer == NO_DOSES
    assert answer.citations == () and "embed" not in answer.timings_ms


def test_the_no_doses_message_names_no_dose_and_no_topic() -> None:
    assert not any(ch.isdigit() for ch in NO_DOSES) and "back pain" not in NO_DOSES
    assert "pharmacist" in NO_DOSES


def test_declined_instructions_message_names_no_topic() -> None:
    """The product answers from whatever corpus is ingested, so the decline must not name one."""
    assert "back pain" not in NOT_A_QUESTION and "joint" not in NOT_A_QUESTION


@pytest.mark.parametrize(
    "changes",
    [{"min_sentences": 0}, {"min_sentences": 5, "max_sentences": 4}, {"answer_k": 0}, {"length_cap_factor": 0.5}],
)
def test_qa_settings_reject_impossible_values(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AnswerSettings(**changes)  # type: ignore[arg-type]


def test_abstention_model_confidence_is_the_logistic_of_its_weighted_features() -> None:
    model = AbstentionModel(features=("passage", "agree"), weights=(10.0, 1.0), bias=-5.0, threshold=0.5)
    assert model.confidence({"passage": 0.5, "agree": 0.0, "sentence": 0.9}) == pytest.approx(0.5)
    assert model.confidence({"passage": 0.6, "agree": 1.0}) == pytest.approx(1 / (1 + pow(2.718281828459045, -2.0)))


def test_abstention_model_weighs_the_red_flag_feature() -> None:
    model = AbstentionModel(features=("passage", "red_flag"), weights=(10.0, 2.0), bias=-5.0, threshold=0.5)
    without = model.confidence({"passage": 0.4, "red_flag": 0.0})
    with_flag = model.confidence({"passage": 0.4, "red_flag": 1.0})
    assert without < 0.5 < with_flag and with_flag == pytest.approx(1 / (1 + pow(2.718281828459045, -1.0)))


def test_abstention_model_rejects_unknown_features_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="known feature"):
        AbstentionModel(features=("bm25",), weights=(1.0,), bias=0.0, threshold=0.5)
    bad = tmp_path / "abstention.json"
    bad.write_text(json.dumps({"features": ["passage"]}), encoding="utf-8")
    with pytest.raises(ValueError, match="not a usable abstention model"):
        load_abstention_model(bad)
