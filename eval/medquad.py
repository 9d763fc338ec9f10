"""The MedQuAD retrieval benchmark: every distinct answer is a document, questions are queries.

Protocol (fixed): all 16,407 answers indexed, identical answer texts merged into
one document; 1,000 queries drawn with ``random.Random(0).sample`` over the line
numbers of the file; a query's relevant document is its own answer. Documents
carry no title, so the question never leaks into what is indexed.

Tuning draw (for choosing ranking settings, never the benchmark's own questions): 500
questions drawn with ``random.Random(7).sample`` over the line numbers outside the
benchmark's 1,000, over the same full index.

The quick variant, run in CI, keeps the first 200 of those queries and indexes
their answers plus a fixed random 1,800 others (``random.Random(1)``).
"""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass
from pathlib import Path

from index import Document
from ingest import clean_text

MEDQUAD_FILE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "medquad" / "medquad.jsonl.gz"
FULL_QUERIES = 1_000
QUICK_QUERIES = 200
QUICK_DOCUMENTS = 2_000
TUNING_QUERIES = 500


@dataclass(frozen=True)
class Benchmark:
    name: str
    documents: list[Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def _records(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _benchmark_lines(n_records: int) -> list[int]:
    return random.Random(0).sample(range(n_records), FULL_QUERIES)


def _tuning_lines(n_records: int, benchmark: list[int]) -> list[int]:
    taken = set(benchmark)
    return random.Random(7).sample([line for line in range(n_records) if line not in taken], TUNING_QUERIES)


def question_lines_in_use(n_records: int) -> set[int]:
    """The lines whose questions the retrieval benchmark asks or its tuning draw chooses settings on: other
    uses of MedQuAD questions (triage negatives) keep away from them."""
    benchmark = _benchmark_lines(n_records)
    return set(benchmark) | set(_tuning_lines(n_records, benchmark))


def load_benchmark(path: Path = MEDQUAD_FILE, *, quick: bool = False, tuning: bool = False) -> Benchmark:
    """Documents, queries and relevance judgements of the full or the quick benchmark.

    With ``tuning``, the queries are the 500-question tuning draw instead (same documents as the
    full benchmark, so the same index serves both).

    Raises:
        FileNotFoundError: when the MedQuAD file is absent.
    """
    if not path.is_file():
        raise FileNotFoundError(
            f"MedQuAD not found at {path} (expected ../shared/datasets/medquad/ beside the project)"
        )
    records = _records(path)
    doc_of_answer: dict[str, str] = {}
    doc_of_line: list[str] = []
    texts: dict[str, str] = {}
    for line, record in enumerate(records):
        answer = record["answer"].strip()
        doc_id = doc_of_answer.setdefault(answer, f"mq-{line:05d}")
        doc_of_line.append(doc_id)
        texts.setdefault(doc_id, answer)
    sample = _benchmark_lines(len(records))
    if tuning:
        if quick:
            raise ValueError("the tuning draw runs over the full index; it has no quick variant")
        sample = _tuning_lines(len(records), sample)
    elif quick:
        sample = sample[:QUICK_QUERIES]
    queries = {f"q{line:05d}": " ".join(records[line]["question"].split()) for line in sample}
    qrels = {f"q{line:05d}": {doc_of_line[line]: 1} for line in sample}
    kept = sorted(texts)
    if quick:
        needed = {doc_of_line[line] for line in sample}
        others = sorted(set(texts) - needed)
        kept = sorted(needed | set(random.Random(1).sample(others, QUICK_DOCUMENTS - len(needed))))
    documents = [Document(doc_id=d, title="", text=clean_text(texts[d], collapse_spaces=True)) for d in kept]
    return Benchmark(name="medquad-quick" if quick else "medquad", documents=documents, queries=queries, qrels=qrels)
