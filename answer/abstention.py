"""When to abstain: a small logistic model over how well the retrieved text matches the question.

The features are what the answer pipeline computes anyway (no extra model call):

- ``passage``: cosine similarity of the best retrieved passage (chunk) to the question;
- ``sentence``: cosine similarity of the best sentence of the retrieved passages;
- ``agree``: 1 when the best sentence lies in the best-ranked article, else 0;
- ``red_flag``: 1 when the question raises a warning sign of the red-flag catalogue, else 0. The
  catalogue's signs are the articles' own topic (each rule cites the article that covers it), so a
  question that raises one is in scope even when told as a long story that matches no passage well.

``passage`` and ``red_flag`` do not depend on how sentence vectors are made (standalone or pooled from
the chunk's pass); ``sentence`` and ``agree`` do.

``confidence = sigmoid(bias + sum(weight * feature))``, in [0, 1]; the service abstains below
``threshold``. Which features, their weights, the bias and the threshold are chosen on the tuning
questions only by ``healthqa calibrate`` (``eval/calibrate.py``), which prints the table it chose from
and, with ``--write``, stores them in ``models/abstention.json``: the one place the default lives.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from answer.candidates import Candidate
from index import Hit
from triage import RedFlag

FEATURES = ("passage", "sentence", "agree", "red_flag")


@dataclass(frozen=True)
class AbstentionModel:
    """A fitted logistic model and the threshold below which the service abstains.

    Attributes:
        features: Names from ``FEATURES``, in the order of ``weights``.
        weights: One weight per feature (raw feature scale, not standardised).
        bias: The intercept.
        threshold: Abstain when the confidence is below this.
    """

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float

    def __post_init__(self) -> None:
        unknown = [name for name in self.features if name not in FEATURES]
        if unknown or len(self.features) != len(self.weights) or not self.features:
            raise ValueError(
                f"an abstention model needs one weight per known feature ({', '.join(FEATURES)}), "
                f"got features {list(self.features)} and weights {list(self.weights)}"
            )

    def confidence(self, features: Mapping[str, float]) -> float:
        """How likely the articles cover the question, in [0, 1]."""
        z = self.bias + sum(w * features[name] for name, w in zip(self.features, self.weights, strict=True))
        return 1.0 / (1.0 + math.exp(-z))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


def load_abstention_model(path: Path) -> AbstentionModel:
    """The calibrated model (``healthqa calibrate --write`` writes it).

    Raises:
        ValueError: the file is not a model this code can use.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return AbstentionModel(
            features=tuple(data["features"]),
            weights=tuple(float(w) for w in data["weights"]),
            bias=float(data["bias"]),
            threshold=float(data["threshold"]),
        )
    except (OSError, KeyError, TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a usable abstention model ({error})") from error


def abstention_features(candidates: list[Candidate], hits: list[Hit], red_flags: Sequence[RedFlag]) -> dict[str, float]:
    """The features above from one retrieval."""
    best = max(candidates, key=lambda c: c.similarity, default=None)
    passage = max((h.dense_score for h in hits if h.dense_score is not None), default=0.0)
    return {
        "passage": float(passage),
        "sentence": best.similarity if best else 0.0,
        "agree": float(best is not None and best.sentence.doc_id == hits[0].doc_id),
        "red_flag": float(bool(red_flags)),
    }
