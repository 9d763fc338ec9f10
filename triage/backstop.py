"""A learned backstop beside the red-flag rules: it reads the question's embedding when no rule fired.

The rules (``triage/detector.py``) match words, and words written by people nobody here has read slip
past them: a bath that feels hot on the legs but not "where she sits", knees that "folded under him like a
newborn foal". The embedding the retrieval computes anyway places such a question near the warning-sign
questions and phrases it was trained on. Two logistic models read it:

- ``red``: is this a warning sign at all (trained on the tuning questions, red flags against benign
  look-alikes, answerable and out-of-scope questions, and on the catalogue's test and negative phrases);
- ``emergency``: among warning signs, emergency rather than urgent (escalate when unsure: the threshold
  sits below one half).

Beside the ``red`` model, a nearest-neighbour margin reads the same vector: how much closer the question sits
to its nearest warning-sign examples than to its nearest other examples. The two see different things (a
linear direction against local neighbourhoods) and each, at its own threshold, raised no false alarm out of
batch; the backstop fires when either does.

The backstop speaks only through the catalogue: a flag it raises is the catalogue's ``similar`` entry for
that level (message and public source). It never removes a rule's flag.

``models/redflag_backstop.json`` holds only parameters (``BackstopParameters``): the two models, the margin's
``k`` and threshold, the fingerprint of the embedding model they read, and the digest of the examples they
were trained on. The examples' vectors are built from the texts in git (``triage/bank.py``). With another
embedding model, or other examples than the digest names, the backstop refuses to load
(``BackstopMismatchError``) and the service is not ready: it never answers without it.
``python -m eval.redflag_backstop`` re-runs the sweep that chose its settings on the tuning questions and,
with ``--write``, stores the fitted parameters in ``models/redflag_backstop.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from triage.bank import ExampleBank, ExamplesDigest
from triage.catalogue import Level, RedFlag, RedFlagCatalogue

RETRAIN = "retrain it with 'python -m eval.redflag_backstop --write'"


class BackstopMismatchError(ValueError):
    """The backstop's parameters were trained with another embedding model or on other examples: retrain it."""


