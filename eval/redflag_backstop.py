"""Choose and train the red-flag backstop (``triage/backstop.py``) on the tuning questions only.

``python -m eval.redflag_backstop`` prints the table the settings were chosen from; ``--write`` also fits the
chosen models on all the training examples and stores their parameters in ``models/redflag_backstop.json``
(with the digest of the examples; the example vectors are built from the texts wherever the backstop loads).

Training examples (``triage.bank_examples``, the list the service builds its bank from): every tuning question
(red flags against benign look-alikes, answerable and out-of-scope questions) and the catalogue's test phrases
(red flags, at their rule's level) and negative phrases. Held-out questions are never read.

How the settings are chosen, all deterministic:
1. Out of batch. The tuning questions come in batches, each written by someone who had not seen the detector
   (``eval.questions.BATCHES``); new wording arrives the same way. For each batch, both models are fitted on the
   other batches and the catalogue phrases and score that batch, so every tuning question gets an out-of-batch
   P(warning sign) and P(emergency | warning sign). (The catalogue phrases stay in every fold: some were written
   from a batch's misses, which makes these estimates a little optimistic.)
2. The regularisation ``C`` and the threshold are the pair that flags the most red-flag questions out of batch
   while firing on none of the benign look-alikes and other questions (``MAX_FALSE_ALARM_RATE``); ties go to the
   higher threshold, then the smaller ``C``. The model fitted on every example must also fire on none of those
   tuning questions at that threshold (it is the one shipped).
3. The nearest-neighbour margin's ``k`` and threshold, the same way: the most red flags flagged out of batch with
   no false alarm, out of batch and with every example in the bank (ties to the higher threshold, then the smaller
   ``k``). The backstop fires when either step 2's
   model or this margin does, so together they raise no false alarm out of batch either.
4. The emergency threshold has the fewest emergencies flagged only as urgent, out of batch, over the red flags
   that steps 2 and 3 flag, then the fewest urgent ones flagged as emergencies (escalate when unsure: the
   issue's target is no under-triage at all).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from eval.questions import batch_of
from triage import (
    BackstopParameters,
    BankExample,
    ExamplesDigest,
    NeighbourMargin,
    NeighbourSettings,
    bank_examples,
    examples_digest,
    load_catalogue,
    normalised,
)

C_GRID = (1.0, 4.0, 16.0, 64.0)
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.5, 0.96, 0.05))
EMERGENCY_THRESHOLDS = (0.2, 0.3, 0.4, 0.5)
NEIGHBOUR_KS = (10, 20, 30, 40, 60, 80)
MARGIN_THRESHOLDS = tuple(round(t, 3) for t in np.arange(0.0, 0.2001, 0.005))
# Out of batch, the backstop may fire on no look-alike and no answerable or out-of-scope question: a false
# "call emergency services" on an everyday question costs the reader's trust in every banner after it.
MAX_FALSE_ALARM_RATE = 0.0
Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Examples:
    """Texts with their labels: ``red`` 1 for a warning sign, ``emergency`` 1 for one at emergency level."""

    vectors: np.ndarray
    red: np.ndarray
    emergency: np.ndarray
    kinds: tuple[str, ...]  # the question kind, or "phrase"
    batch: np.ndarray  # index into BATCHES, -1 for catalogue phrases
    digest: ExamplesDigest  # of the examples these are (the parameter file names it)


def training_examples(examples: Sequence[BankExample], embed: Embed) -> Examples:
    """The backstop's examples (``triage.bank_examples``: tuning questions, then catalogue phrases), embedded."""
    return Examples(
        vectors=np.asarray(embed([e.text for e in examples]), dtype=np.float64),
        red=np.asarray([int(e.red) for e in examples]),
        emergency=np.asarray([int(e.emergency) for e in examples]),
        kinds=tuple(e.kind for e in examples),
        batch=np.asarray([-1 if e.question_id is None else _batch_of(e.question_id) for e in examples]),
        digest=examples_digest(examples),
    )


def _batch_of(question_id: str) -> int:
    batch = batch_of(question_id)
    if batch is None:
        raise SystemExit(f"{question_id} is in no batch of eval.questions.BATCHES: add its batch there first")
    return batch


