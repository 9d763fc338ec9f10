"""How the red-flag backstop is chosen and trained (``eval.redflag_backstop``), and that the shipped one is current."""

from __future__ import annotations

import numpy as np
import pytest

from answer import BACKSTOP_FILE
from eval.questions import load_questions
from eval.redflag_backstop import Choice, Examples, choose, fit_backstop, training_examples
from settings import MODELS_DIR
from triage import ExampleBank, ExamplesDigest, bank_examples, bank_vectors, build_bank, load_backstop, load_catalogue


def _toy_examples() -> Examples:
    """Two clusters: warning signs near axis 0 (emergencies also along axis 1), ordinary questions near axis 2."""
    rng = np.random.default_rng(0)
    rows = []
    for b in range(4):
        for i in range(12):
            is_red, is_emergency = i < 6, i < 3
            centre = np.array([1.0, 1.0 if is_emergency else 0.0, 0.0]) if is_red else np.array([0.0, 0.0, 1.0])
            kind = "red_flag" if is_red else ("benign" if i < 9 else "answerable")
            rows.append((centre + rng.normal(0, 0.1, 3), int(is_red), int(is_emergency), kind, b))
    vectors, red, emergency, kinds, batch = zip(*rows, strict=True)
    digest = ExamplesDigest(count=len(rows), sha256="toy")
    return Examples(np.array(vectors), np.array(red), np.array(emergency), tuple(kinds), np.array(batch), digest)


def test_separable_warning_signs_are_all_flagged_out_of_batch_with_no_false_alarm() -> None:
    choice = choose(_toy_examples())
    assert "| 24/24 | 0/12 | 0/12 |" in "\n".join(choice.table)
    assert choice.k == 10 and "| 10 | 0.000 | 24/24 | 24 |" in choice.table
    assert choice.emergency_threshold in (0.2, 0.3, 0.4, 0.5)
    examples = _toy_examples()
    parameters = fit_backstop(examples, choice, model="toy")
    bank = ExampleBank("toy", examples.digest, bank_vectors(examples.vectors), examples.red == 1)
    backstop = parameters.with_bank(bank)
    assert backstop.level(np.array([1.0, 1.0, 0.0])) == "emergency"
    assert backstop.level(np.array([1.0, 0.0, 0.0])) == "urgent"
    assert backstop.level(np.array([0.0, 0.0, 1.0])) is None


def test_held_out_questions_never_train_it() -> None:
    tuning = {q.id for q in load_questions(split="tune")}
    listed = bank_examples(load_catalogue())
    assert {e.question_id for e in listed if e.question_id is not None} == tuning
    examples = training_examples(listed, lambda texts: np.zeros((len(texts), 2)))
    assert (examples.batch >= 0).sum() == len(tuning)


@pytest.mark.slow
def test_committed_backstop_is_a_fresh_fit_at_its_choice(embedder) -> None:
    """Fails when the questions, the catalogue's phrases or the model changed without re-running
    'python -m eval.redflag_backstop --write' (deterministic: lbfgs on fixed examples).

    Both models are refitted at the committed choice (C, thresholds, k); the out-of-batch sweep that made the
    choice is the command's, which prints its tables (half a minute, so not re-run here)."""
    listed = bank_examples(load_catalogue())
    examples = training_examples(listed, embedder.embed_queries)
    shipped = load_backstop(MODELS_DIR / BACKSTOP_FILE)
    assert shipped.neighbours is not None
    choice = Choice(
        c=shipped.c,
        threshold=shipped.threshold,
        k=shipped.neighbours.k,
        margin_threshold=shipped.neighbours.threshold,
        emergency_threshold=shipped.emergency_threshold,
        table=(),
    )
    fresh = fit_backstop(examples, choice, embedder.fingerprint)
    assert (fresh.model, fresh.examples, fresh.neighbours) == (shipped.model, shipped.examples, shipped.neighbours)
    assert fresh.red_weights == pytest.approx(shipped.red_weights, abs=1e-3)
    assert fresh.emergency_weights == pytest.approx(shipped.emergency_weights, abs=1e-3)
    # The bank the service builds is, exactly, the training vectors in the bank's form (float16 round trip).
    bank = build_bank(listed, embedder, cache_dir=None)
    assert np.array_equal(bank.vectors, bank_vectors(examples.vectors))
    assert np.array_equal(bank.red, examples.red == 1)