@dataclass(frozen=True, eq=False)
class NeighbourMargin:
    """Mean cosine of the ``k`` nearest warning-sign examples minus that of the ``k`` nearest other examples.

    Attributes:
        vectors: (n, dim) float32, the training examples' L2-normalised vectors.
        red: (n,) bool, which examples are warning signs.
        k: Neighbours averaged on each side.
        threshold: The margin at or above which the backstop fires.
    """

    vectors: np.ndarray
    red: np.ndarray
    k: int
    threshold: float

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or self.red.shape != (len(self.vectors),):
            raise ValueError("neighbour examples need one red label per vector")
        if not 0 < self.k <= min(int(self.red.sum()), int((~self.red).sum())):
            raise ValueError(f"k = {self.k} needs at least k warning-sign and k other examples")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NeighbourMargin):
            return NotImplemented
        return (self.k, self.threshold) == (other.k, other.threshold) and (
            np.array_equal(self.red, other.red) and np.array_equal(self.vectors, other.vectors)
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def margin(self, vector: np.ndarray) -> float:
        norm = float(np.linalg.norm(vector))
        similarities = self.vectors @ (vector / norm if norm else vector)
        return _mean_of_top(similarities[self.red], self.k) - _mean_of_top(similarities[~self.red], self.k)


def _mean_of_top(values: np.ndarray, k: int) -> float:
    return float(np.partition(values, len(values) - k)[-k:].mean())


@dataclass(frozen=True)
class RedFlagBackstop:
    """Two fitted logistic models over a question vector, and when they raise a flag.

    Attributes:
        model: Fingerprint of the embedding model whose vectors the weights read.
        red_weights, red_bias: P(warning sign) = sigmoid(w . v + b).
        threshold: A flag is raised at or above this probability.
        emergency_weights, emergency_bias: P(emergency | warning sign).
        emergency_threshold: At or above this, the flag is an emergency one; below, urgent.
        neighbours: The nearest-neighbour margin that can also raise a flag (None: the ``red`` model alone).
    """

    model: str
    red_weights: tuple[float, ...]
    red_bias: float
    threshold: float
    emergency_weights: tuple[float, ...]
    emergency_bias: float
    emergency_threshold: float
    neighbours: NeighbourMargin | None = None

    def __post_init__(self) -> None:
        _check_models(self.red_weights, self.emergency_weights, self.threshold, self.emergency_threshold)
        if self.neighbours is not None and self.neighbours.dim != len(self.red_weights):
            raise ValueError("the neighbour examples and the weights must have the embedding's dimension")

    @cached_property
    def _weights(self) -> tuple[np.ndarray, np.ndarray]:
        """The two weight vectors as arrays for the dot products (the tuples stay the serialised form)."""
        return np.asarray(self.red_weights, dtype=np.float32), np.asarray(self.emergency_weights, dtype=np.float32)

    def probabilities(self, vector: np.ndarray) -> tuple[float, float]:
        """P(warning sign) and P(emergency | warning sign) for one question vector."""
        red_weights, emergency_weights = self._weights
        red = _sigmoid(float(np.dot(red_weights, vector)) + self.red_bias)
        emergency = _sigmoid(float(np.dot(emergency_weights, vector)) + self.emergency_bias)
        return red, emergency

    def level(self, vector: np.ndarray) -> Level | None:
        """The level of the flag this vector raises, or None: the ``red`` model or the neighbour margin must be at or
        over its threshold."""
        red, emergency = self.probabilities(vector)
        if red < self.threshold and not self._over_margin(vector):
            return None
        return "emergency" if emergency >= self.emergency_threshold else "urgent"

    def _over_margin(self, vector: np.ndarray) -> bool:
        return self.neighbours is not None and self.neighbours.margin(vector) >= self.neighbours.threshold

    def flags(self, vector: np.ndarray, catalogue: RedFlagCatalogue, *, model: str) -> tuple[RedFlag, ...]:
        """The catalogue's flag for this vector's level.

        Raises:
            BackstopMismatchError: the vector comes from another model than the one trained on (the backstop
                never goes quiet: with another model it must be retrained, not skipped).
        """
        if model != self.model or vector.shape[-1] != len(self.red_weights):
            raise BackstopMismatchError(_model_mismatch(trained_on=self.model, embedder=model))
        level = self.level(vector)
        flag = catalogue.similar.get(level) if level else None
        return (flag,) if flag else ()


def _check_models(
    red_weights: tuple[float, ...], emergency_weights: tuple[float, ...], threshold: float, emergency_threshold: float
) -> None:
    if not red_weights or len(red_weights) != len(emergency_weights):
        raise ValueError("a backstop needs two weight vectors of the embedding's dimension")
    if not (0 < threshold < 1 and 0 < emergency_threshold < 1):
        raise ValueError("backstop thresholds must lie strictly between 0 and 1")


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def _model_mismatch(*, trained_on: str, embedder: str) -> str:
    """Why a backstop cannot read this model's vectors, and what to do."""
    return (
        f"the red-flag backstop was trained on the vectors of embedding model {_short(trained_on)} and this "
        f"process embeds with {_short(embedder)} (another model, or the onnx-int8 backend); {RETRAIN} under the "
        "same HEALTHQA_MODEL and HEALTHQA_EMBED_BACKEND (HEALTHQA_MODELS_DIR for a folder of its own)"
    )


def _short(fingerprint: str) -> str:
    """A fingerprint's first 12 characters, and any variant after the SHA-256 (``+int8``)."""
    return fingerprint[:12] + fingerprint[64:]


@dataclass(frozen=True)
class NeighbourSettings:
    """The neighbour margin's settings: ``k`` neighbours on each side, and the margin at which it fires."""

    k: int
    threshold: float


@dataclass(frozen=True)
class BackstopParameters:
    """What ``models/redflag_backstop.json`` holds: the backstop without its example vectors (a few kilobytes).

    Attributes:
        model: Fingerprint of the embedding model the weights read (and the bank must be built with).
        examples: The digest of the examples both models and the bank were trained on (``triage.bank``).
        c: The inverse regularisation strength both logistic models were fitted with (the sweep's choice, kept so
            that a fresh fit can be checked against the file).
        neighbours: The margin's settings (None: the ``red`` model alone).
        The rest: as ``RedFlagBackstop``.
    """

    model: str
    examples: ExamplesDigest
    c: float
    red_weights: tuple[float, ...]
    red_bias: float
    threshold: float
    emergency_weights: tuple[float, ...]
    emergency_bias: float
    emergency_threshold: float
    neighbours: NeighbourSettings | None = None

    def __post_init__(self) -> None:
        _check_models(self.red_weights, self.emergency_weights, self.threshold, self.emergency_threshold)
        if self.examples.count < 1:
            raise ValueError(f"a backstop is trained on examples, got a count of {self.examples.count}")

    def check_model(self, model: str) -> None:
        """Raises ``BackstopMismatchError`` unless ``model`` is the fingerprint trained on."""
        if model != self.model:
            raise BackstopMismatchError(_model_mismatch(trained_on=self.model, embedder=model))

    def check_examples(self, examples: ExamplesDigest) -> None:
        """Raises ``BackstopMismatchError`` unless ``examples`` are the ones trained on."""
        if examples != self.examples:
            raise BackstopMismatchError(
                f"the red-flag backstop was trained on {self.examples} and the tuning questions and catalogue "
                f"phrases now give {examples}: the questions file or the catalogue changed since; {RETRAIN}"
            )

    def with_bank(self, bank: ExampleBank) -> RedFlagBackstop:
        """The backstop, its margin reading ``bank``.

        Raises:
            BackstopMismatchError: the bank was built by another model or from other examples.
        """
        self.check_model(bank.model)
        self.check_examples(bank.examples)
        margin = (
            NeighbourMargin(bank.vectors, bank.red, k=self.neighbours.k, threshold=self.neighbours.threshold)
            if self.neighbours is not None
            else None
        )
        return RedFlagBackstop(
            model=self.model,
            red_weights=self.red_weights,
            red_bias=self.red_bias,
            threshold=self.threshold,
            emergency_weights=self.emergency_weights,
            emergency_bias=self.emergency_bias,
            emergency_threshold=self.emergency_threshold,
            neighbours=margin,
        )

    def to_json(self) -> str:
        data = {
            "model": self.model,
            "examples": {"count": self.examples.count, "sha256": self.examples.sha256},
            "c": self.c,
            "threshold": self.threshold,
            "emergency_threshold": self.emergency_threshold,
            "red_bias": self.red_bias,
            "emergency_bias": self.emergency_bias,
            "neighbours": asdict(self.neighbours) if self.neighbours else None,
            "red_weights": [round(w, 7) for w in self.red_weights],
            "emergency_weights": [round(w, 7) for w in self.emergency_weights],
        }
        return json.dumps(data, indent=1) + "\n"


def load_backstop(path: Path) -> BackstopParameters:
    """The trained backstop's parameters (``python -m eval.redflag_backstop --write`` writes them).

    Raises:
        ValueError: the file is not a backstop this code can use (e.g. one from before the bank was built).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        neighbours = data["neighbours"]
        return BackstopParameters(
            model=str(data["model"]),
            examples=ExamplesDigest(count=int(data["examples"]["count"]), sha256=str(data["examples"]["sha256"])),
            c=float(data["c"]),
            red_weights=tuple(float(w) for w in data["red_weights"]),
            red_bias=float(data["red_bias"]),
            threshold=float(data["threshold"]),
            emergency_weights=tuple(float(w) for w in data["emergency_weights"]),
            emergency_bias=float(data["emergency_bias"]),
            emergency_threshold=float(data["emergency_threshold"]),
            neighbours=NeighbourSettings(int(neighbours["k"]), float(neighbours["threshold"])) if neighbours else None,
        )
    except KeyError as error:
        raise ValueError(f"{path}: not a usable red-flag backstop (no field {error}); {RETRAIN}") from error
    except (OSError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: not a usable red-flag backstop ({error})") from error