def _fit(vectors: np.ndarray, labels: np.ndarray, c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(vectors, labels)


def out_of_batch(examples: Examples, c: float) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-batch P(warning sign) and P(emergency | warning sign) for every tuning question (phrases: NaN)."""
    p_red = np.full(len(examples.red), np.nan)
    p_emergency = np.full(len(examples.red), np.nan)
    for b in sorted(set(examples.batch.tolist()) - {-1}):
        train, test = examples.batch != b, examples.batch == b
        p_red[test] = _fit(examples.vectors[train], examples.red[train], c).predict_proba(examples.vectors[test])[:, 1]
        red_train = train & (examples.red == 1)
        model = _fit(examples.vectors[red_train], examples.emergency[red_train], c)
        p_emergency[test] = model.predict_proba(examples.vectors[test])[:, 1]
    return p_red, p_emergency


def out_of_batch_margins(examples: Examples, k: int) -> np.ndarray:
    """Out-of-batch neighbour margin for every tuning question (phrases: NaN)."""
    vectors = normalised(examples.vectors)
    margins = np.full(len(examples.red), np.nan)
    for b in sorted(set(examples.batch.tolist()) - {-1}):
        train = examples.batch != b
        bank = NeighbourMargin(vectors[train], examples.red[train] == 1, k=k, threshold=0.0)
        for i in np.flatnonzero(examples.batch == b):
            margins[i] = bank.margin(vectors[i])
    return margins


@dataclass(frozen=True)
class Choice:
    c: float
    threshold: float
    k: int
    margin_threshold: float
    emergency_threshold: float
    table: tuple[str, ...]


@dataclass(frozen=True)
class _Groups:
    """Masks over the examples: the tuning questions, and among them the warning signs, the look-alikes and the rest."""

    questions: np.ndarray
    red: np.ndarray
    benign: np.ndarray
    other: np.ndarray

    @classmethod
    def of(cls, examples: Examples) -> _Groups:
        questions = examples.batch >= 0
        benign = questions & (np.asarray(examples.kinds) == "benign")
        return cls(questions, questions & (examples.red == 1), benign, questions & (examples.red == 0) & ~benign)

    def quiet(self, fired: np.ndarray) -> bool:
        """At most ``MAX_FALSE_ALARM_RATE`` of the look-alikes, and of the other questions, fired."""
        return bool(
            (fired & self.benign).sum() <= MAX_FALSE_ALARM_RATE * self.benign.sum()
            and (fired & self.other).sum() <= MAX_FALSE_ALARM_RATE * self.other.sum()
        )


def choose(examples: Examples) -> Choice:
    """Steps 2 to 4 of the module docstring, with the tables they print."""
    groups = _Groups.of(examples)
    rows: list[str] = []
    c, threshold, p_red, p_emergency = _choose_model(examples, groups, rows)
    by_model = groups.red & (p_red >= threshold)
    k, margin_threshold, margins = _choose_margin(examples, groups, by_model, rows)
    caught = by_model | (groups.red & (margins >= margin_threshold))
    emergency_threshold = _choose_emergency_threshold(examples, caught, p_emergency, rows)
    return Choice(
        c=c,
        threshold=threshold,
        k=k,
        margin_threshold=margin_threshold,
        emergency_threshold=emergency_threshold,
        table=tuple(rows),
    )


def _choose_model(examples: Examples, groups: _Groups, rows: list[str]) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Step 2: C and threshold; returns them with the chosen C's out-of-batch P(warning sign) and P(emergency)."""
    red, benign, other = groups.red, groups.benign, groups.other
    rows += [
        "| C | threshold | red flags flagged (out of batch) | benign look-alikes fired | other questions fired |"
        " fitted on all: questions fired |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    allowed_settings: list[tuple[int, float, float]] = []  # (red flags flagged, threshold, -C): the max wins
    scores: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    for c in C_GRID:
        p_red, p_emergency = out_of_batch(examples, c)
        scores[c] = (p_red, p_emergency)
        in_sample = _fit(examples.vectors, examples.red, c).predict_proba(examples.vectors)[:, 1]
        for t in THRESHOLDS:
            fired = p_red >= t
            fired_in_sample = in_sample >= t
            flagged, fa_benign, fa_other = (
                int((fired & red).sum()),
                int((fired & benign).sum()),
                int((fired & other).sum()),
            )
            allowed = groups.quiet(fired) and groups.quiet(fired_in_sample)
            rows.append(
                f"| {c:g} | {t:.2f} | {flagged}/{int(red.sum())} | {fa_benign}/{int(benign.sum())} |"
                f" {fa_other}/{int(other.sum())} | {int((fired_in_sample & (benign | other)).sum())}"
                f"{'' if allowed else ' (over)'} |"
            )
            if allowed:
                allowed_settings.append((flagged, t, -c))
    if not allowed_settings:
        raise SystemExit("no setting keeps the false alarms within bounds; the backstop cannot be trained")
    _, threshold, negative_c = max(allowed_settings)
    c = -negative_c
    p_red, p_emergency = scores[c]
    flagged = int((red & (p_red >= threshold)).sum())
    rows += ["", f"Chosen: C {c:g}, threshold {threshold:.2f} ({flagged} red flags). The neighbour margin beside it:"]
    return c, threshold, p_red, p_emergency


def _choose_margin(
    examples: Examples, groups: _Groups, by_model: np.ndarray, rows: list[str]
) -> tuple[int, float, np.ndarray]:
    """Step 3: k and the margin threshold; returns them with the chosen k's out-of-batch margins."""
    red, questions = groups.red, groups.questions
    rows += [
        "",
        "| k | lowest threshold with no false alarm (out of batch and fitted on all) | red flags flagged (out of batch)"
        " | flagged by either |",
        "| --- | --- | --- | --- |",
    ]
    margin_settings: list[tuple[int, float, int]] = []  # (red flags flagged, threshold, -k): the max wins
    margins_by_k: dict[int, np.ndarray] = {}
    vectors = normalised(examples.vectors)
    folds = [examples.batch != b for b in sorted(set(examples.batch.tolist()) - {-1})]
    fewest = min(min(int((f & (examples.red == 1)).sum()), int((f & (examples.red == 0)).sum())) for f in folds)
    for k in NEIGHBOUR_KS:
        if k > fewest:
            rows.append(f"| {k} | too few examples in a fold | - | - |")
            continue
        margins = margins_by_k[k] = out_of_batch_margins(examples, k)
        bank = NeighbourMargin(vectors, examples.red == 1, k=k, threshold=0.0)
        in_sample = np.array([bank.margin(v) if q else np.nan for v, q in zip(vectors, questions, strict=True)])
        quiet = [t for t in MARGIN_THRESHOLDS if groups.quiet(margins >= t) and groups.quiet(in_sample >= t)]
        if not quiet:
            rows.append(f"| {k} | none | - | - |")
            continue
        fired = margins >= quiet[0]
        flagged = int((fired & red).sum())
        rows.append(f"| {k} | {quiet[0]:.3f} | {flagged}/{int(red.sum())} | {int(((fired & red) | by_model).sum())} |")
        margin_settings.append((flagged, quiet[0], -k))
    if not margin_settings:
        raise SystemExit("no neighbour margin keeps the false alarms within bounds; the backstop cannot be trained")
    _, margin_threshold, negative_k = max(margin_settings)
    k = -negative_k
    rows += ["", f"Chosen: k {k}, margin threshold {margin_threshold:.3f}."]
    return k, margin_threshold, margins_by_k[k]


def _choose_emergency_threshold(
    examples: Examples, caught: np.ndarray, p_emergency: np.ndarray, rows: list[str]
) -> float:
    """Step 4, over the red flags that the model or the margin flags out of batch."""
    wanted_emergency = examples.emergency == 1
    rows += [
        f"Emergency threshold over the {int(caught.sum())} red flags the model or the margin flags:",
        "",
        "| emergency threshold | under-triage (emergency flagged urgent) | over-triage (urgent flagged emergency) |",
        "| --- | --- | --- |",
    ]
    costs = []  # (under-triage, over-triage, threshold): the min wins, so ties go to the lower threshold
    for e in EMERGENCY_THRESHOLDS:
        as_emergency = p_emergency >= e
        under = int((caught & wanted_emergency & ~as_emergency).sum())
        over = int((caught & ~wanted_emergency & as_emergency).sum())
        rows.append(f"| {e:.1f} | {under} | {over} |")
        costs.append((under, over, e))
    emergency_threshold = min(costs)[2]
    rows.append(f"\nChosen emergency threshold: {emergency_threshold:.1f}.")
    return emergency_threshold


def fit_backstop(examples: Examples, choice: Choice, model: str) -> BackstopParameters:
    """Both models fitted on every example with the chosen settings, and the margin's settings (its bank, these
    examples' vectors, is built from their texts wherever the backstop loads: ``triage.build_bank``)."""
    red_model = _fit(examples.vectors, examples.red, choice.c)
    is_red = examples.red == 1
    emergency_model = _fit(examples.vectors[is_red], examples.emergency[is_red], choice.c)
    return BackstopParameters(
        model=model,
        examples=examples.digest,
        c=choice.c,
        red_weights=tuple(float(w) for w in red_model.coef_[0]),
        red_bias=float(red_model.intercept_[0]),
        threshold=choice.threshold,
        emergency_weights=tuple(float(w) for w in emergency_model.coef_[0]),
        emergency_bias=float(emergency_model.intercept_[0]),
        emergency_threshold=choice.emergency_threshold,
        neighbours=NeighbourSettings(k=choice.k, threshold=choice.margin_threshold),
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--write", action="store_true", help="store the fitted backstop in models/ (HEALTHQA_MODELS_DIR)"
    )
    args = parser.parse_args(argv)
    from answer import BACKSTOP_FILE, write_artifact
    from index import open_embedder
    from settings import Settings

    settings = Settings()
    embedder = open_embedder(settings.embedder_settings())
    # The catalogue the service loads (HEALTHQA_REDFLAG_CATALOGUE): its phrases are in the bank it builds.
    listed = bank_examples(load_catalogue(settings.redflag_catalogue))
    examples = training_examples(listed, embedder.embed_queries)
    choice = choose(examples)
    sys.stdout.write("\n".join(choice.table) + "\n")
    if args.write:
        path = settings.models_dir / BACKSTOP_FILE
        write_artifact(path, fit_backstop(examples, choice, embedder.fingerprint).to_json())
        sys.stdout.write(f"wrote {path}\n")


if __name__ == "__main__":
    main()
