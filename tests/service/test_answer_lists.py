"""List answers on the shipped corpus (issue 12): asked which stretches help, the answer is the stretches.

A real index of the shipped articles with the bundled model, once per way of making sentence vectors
(standalone and pooled), since the answer must not depend on that choice. The questions are worded in
the tuning questions' style; a test here keeps them away from every held-out question's wording.
"""

from __future__ import annotations

import pytest

from answer import answer_question, asks_for_content
from index import SearchIndex
from ingest import ingest
from settings import AnswerSettings, BuildSettings, ChunkerSettings
from tests.conftest import CORPUS
from tests.heldout import near_copies_of_held_out
from tests.learned import shipped

STRETCH_QUESTIONS = (
    "what stretches can I do for my lower back",
    "good stretches for a stiff lower back?",
)
LEAD = "Gentle stretches can ease stiffness in the early days of back pain."
STRETCHES = [
    "A knee roll means lying on your back with your knees bent and feet flat, then slowly letting both knees "
    "fall to one side and then the other.",
    "A knee-to-chest stretch means lying on your back and gently drawing one bent knee towards your chest for a "
    "few seconds before changing legs.",
    "A pelvic tilt means lying on your back with knees bent and gently tightening your stomach muscles so your "
    "lower back presses towards the floor, then relaxing.",
    "A bottom-to-heels stretch means kneeling on all fours and slowly moving your bottom back towards your heels "
    "before returning.",
]


@pytest.fixture(scope="module", params=["standalone", "pooled"])
def corpus(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, embedder) -> SearchIndex:
    index_dir = tmp_path_factory.mktemp(f"corpus-{request.param}")
    build = BuildSettings(sentence_vectors=request.param)
    ingest([CORPUS], index_dir=index_dir, embedder=embedder, chunker=ChunkerSettings(), build=build, progress=False)
    return SearchIndex.load(index_dir, embedder=embedder)


def test_these_questions_are_not_held_out_wording() -> None:
    """Unit tests never carry held-out wording."""
    assert near_copies_of_held_out(STRETCH_QUESTIONS) == []


@pytest.mark.slow
@pytest.mark.parametrize("question", STRETCH_QUESTIONS)
def test_asked_which_stretches_help_the_answer_is_the_listed_stretches(corpus: SearchIndex, question: str) -> None:
    answer = answer_question(
        question,
        corpus,
        settings=AnswerSettings(),
        triage=shipped(corpus.embedder).triage,
        abstention=shipped(corpus.embedder).abstention,
    )
    assert not answer.abstained
    assert answer.sentences[0].text == LEAD and not answer.sentences[0].list_item
    assert [s.text for s in answer.sentences[1:]] == STRETCHES
    assert all(s.list_item and len(s.citations) == 1 for s in answer.sentences[1:])
    assert {c.doc_id for c in answer.citations} == {"exercises-for-back-pain"}
    assert "belt" not in answer.answer  # "NICE advises against back belts ..." does not answer it
    for citation in answer.citations:
        document = corpus.document(citation.doc_id)
        assert document is not None and document.text[citation.start : citation.end] == citation.quote


@pytest.mark.parametrize(
    ("question", "content"),
    [
        ("what stretches can I do for my lower back", True),
        ("good stretches for a stiff lower back?", True),
        ("heat or ice for a sore back", True),
        ("can you list some stretches for the back", True),
        ("does stretching help a stiff back", False),
        ("is it bad to lift with a rounded back", False),
        ("Should I stay in bed with back pain?", False),
    ],
)
def test_a_yes_no_question_is_not_asked_for_content(question: str, content: bool) -> None:
    assert asks_for_content(question) is content
