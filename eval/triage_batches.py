"""Strict red-flag triage per batch of labelled questions, per split: the detector alone, for reporting.

``python -m eval.triage_batches`` prints one row per batch of ``eval/data/questions.jsonl`` (the batches
``eval/data/README.md`` describes, each written before the detector saw it) and split, counted as the corpus
suite counts them (``eval/answers.py``): recall at level (an emergency needs an emergency flag), emergencies
flagged only as urgent, and questions of the other kinds with any flag. ``healthqa eval`` gives the same
per-split totals through the whole answer path; this table splits them by batch, so the rows of a batch
measured before its tuning misses were read are the honest estimate of wording nobody tuned on.

By default a question no rule flags goes on to the learned backstop (``service/redflag_backstop.py``), as in
``/v1/ask``; ``--rules-only`` leaves it out. ``--detector-at REV`` runs the rules of an earlier commit
(``service/redflags.py`` and ``service/redflags.yaml`` as git has them at REV) on today's questions, without the
backstop: the "before" rows of the README.

It reads held-out questions to report them; nothing here chooses a setting.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from eval.answers import LEVEL_ORDER
from eval.questions import BATCHES, QUESTIONS_FILE, LabelledQuestion, batch_of, load_questions

REPO = Path(__file__).resolve().parents[1]
Detector = Callable[[str], Sequence[str]]  # a question -> the levels of the flags it raises


def batch_rows(questions: Sequence[LabelledQuestion], detect: Detector) -> list[str]:
    """The markdown table: one row per batch and split, then the totals per split."""
    rows = [
        "| batch | split | emergency at level | urgent at level | emergencies only urgent | false alarms: benign"
        " / answerable / out of scope |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    groups: list[tuple[str, int | None]] = [(name, index) for index, (name, _, _) in enumerate(BATCHES)]
    for name, index in [*groups, ("all", None)]:  # None: every question
        for split in ("tune", "heldout"):
            chosen = [q for q in questions if q.split == split and (index is None or batch_of(q.id) == index)]
            if chosen:
                rows.append(f"| {name} | {split} | " + " | ".join(_counts(chosen, detect)) + " |")
    return rows


def _counts(questions: Sequence[LabelledQuestion], detect: Detector) -> list[str]:
    hit, total = Counter[str](), Counter[str]()
    for q in questions:
        levels = detect(q.question)
        highest = max((LEVEL_ORDER[level] for level in levels), default=0)
        if q.kind == "red_flag" and q.red_flag_level:
            wanted = LEVEL_ORDER[q.red_flag_level]
            total[q.red_flag_level] += 1
            hit[q.red_flag_level] += highest >= wanted
            hit[f"under_{q.red_flag_level}"] += 0 < highest < wanted
        else:
            total[q.kind] += 1
            hit[q.kind] += bool(levels)

    def rate(key: str, of: str | None = None) -> str:
        n = total[of or key]
        return f"{hit[key] / n:.3f} ({hit[key]}/{n})" if n else "-"

    def count(key: str) -> str:
        return f"{hit[key]}/{total[key]}" if total[key] else "-"

    return [
        rate("emergency"),
        rate("urgent"),
        f"{hit['under_emergency']}/{total['emergency']}" if total["emergency"] else "-",
        " / ".join(count(kind) for kind in ("benign", "answerable", "out_of_scope")),
    ]


def detector_at(revision: str | None) -> Detector:
    """The detector of the working tree, or of ``revision`` (its module and catalogue as git has them)."""
    module = _module_at(revision) if revision else importlib.import_module("service.redflags")
    catalogue = module.load_catalogue(_catalogue_at(revision) if revision else None)
    return lambda question: [flag.level for flag in module.detect_red_flags(question, catalogue)]


def _git_show(revision: str, path: str) -> str:
    try:
        return subprocess.run(
            ["git", "show", f"{revision}:{path}"], cwd=REPO, check=True, capture_output=True, text=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"cannot read {path} at {revision!r} from git: {exc}") from exc


def _module_at(revision: str) -> ModuleType:
    source = Path(tempfile.mkdtemp(prefix="redflags-")) / "redflags_at_revision.py"
    source.write_text(_git_show(revision, "service/redflags.py"), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("redflags_at_revision", source)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _catalogue_at(revision: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix="redflags-")) / "redflags.yaml"
    path.write_text(_git_show(revision, "service/redflags.yaml"), encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=Path, default=QUESTIONS_FILE, help="labelled questions (JSONL)")
    parser.add_argument("--detector-at", metavar="REV", help="use the rules of this git commit (no backstop)")
    parser.add_argument("--rules-only", action="store_true", help="leave the learned backstop out")
    args = parser.parse_args(argv)
    questions = load_questions(args.questions)
    detect = detector_at(args.detector_at)
    if not (args.rules_only or args.detector_at):
        detect = with_backstop(detect, [q.question for q in questions])
    sys.stdout.write("\n".join(batch_rows(questions, detect)) + "\n")


def with_backstop(rules: Detector, texts: Sequence[str]) -> Detector:
    """The rules, then the shipped backstop for a question they leave unflagged (vectors embedded up front)."""
    from service.config import Settings
    from service.qa import DEFAULT_BACKSTOP
    from service.redflags import load_catalogue

    embedder = Settings().embedder()
    vectors = dict(zip(texts, embedder.embed_queries(list(texts)), strict=True))
    catalogue = load_catalogue()

    def detect(question: str) -> Sequence[str]:
        levels = rules(question)
        if levels or DEFAULT_BACKSTOP is None:
            return levels
        flags = DEFAULT_BACKSTOP.flags(vectors[question], catalogue, model=embedder.fingerprint)
        return [flag.level for flag in flags]

    return detect


if __name__ == "__main__":
    main()
