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
that level (message and public source). It never removes a rule's flag, and it is tied to the embedding
model it was trained on (``model`` is that model's fingerprint): with another model it stays silent.
``python -m eval.redflag_backstop`` re-runs the sweep that chose its settings on the tuning questions and,
with ``--write``, stores the fitted models in ``models/redflag_backstop.json``.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from triage.catalogue import Level, RedFlag, RedFlagCatalogue


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

    def to_dict(self) -> dict[str, object]:
        """Vectors stored as float16 (their cosines move by about 1e-3; the margin averages ``k`` of them)."""
        return {
            "k": self.k,
            "threshold": self.threshold,
            "shape": list(self.vectors.shape),
            "red": base64.b64encode(np.packbits(self.red).tobytes()).decode("ascii"),
            "vectors_float16": base64.b64encode(self.vectors.astype("<f2").tobytes()).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NeighbourMargin:
        rows, dim = (int(n) for n in data["shape"])
        red = np.unpackbits(np.frombuffer(base64.b64decode(str(data["red"])), dtype=np.uint8))[:rows].astype(bool)
        raw = np.frombuffer(base64.b64decode(str(data["vectors_float16"])), dtype="<f2")
        vectors = normalised(raw.reshape(rows, dim))
        return cls(vectors=vectors, red=red, k=int(data["k"]), threshold=float(data["threshold"]))


def normalised(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32 (a zero row stays zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0), dtype=np.float32)


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
        if not self.red_weights or len(self.red_weights) != len(self.emergency_weights):
            raise ValueError("a backstop needs two weight vectors of the embedding's dimension")
        if self.neighbours is not None and self.neighbours.dim != len(self.red_weights):
            raise ValueError("the neighbour examples and the weights must have the embedding's dimension")
        if not (0 < self.threshold < 1 and 0 < self.emergency_threshold < 1):
            raise ValueError("backstop thresholds must lie strictly between 0 and 1")

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
        """The catalogue's flag for this vector's level, when the vector comes from the model trained on."""
        if model != self.model or vector.shape[-1] != len(self.red_weights):
            return ()
        level = self.level(vector)
        flag = catalogue.similar.get(level) if level else None
        return (flag,) if flag else ()

    def to_json(self) -> str:
        data = {
            "model": self.model,
            "threshold": self.threshold,
            "emergency_threshold": self.emergency_threshold,
            "red_bias": self.red_bias,
            "emergency_bias": self.emergency_bias,
            "red_weights": [round(w, 7) for w in self.red_weights],
            "emergency_weights": [round(w, 7) for w in self.emergency_weights],
            "neighbours": self.neighbours.to_dict() if self.neighbours else None,
        }
        return json.dumps(data, indent=1) + "\n"


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def load_backstop(path: Path) -> RedFlagBackstop:
    """The trained backstop (``python -m eval.redflag_backstop --write`` writes it).

    Raises:
        ValueError: the file is not a backstop this code can use.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RedFlagBackstop(
            model=str(data["model"]),
            red_weights=tuple(float(w) for w in data["red_weights"]),
            red_bias=float(data["red_bias"]),
            threshold=float(data["threshold"]),
            emergency_weights=tuple(float(w) for w in data["emergency_weights"]),
            emergency_bias=float(data["emergency_bias"]),
            emergency_threshold=float(data["emergency_threshold"]),
            neighbours=NeighbourMargin.from_dict(data["neighbours"]) if data.get("neighbours") else None,
        )
    except (OSError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: not a usable red-flag backstop ({error})") from error
