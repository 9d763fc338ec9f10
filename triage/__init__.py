"""Red-flag triage: the rules of the catalogue, and the learned backstop that reads the question's embedding.

Other packages use only the names listed here.

### Usage example
    >>> triage = load_triage(
    ...     catalogue_path=None, backstop_path=Path("models/redflag_backstop.json"), embedder=embedder,
    ...     cache_dir=Path("var/models"),
    ... )
    >>> [flag.rule for flag in triage.rules("cant feel my bum when i wipe")]
    ['cauda-equina-saddle-numbness']
"""

from triage.backstop import (
    BackstopMismatchError,
    BackstopParameters,
    NeighbourMargin,
    NeighbourSettings,
    RedFlagBackstop,
    load_backstop,
)
from triage.bank import (
    BankExample,
    ExampleBank,
    ExamplesDigest,
    bank_examples,
    bank_vectors,
    build_bank,
    examples_digest,
    normalised,
)
from triage.catalogue import (
    DEFAULT_CATALOGUE_PATH,
    LEVELS,
    Level,
    RedFlag,
    RedFlagCatalogue,
    RedFlagCatalogueError,
    RedFlagRule,
    load_catalogue,
)
from triage.detector import detect_red_flags
from triage.normalise import normalise
from triage.scopes import find_scopes
from triage.triage import Triage, load_triage

__all__ = [
    "DEFAULT_CATALOGUE_PATH",
    "LEVELS",
    "BackstopMismatchError",
    "BackstopParameters",
    "BankExample",
    "ExampleBank",
    "ExamplesDigest",
    "Level",
    "NeighbourMargin",
    "NeighbourSettings",
    "RedFlag",
    "RedFlagBackstop",
    "RedFlagCatalogue",
    "RedFlagCatalogueError",
    "RedFlagRule",
    "Triage",
    "bank_examples",
    "bank_vectors",
    "build_bank",
    "detect_red_flags",
    "examples_digest",
    "find_scopes",
    "load_backstop",
    "load_catalogue",
    "load_triage",
    "normalise",
    "normalised",
]
