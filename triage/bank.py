"""The learned backstop's example bank: the examples, listed from texts in git, and their vectors (built, cached).

The backstop's neighbour margin (``triage/backstop.py``) compares a question with the examples it was trained
on: the tuning questions of ``eval/data/questions.jsonl`` and the catalogue's test and negative phrases. Their
vectors are not committed: they are built here with the configured embedder, at ``healthqa ingest``, at image
build or when the service starts, and cached under the model cache folder, keyed by the model's fingerprint
and the examples' digest. The parameter file names that digest, so a question file or catalogue changed
since training is refused by name rather than silently used.

### Usage example
    >>> examples = bank_examples(load_catalogue())
    >>> bank = build_bank(examples, embedder, cache_dir=Path("var/models"))
    >>> bank.vectors.shape
    (1787, 384)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from index import Embedder
from settings import QUESTIONS_FILE
from triage.catalogue import RedFlagCatalogue

logger = logging.getLogger(__name__)

PHRASE = "phrase"  # the kind of a catalogue phrase (a question's kind is its label)


@dataclass(frozen=True)
class BankExample:
    """One training example of the backstop.

    Attributes:
        text: The question or phrase, as written.
        red: A warning sign (a ``red_flag`` question, or a rule's test phrase).
        emergency: A warning sign at emergency level.
        kind: The question's kind (``red_flag``, ``benign``, ``answerable``, ``out_of_scope``), or ``phrase``.
        question_id: The question's id (its batch), or None for a catalogue phrase.
    """

    text: str
    red: bool
    emergency: bool
    kind: str
    question_id: str | None


@dataclass(frozen=True)
class ExamplesDigest:
    """Which examples a backstop was trained on: how many, and a SHA-256 over all their fields, in order."""

    count: int
    sha256: str

    def __str__(self) -> str:
        return f"{self.count} examples (sha256 {self.sha256[:12]})"


def bank_examples(catalogue: RedFlagCatalogue, *, questions_file: Path = QUESTIONS_FILE) -> tuple[BankExample, ...]:
    """The backstop's training examples, in training order: tuning questions, then each rule's test and negative
    phrases.

    The service reads the labelled questions file because the bank is built from the texts in git rather than
    committed as vectors: its tuning questions are most of the warning-sign and look-alike examples the margin
    compares with. Held-out questions are skipped; they never reach the backstop.

    Raises:
        OSError: the questions file cannot be read.
        ValueError: a line is not a JSON object with the fields read here, naming the file and line.
    """
    examples = [
        BankExample(
            text=question["question"],
            red=question["kind"] == "red_flag",
            emergency=question["red_flag_level"] == "emergency",
            kind=question["kind"],
            question_id=question["id"],
        )
        for question in _tuning_questions(questions_file)
    ]
    for rule in catalogue.rules:
        examples += [BankExample(p, True, rule.level == "emergency", PHRASE, None) for p in rule.test_phrases]
        examples += [BankExample(p, False, False, PHRASE, None) for p in rule.negative_phrases]
    return tuple(examples)


def _tuning_questions(path: Path) -> list[dict[str, str]]:
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if record["split"] != "tune":
                continue
            questions.append({name: record[name] for name in ("id", "question", "kind", "red_flag_level")})
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path} line {number}: not a labelled question ({exc!r})") from exc
    return questions


def examples_digest(examples: Sequence[BankExample]) -> ExamplesDigest:
    """The count and a SHA-256 over every field of every example, in order (JSON, so no two lists collide)."""
    payload = json.dumps([asdict(example) for example in examples], ensure_ascii=False, separators=(",", ":"))
    return ExamplesDigest(count=len(examples), sha256=hashlib.sha256(payload.encode("utf-8")).hexdigest())


@dataclass(frozen=True, eq=False)
class ExampleBank:
    """The examples embedded by one model.

    Attributes:
        model: Fingerprint of the embedding model that made the vectors.
        examples: The digest of the examples they are the vectors of.
        vectors: (n, dim) float32, L2-normalised, after a round trip through float16 (``bank_vectors``).
        red: (n,) bool, which examples are warning signs.
    """

    model: str
    examples: ExamplesDigest
    vectors: np.ndarray
    red: np.ndarray


def bank_vectors(embedded: np.ndarray) -> np.ndarray:
    """The bank's form of embedded examples: normalised, rounded to float16, normalised again, as float32.

    The float16 step is the precision the margin's threshold was chosen and shipped with (cosines move by about
    1e-3; the margin averages ``k`` of them): keeping it keeps every triage figure as measured.
    """
    return normalised(_as_float16(embedded))


def _as_float16(embedded: np.ndarray) -> np.ndarray:
    return normalised(embedded).astype("<f2")


def normalised(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32 (a zero row stays zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0), dtype=np.float32)


def build_bank(examples: Sequence[BankExample], embedder: Embedder, *, cache_dir: Path | None) -> ExampleBank:
    """The examples' bank from the cache, or embedded (``embed_queries``, as training does) and cached.

    Args:
        examples: From ``bank_examples``.
        embedder: The model the service embeds questions with.
        cache_dir: Where built banks are kept (``HEALTHQA_MODEL_CACHE_DIR``); None: build, keep nothing.
            A cache that cannot be written (a read-only image) costs a rebuild at the next start, with a warning.
    """
    digest = examples_digest(examples)
    red = np.array([example.red for example in examples], dtype=bool)
    path = cache_dir / bank_file_name(embedder.fingerprint, digest) if cache_dir is not None else None
    stored = _read_cached(path, embedder.fingerprint, digest) if path is not None else None
    if stored is None:
        started = time.perf_counter()
        stored = _as_float16(embedder.embed_queries([example.text for example in examples]))
        logger.info("built the red-flag backstop's bank of %s in %.1f s", digest, time.perf_counter() - started)
        if path is not None:
            _write_cached(path, stored, embedder.fingerprint, digest)
    return ExampleBank(model=embedder.fingerprint, examples=digest, vectors=normalised(stored), red=red)


def bank_file_name(model: str, digest: ExamplesDigest) -> str:
    """``redflag-bank-<model>-<examples>.npz``: the model fingerprint's first 16 characters and any variant after
    it (``+int8``), and the examples digest's first 16."""
    model_part = re.sub(r"[^A-Za-z0-9+_-]", "_", model[:16] + model[64:])
    return f"redflag-bank-{model_part}-{digest.sha256[:16]}.npz"


