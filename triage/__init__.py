"""Red-flag triage: the rules of the catalogue, and the learned backstop that reads the question's embedding.

Other packages use only the names listed here.

### Usage example
    >>> triage = load_triage(catalogue_path=DEFAULT_CATALOGUE_PATH, backstop_path=Path("models/redflag_backstop.json"))
    >>> [flag.rule for flag in triage.rules("cant feel my bum when i wipe")]
    ['cauda-equina-saddle-numbness']
"""

from triage.backstop import NeighbourMargin, RedFlagBackstop, load_backstop, normalised
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
    "Level",
    "NeighbourMargin",
    "RedFlag",
    "RedFlagBackstop",
    "RedFlagCatalogue",
    "RedFlagCatalogueError",
    "RedFlagRule",
    "Triage",
    "detect_red_flags",
    "find_scopes",
    "load_backstop",
    "load_catalogue",
    "load_triage",
    "normalise",
    "normalised",
]
