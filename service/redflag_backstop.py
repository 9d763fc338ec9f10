"""A learned backstop beside the red-flag rules: it reads the question's embedding when no rule fired.

The rules (``service/redflags.py``) match words, and words written by people nobody here has read slip
past them: a bath that feels hot on the legs but not "where she sits", knees that "folded under him like a
newborn foal". The embedding the retrieval computes anyway places such a question near the warning-sign
questions and phrases it was trained on. Two logistic models read it:

- ``red``: is this a warning sign at all (trained on the tuning questions, red flags against benign
  look-alikes, answerable and out-of-scope questions, and on the catalogue's test and negative phrases);
- ``emergency``: among warning signs, emergency rather than urgent (escalate when unsure: the threshold
  sits below one half).

The backstop speaks only through the catalogue: a flag it raises is the catalogue's ``similar`` entry for
that level (message and public source). It never removes a rule's flag, and it is tied to the embedding
model it was trained on (``model`` is that model's fingerprint): with another model it stays silent.
``python -m eval.redflag_backstop`` re-runs the sweep that chose its settings on the tuning questions and,
with ``--write``, stores the fitted models here (``service/redflag_backstop.json``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from service.redflags import Level, RedFlag, RedFlagCatalogue

BACKSTOP_FILE = Path(__file__).resolve().parent / "redflag_backstop.json"


@dataclass(frozen=True)
class RedFlagBackstop:
    """Two fitted logistic models over a question vector, and when they raise a flag.

    Attributes:
        model: Fingerprint of the embedding model whose vectors the weights read.
        red_weights, red_bias: P(warning sign) = sigmoid(w . v + b).
        threshold: A flag is raised at or above this probability.
        emergency_weights, emergency_bias: P(emergency | warning sign).
        emergency_threshold: At or above this, the flag is an emergency one; below, urgent.
    """

    model: str
    red_weights: tuple[float, ...]
    red_bias: float
    threshold: float
    emergency_weights: tuple[float, ...]
    emergency_bias: float
    emergency_threshold: float

    def __post_init__(self) -> None:
        if not self.red_weights or len(self.red_weights) != len(self.emergency_weights):
            raise ValueError("a backstop needs two weight vectors of the embedding's dimension")
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
        """The level of the flag this vector raises, or None."""
        red, emergency = self.probabilities(vector)
        if red < self.threshold:
            return None
        return "emergency" if emergency >= self.emergency_threshold else "urgent"

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
        }
        return json.dumps(data, indent=1) + "\n"


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def load_backstop(path: Path = BACKSTOP_FILE) -> RedFlagBackstop:
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
        )
    except (OSError, KeyError, TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a usable red-flag backstop ({error})") from error
