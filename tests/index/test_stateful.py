"""A state machine of ingests, edits, removals, reloads, crashes and queries against the real index writer.

Hypothesis drives random sequences of: add or change an article, remove one, ingest
(sometimes crashing at a random step of the build), reload a reader, and query it.
After every step the published version must be exactly one complete version whose
documents are those of the last ingest that got past its commit point (the switch of
``CURRENT``), and a reader must keep answering from the version it loaded.

A crash is ``Crash``: a ``BaseException`` raised before the N-th file-system step of the
build (a write, sync, rename or delete, or the embedding), as a signal would. A *kill*
also blocks every later file-system step, so nothing gets cleaned up, as after SIGKILL;
otherwise the build's own error handling runs, as after an exception.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import index.build
import index.store
from index import Document, EmptyIndexError, Hit, IndexNotBuiltError, SearchIndex, current_version
from index.sparse import SparseIndex
from index.store import STAGING_PREFIX
from service.state import IndexHolder
from settings import SearchSettings
from tests.conftest import FakeEmbedder
from tests.index.generations import build, check_one_version

# Two hundred runs of up to thirty steps each: the full run has them, the quick loop does not.
pytestmark = pytest.mark.slow

DOC_IDS = ("knee", "back", "sleep", "neck", "hip")
# Memory-backed, where there is one: the same file operations, but fsync costs nothing, so many more steps fit.
FAST_DIR = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
# A build takes about 30-40 file-system steps; the second range aims at its last ones, around the commit.
CRASH_AT = st.none() | st.integers(min_value=0, max_value=45) | st.integers(min_value=28, max_value=45)
WORDS = ("rest", "ice", "stretch", "walk", "heat", "sleep", "lift", "posture")


class Crash(BaseException):
    """The process dies here (a BaseException, so no ``except Exception`` or ``except OSError`` stops it)."""


class CrashPlan:
    """Counts the build's file-system steps and crashes before step number ``at``."""

    def __init__(self, at: int | None, *, kill: bool) -> None:
        self.at, self.kill = at, kill
        self.steps = 0
        self.crashed = False
        self.committed = False  # CURRENT was switched to the new version

    def step(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if self.crashed and self.kill:
                raise Crash("dead processes do not clean up")
            if self.steps == self.at:
                self.crashed = True
                raise Crash(f"crash before step {self.steps}: {function.__name__}")
            self.steps += 1
            result = function(*args, **kwargs)
            if function.__name__ == "replace" and Path(args[1]).name == "CURRENT":
                self.committed = True
            return result

        wrapped.__name__ = function.__name__
        return wrapped


class _Proxy:
    """A module whose listed functions go through the plan; everything else is the module's own."""

    def __init__(self, module: Any, plan: CrashPlan, names: tuple[str, ...]) -> None:
        self._module = module
        for name in names:
            setattr(self, name, plan.step(getattr(module, name)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


@contextmanager
def crash_plan(at: int | None, *, kill: bool, embedder: FakeEmbedder) -> Iterator[CrashPlan]:
    plan = CrashPlan(at, kill=kill)
    patches: list[tuple[Any, str, Any]] = [
        (index.store, "os", _Proxy(os, plan, ("replace", "fsync"))),
        (index.store, "shutil", _Proxy(shutil, plan, ("rmtree",))),
        (index.store, "_write_synced", plan.step(index.store._write_synced)),
        (index.store, "sha256_file", plan.step(index.store.sha256_file)),
        (index.build, "_write_sqlite", plan.step(index.build._write_sqlite)),
        (index.build, "save_dense", plan.step(getattr(index.build, "save_dense"))),  # noqa: B009 - not re-exported
        (index.build, "np", _Proxy(np, plan, ("save",))),
        (index.build, "_check_written", plan.step(index.build._check_written)),
        (SparseIndex, "save", plan.step(SparseIndex.save)),
        (embedder, "embed_documents", plan.step(embedder.embed_documents)),
    ]
    originals = [(owner, name, owner.__dict__.get(name)) for owner, name, _ in patches]
    for owner, name, replacement in patches:
        setattr(owner, name, replacement)
    try:
        yield plan
    finally:
        for owner, name, original in originals:
            if original is None:  # was the class's: uncover it
                delattr(owner, name)
            else:
                setattr(owner, name, original)


def article(doc_id: str, revision: int, word: str) -> Document:
    text = (
        f"The {doc_id} article, revision {revision}, is about {word}. "
        f"Try {word} for the {doc_id} and see how revision {revision} helps."
    )
    return Document(doc_id, f"{doc_id.capitalize()} advice", text, f"/{doc_id}")


class IndexLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.index_dir = Path(tempfile.mkdtemp(prefix="healthqa-stateful-", dir=FAST_DIR))
        self.embedder = FakeEmbedder()
        self.sources: dict[str, Document] = {}  # the articles as the user has them now
        self.published: dict[str, str] | None = None  # texts of the last ingest past its commit point
        self.holder = IndexHolder(self.index_dir, embedder=self.embedder, search=SearchSettings())
        self.holder_texts: dict[str, str] | None = None  # what the reader loaded
        self.revision = 0

    def teardown(self) -> None:
        self.holder.current = None  # unpin
        shutil.rmtree(self.index_dir, ignore_errors=True)

    @initialize(doc_ids=st.sets(st.sampled_from(DOC_IDS), min_size=1), word=st.sampled_from(WORDS))
    def some_articles(self, doc_ids: set[str], word: str) -> None:
        for doc_id in sorted(doc_ids):
            self.write_article(doc_id, word)

    @rule(doc_id=st.sampled_from(DOC_IDS), word=st.sampled_from(WORDS))
    def write_article(self, doc_id: str, word: str) -> None:
        self.revision += 1
        self.sources[doc_id] = article(doc_id, self.revision, word)

    @precondition(lambda self: bool(self.sources))
    @rule(data=st.data())
    def remove_article(self, data: st.DataObject) -> None:
        del self.sources[data.draw(st.sampled_from(sorted(self.sources)))]

    @rule(crash_at=CRASH_AT, kill=st.booleans())
    def ingest(self, crash_at: int | None, kill: bool) -> None:
        before = current_version(self.index_dir)
        docs = list(self.sources.values())
        with crash_plan(crash_at, kill=kill, embedder=self.embedder) as plan:
            try:
                report = build(docs, self.index_dir, self.embedder, keep_versions=2)
            except Crash:
                assert plan.crashed
                event(f"{'killed' if kill else 'crashed'} {'after' if plan.committed else 'before'} the commit")
                if plan.committed:
                    self.published = {d.doc_id: d.text for d in docs}
                return
            except EmptyIndexError:
                assert not docs
                assert current_version(self.index_dir) == before
                return
        assert not plan.crashed
        event("ingest published" if report.published else "ingest up to date")
        if report.published:
            self.published = {d.doc_id: d.text for d in docs}
        else:  # "up to date": the published version already holds exactly these
            assert self.published == {d.doc_id: d.text for d in docs}

    @rule()
    def reload(self) -> None:
        if self.published is None:
            with pytest.raises(IndexNotBuiltError):
                self.holder.reload()
            return
        result = self.holder.reload()
        assert result.index_version == current_version(self.index_dir)
        self.holder_texts = self.published

    @precondition(lambda self: self.holder_texts is not None)
    @rule(word=st.sampled_from(WORDS))
    def query(self, word: str) -> None:
        index, texts = self.holder.current, self.holder_texts
        assert index is not None and texts is not None
        hits: list[Hit] = []
        # A fresh thread opens the version's files anew: they must still be there.
        thread = threading.Thread(target=lambda: hits.extend(index.search(f"{word} article", k=5)))
        thread.start()
        thread.join()
        assert hits
        assert all(hit.doc_id in texts and hit.text in texts[hit.doc_id] for hit in hits)

    @invariant()
    def exactly_the_last_successful_ingest_is_published(self) -> None:
        if self.published is None:
            with pytest.raises(IndexNotBuiltError):
                SearchIndex.load(self.index_dir, embedder=self.embedder)
            return
        loaded = SearchIndex.load(self.index_dir, embedder=self.embedder)  # verifies every file
        assert check_one_version(loaded) == self.published
        assert not loaded.path.name.startswith(STAGING_PREFIX)


IndexLifecycle.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestIndexLifecycle = IndexLifecycle.TestCase
