"""Index versions whose contents say which build made them, for the fault-injection tests.

Every sentence of generation ``g`` carries the token ``gen<g>`` and one document,
``only-gen<g>``, exists in that generation alone, so any passage, answer or
document list tells which version it came from. Run as a module, it is the
writer a test kills: ``python -m tests.index.generations INDEX_DIR FIRST_GEN``
publishes generation after generation until it is killed.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

from index import BuildReport, Document, SearchIndex, build_index
from index.store import STAGING_PREFIX, read_manifest
from ingest import chunk_document
from settings import BuildSettings, ChunkerSettings
from tests.conftest import FakeEmbedder

TOPICS = ("knee", "back", "sleep", "neck", "hip", "shoulder", "ankle", "wrist", "elbow", "foot")
_GEN = re.compile(r"\bgen(\d+)\b")
_VERSION = re.compile(r"^v\d{6,}$")


def generation_docs(gen: int, *, topics: Sequence[str] = TOPICS[:5], sentences: int = 4) -> list[Document]:
    """The corpus of generation ``gen``: one article per topic plus ``only-gen<gen>``."""
    docs = [
        Document(
            topic,
            f"{topic.capitalize()} pain",
            " ".join(
                f"{topic.capitalize()} pain tip {i} from gen{gen}: rest the {topic}, then move it gently."
                for i in range(sentences)
            ),
            f"/{topic}",
        )
        for topic in topics
    ]
    docs.append(
        Document(
            f"only-gen{gen}",
            f"Generation {gen}",
            f"This note exists in gen{gen} only. It says the {topics[gen % len(topics)]} heals with gen{gen} care.",
            f"/only-gen{gen}",
        )
    )
    return docs


def build(docs: Sequence[Document], index_dir: Path, embedder: FakeEmbedder, **settings: object) -> BuildReport:
    """``build_index`` as ``healthqa ingest`` calls it, with small chunks so every document has several."""
    chunker = ChunkerSettings(chunk_tokens=24)
    return build_index(
        docs,
        index_dir=index_dir,
        embedder=embedder,
        prepare=lambda d: chunk_document(d, count_tokens=embedder.count_tokens, settings=chunker),
        chunker_config={"chunk_tokens": 24},
        settings=BuildSettings(**settings),  # type: ignore[arg-type]
        progress=False,
    )


def generations_in(text: str) -> set[int]:
    return {int(g) for g in _GEN.findall(text)}


def check_complete(index: SearchIndex) -> dict[str, str]:
    """Assert ``index`` is exactly one complete version of one generation; return its texts by id."""
    texts = check_one_version(index)
    gens = set().union(*(generations_in(text) for text in texts.values()))
    assert len(gens) == 1, f"{index.path.name} mixes generations {sorted(gens)}"
    assert f"only-gen{gens.pop()}" in texts
    return texts


def check_one_version(index: SearchIndex) -> dict[str, str]:
    """Assert ``index`` is exactly one complete version; return its documents' texts by id.

    Complete means: a published version's folder (never a staging one), and manifest
    counts equal to the FAISS vectors, the sqlite rows and the sentence vectors.
    """
    path = index.path
    assert _VERSION.match(path.name) and not path.name.startswith(STAGING_PREFIX), path
    assert path.parent.name == "versions", path
    counts = read_manifest(path).counts
    assert faiss.read_index(str(path / "dense.faiss")).ntotal == counts["chunks"]
    assert np.load(path / "sentences.npy", mmap_mode="r").shape[0] == counts["sentences"]
    with contextlib.closing(sqlite3.connect(f"file:{path / 'meta.sqlite'}?mode=ro", uri=True)) as db:
        rows = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("documents", "chunks", "sentences")}
    assert rows == counts, (rows, counts)
    texts = {doc.doc_id: doc.text for doc in index.documents()}
    assert len(texts) == counts["documents"]
    return texts


def generation_of(index: SearchIndex) -> int:
    only = [doc.doc_id for doc in index.documents() if doc.doc_id.startswith("only-gen")]
    assert len(only) == 1, only
    return int(only[0].removeprefix("only-gen"))


def _publish_forever(index_dir: Path, first_gen: int) -> None:
    embedder = FakeEmbedder()
    # Twenty topics of twelve sentences keep each build busy long enough that kills land in every phase.
    topics = tuple(f"{t}{n}" for n in range(2) for t in TOPICS)
    print("ready", flush=True)  # noqa: T201 - the killing test waits for this line
    gen = first_gen
    while True:
        report = build(generation_docs(gen, topics=topics, sentences=12), index_dir, embedder)
        print(f"published {report.version} gen{gen}", flush=True)  # noqa: T201
        gen += 1


if __name__ == "__main__":
    _publish_forever(Path(sys.argv[1]), int(sys.argv[2]))
