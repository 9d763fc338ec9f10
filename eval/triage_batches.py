"""Strict red-flag triage per batch of labelled questions, per split: the detector alone, for reporting.

``python -m eval.triage_batches`` prints one row per batch of ``eval/data/questions.jsonl`` (the batches
``eval/data/README.md`` describes, each written before the detector saw it) and split, counted as the corpus
suite counts them (``eval/answers.py``): recall at level (an emergency needs an emergency flag), emergencies
flagged only as urgent, and questions of the other kinds with any flag. ``healthqa eval`` gives the same
per-split totals through the whole answer path; this table splits them by batch, so the rows of a batch
measured before its tuning misses were read are the honest estimate of wording nobody tuned on.

By default a question no rule flags goes on to the learned backstop (``triage/backstop.py``), as in
``/v1/ask``; ``--rules-only`` leaves it out. ``--detector-at REV`` runs the rules of an earlier commit
(its tree as git has it at REV) on today's questions, without the backstop: the "before" rows of the docs.

It reads held-out questions to report them; nothing here chooses a setting.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from eval.answers import LEVEL_ORDER
from eval.questions import BATCHES, QUESTIONS_FILE, LabelledQuestion, batch_of, load_questions
from triage import RedFlag, detect_red_flags, load_catalogue

REPO = Path(__file__).resolve().parents[1]
Detector = Callable[[str], Sequence[str]]  # a question -> the levels of the flags it raises
FlagDetector = Callable[[str], Sequence[RedFlag]]


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


def detector_at(revision: str, texts: Sequence[str]) -> Detector:
    """The rules of ``revision`` run on ``texts`` (its whole tree as git has it, in a child process, so a commit
    from before a package move runs as it was)."""
    tree = Path(tempfile.mkdtemp(prefix="healthqa-at-"))
    try:
        archive = subprocess.run(["git", "archive", revision], cwd=REPO, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        run = subprocess.run(
            [sys.executable, "-c", _LEVELS_AT_REVISION],
            cwd=tree,
            input=json.dumps(list(texts)),
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(tree)},
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        raise SystemExit(f"cannot run the rules of {revision!r}: {exc} {detail[-500:]}") from exc
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    levels = dict(zip(texts, json.loads(run.stdout), strict=True))
    return lambda question: levels[question]


# Run inside a checkout of another revision: the rules as that revision laid them out.
_LEVELS_AT_REVISION = """
import json, sys
try:
    from triage import detect_red_flags, load_catalogue
except ImportError:
    from service.redflags import detect_red_flags, load_catalogue
catalogue = load_catalogue()
json.dump([[f.level for f in detect_red_flags(t, catalogue)] for t in json.load(sys.stdin)], sys.stdout)
"""


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=Path, default=QUESTIONS_FILE, help="labelled questions (JSONL)")
    parser.add_argument("--detector-at", metavar="REV", help="use the rules of this git commit (no backstop)")
    parser.add_argument("--rules-only", action="store_true", help="leave the learned backstop out")
    args = parser.parse_args(argv)
    questions = load_questions(args.questions)
    texts = [q.question for q in questions]
    if args.detector_at:
        detect = detector_at(args.detector_at, texts)
    else:
        flags = shipped_detector(texts, backstop=not args.rules_only)
        detect = lambda question: [flag.level for flag in flags(question)]  # noqa: E731
    sys.stdout.write("\n".join(batch_rows(questions, detect)) + "\n")


def shipped_detector(texts: Sequence[str], *, backstop: bool = True) -> FlagDetector:
    """The shipped rules and, unless ``backstop`` is False, the learned backstop for a question they leave
    unflagged, as in ``/v1/ask`` (the vectors of ``texts`` are embedded up front)."""
    catalogue = load_catalogue()

    def rules(question: str) -> Sequence[RedFlag]:
        return detect_red_flags(question, catalogue)

    if not backstop:
        return rules
    from answer import load_models
    from index import open_embedder
    from settings import Settings

    settings = Settings()
    embedder = open_embedder(settings.embedder_settings())
    vectors = dict(zip(texts, embedder.embed_queries(list(texts)), strict=True))
    triage = load_models(
        settings.models_dir,
        embedder=embedder,
        cache_dir=settings.model_cache_dir,
        catalogue_path=settings.redflag_catalogue,
    ).triage

    def detect(question: str) -> Sequence[RedFlag]:
        return rules(question) or triage.learned(vectors[question], model=embedder.fingerprint)

    return detect


if __name__ == "__main__":
    main()
