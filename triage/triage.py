"""The triage layer as the answer pipeline sees it: the rules on the text, then the backstop on the embedding."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index import Embedder
from settings import QUESTIONS_FILE
from triage.backstop import BackstopMismatchError, RedFlagBackstop, load_backstop
from triage.bank import bank_examples, build_bank, examples_digest
from triage.catalogue import RedFlag, RedFlagCatalogue, load_catalogue
from triage.detector import detect_red_flags


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
        """The backstop's flag for a question no rule flagged.

        Args:
            query_vector: The question's embedding, (d,) float32, L2-normalised.
            model: The fingerprint of the model that made it.

        Raises:
            BackstopMismatchError: ``model`` is not the one the backstop was trained on (``load_triage`` refuses
                such a backstop, so only a hand-built ``Triage`` meets this).
        """
        if self.backstop is None:
            return ()
        return self.backstop.flags(query_vector, self.catalogue, model=model)


def load_triage(
    *,
    catalogue_path: Path | None,
    backstop_path: Path,
    embedder: Embedder,
    cache_dir: Path | None,
    questions_file: Path = QUESTIONS_FILE,
) -> Triage:
    """Load the catalogue and the backstop, and build (or load from the cache) the backstop's example bank.

    Both must be there and fit together (a safety layer never goes quiet): the backstop must have been trained
    with ``embedder``'s model, on the examples the questions file and the catalogue give today.

    Args:
        catalogue_path: The red-flag catalogue (None: the shipped one).
        backstop_path: The backstop's parameters (``models/redflag_backstop.json``).
        embedder: The model questions are embedded with; it builds the bank on a cache miss.
        cache_dir: Where built banks are kept (``HEALTHQA_MODEL_CACHE_DIR``); None: keep nothing.
        questions_file: The labelled questions whose tuning split is part of the bank.

    Raises:
        FileNotFoundError: a file is missing.
        RedFlagCatalogueError: the catalogue is malformed.
        BackstopMismatchError: the backstop was trained with another model or on other examples.
        ValueError: the backstop file, or a line of the questions file, is not one this code can use.
    """
    catalogue = load_catalogue(catalogue_path)
    if not backstop_path.is_file():
        raise FileNotFoundError(
            f"the red-flag backstop {backstop_path} is missing; the service cannot triage without it"
        )
    parameters = load_backstop(backstop_path)
    examples = bank_examples(catalogue, questions_file=questions_file)
    try:
        # Both checked before any embedding: a bank nobody can use is not built.
        parameters.check_model(embedder.fingerprint)
        parameters.check_examples(examples_digest(examples))
    except BackstopMismatchError as exc:
        raise BackstopMismatchError(f"{backstop_path}: {exc}") from exc
    bank = build_bank(examples, embedder, cache_dir=cache_dir)
    return Triage(catalogue=catalogue, backstop=parameters.with_bank(bank))
