"""Append labelled questions to ``eval/data/questions.jsonl`` by its split rule (``--help``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eval.questions import QUESTIONS_FILE, append_questions


def main(argv: list[str] | None = None) -> int:
    """``python -m eval.add_questions FILE...``: append labelled lines to the question file by its rule."""
    parser = argparse.ArgumentParser(
        prog="python -m eval.add_questions",
        description="Append labelled questions (e.g. a blind batch, or reviewed feedback) to the question file, "
        "numbered after its last id and split by its rule: every third question of each kind in id order is held "
        "out. Lines are appended as written; any id or split they carry is replaced.",
    )
    parser.add_argument("files", nargs="+", type=Path, help="JSON-lines files, appended in the order given")
    parser.add_argument("--to", type=Path, default=QUESTIONS_FILE, help="question file (default: %(default)s)")
    args = parser.parse_args(argv)
    new = []
    try:
        for file in args.files:
            new += [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
        added = append_questions(new, args.to)
    except (OSError, ValueError) as exc:
        parser.exit(2, f"error: {exc}\n")
    sys.stdout.write(f"appended {added[0]['id']}-{added[-1]['id']} ({len(added)} questions) to {args.to}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