def _read_cached(path: Path, model: str, digest: ExamplesDigest) -> np.ndarray | None:
    """The cached float16 vectors, or None when absent or not those of this model and these examples."""
    if not path.is_file():
        return None
    try:
        # Opened here so that the file is closed even when numpy cannot read it.
        with path.open("rb") as file, np.load(file, allow_pickle=False) as data:
            vectors = np.asarray(data["vectors"])
            same = str(data["model"]) == model and str(data["examples_sha256"]) == digest.sha256
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        logger.warning("rebuilding the red-flag backstop's bank: %s is unreadable (%s)", path, exc)
        return None
    if not same or vectors.dtype != np.dtype("<f2") or vectors.ndim != 2 or len(vectors) != digest.count:
        logger.warning("rebuilding the red-flag backstop's bank: %s holds other vectors", path)
        return None
    return vectors


def _write_cached(path: Path, vectors: np.ndarray, model: str, digest: ExamplesDigest) -> None:
    """Write the bank whole or not at all: a temporary file beside it, synced, then renamed into place."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".redflag-bank-", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                np.savez(file, vectors=vectors, model=np.array(model), examples_sha256=np.array(digest.sha256))
                file.flush()
                os.fsync(file.fileno())
            # mkstemp makes the file private; the bank is public data, and an image's serving user is not the
            # user that built it.
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
        finally:
            Path(temporary).unlink(missing_ok=True)
    except OSError as exc:
        logger.warning("the red-flag backstop's bank is not cached (it is rebuilt at each start): %s", exc)
