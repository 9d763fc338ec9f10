"""The triage layer as the answer pipeline sees it: the rules on the text, then the backstop on the embedding."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from triage.backstop import RedFlagBackstop, load_backstop
from triage.catalogue import RedFlag, RedFlagCatalogue, load_catalogue
from triage.detector import detect_red_flags

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Triage:
    """The catalogue's rules and the learned backstop beside them.

    ``backstop`` is None only where a caller turns it off on purpose (the rules-only evaluation, tests);
    ``load_triage`` never returns one without it.
    """

    catalogue: RedFlagCatalogue
    backstop: RedFlagBackstop | None

    def rules(self, question: str) -> tuple[RedFlag, ...]:
        """The flags the catalogue's rules raise, emergency first."""
        return tuple(detect_red_flags(question, self.catalogue))

    def learned(self, query_vector: np.ndarray, *, model: str) -> tuple[RedFlag, ...]:
        """The backstop's flag for a question no rule flagged; silent with another embedding model.

        Args:
            query_vector: The question's embedding, (d,) float32, L2-normalised.
            model: The fingerprint of the model that made it.
        """
        if self.backstop is None:
            return ()
        if model != self.backstop.model:
            _warn_backstop_silent(model, self.backstop.model)
        return self.backstop.flags(query_vector, self.catalogue, model=model)


def load_triage(*, catalogue_path: Path | None, backstop_path: Path) -> Triage:
    """Load the catalogue and the backstop; both must be there (a safety layer never goes quiet).

    Raises:
        FileNotFoundError: a file is missing.
        RedFlagCatalogueError: the catalogue is malformed.
        ValueError: the backstop file is not one this code can use.
    """
    catalogue = load_catalogue(catalogue_path)
    if not backstop_path.is_file():
        raise FileNotFoundError(
            f"the red-flag backstop {backstop_path} is missing; the service cannot triage without it"
        )
    return Triage(catalogue=catalogue, backstop=load_backstop(backstop_path))


@functools.cache
def _warn_backstop_silent(model: str, trained_on: str) -> None:
    logger.warning(
        "the red-flag backstop was trained on embedding model %s and this index uses %s (another model or the "
        "int8 backend): only the rules flag warning signs; retrain it with 'python -m eval.redflag_backstop --write'",
        trained_on[:16],
        model[:16],
    )
