"""``healthqa feedback list`` and ``healthqa feedback export``: review what people said about answers.

Every text in the store came from a browser: it is shown as plain text (``rich.text.Text``, never
markup) and exported as JSON strings.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.table import Table
from rich.text import Text

from cli import console
from eval.splits import feedback_split
from feedback import FeedbackStore, FeedbackUnavailableError, Rating, StoredFeedback, to_question_line
from settings import get_settings

feedback_app = typer.Typer(
    name="feedback",
    help="Review the feedback people gave on answers (POST /v1/feedback), and export it for labelling.",
    no_args_is_help=True,
)

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db", help="Feedback file (default: HEALTHQA_FEEDBACK_DB or var/feedback.sqlite).", show_default=False
    ),
]
RatingOption = Annotated[str | None, typer.Option("--rating", help="Only 'up' or only 'down'.", show_default=False)]
SinceOption = Annotated[
    datetime | None,
    typer.Option("--since", formats=["%Y-%m-%d"], help="From this UTC day on (YYYY-MM-DD).", show_default=False),
]
UntilOption = Annotated[
    datetime | None,
    typer.Option(
        "--until", formats=["%Y-%m-%d"], help="Up to this UTC day, included (YYYY-MM-DD).", show_default=False
    ),
]


def _fail(message: str) -> NoReturn:
    console.err.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    raise typer.Exit(1)


def _read(
    db: Path | None, rating: str | None, since: datetime | None, until: datetime | None, limit: int | None = None
) -> tuple[Path, list[StoredFeedback]]:
    if rating not in (None, "up", "down"):
        _fail(f"--rating is 'up' or 'down', got {rating!r}")
    path = db or get_settings().feedback_db
    chosen: Rating | None = "up" if rating == "up" else "down" if rating == "down" else None
    try:
        rows = FeedbackStore(path).list(rating=chosen, since=_day(since), until=_day(until), limit=limit)
    except FeedbackUnavailableError as exc:
        _fail(str(exc))
    return path, rows


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


@feedback_app.command("list")
def list_command(
    rating: RatingOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Most rows to show.")] = 50,
    db: DbOption = None,
) -> None:
    """The stored feedback as a table, newest first.

    Example: healthqa feedback list --rating down --since 2026-11-01
    """
    path, rows = _read(db, rating, since, until, limit)
    if not rows:
        console.out.print(
            Text(f"No feedback in {path} matches." if path.exists() else f"No feedback stored yet ({path}).")
        )
        return
    table = Table(show_lines=True)
    for column in ("id", "stored (UTC)", "rating", "reason", "question", "comment", "cited articles", "index"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            Text(str(row.id)),
            Text(row.created_at[:19].replace("T", " ")),
            Text(row.rating, style="green" if row.rating == "up" else "red"),
            Text(row.reason or ""),
            Text(row.question),
            Text(row.comment),
            Text(", ".join(row.doc_ids)),
            Text(row.index_version),
        )
    console.out.print(table)
    console.out.print(Text(f"{len(rows)} shown, newest first, from {path}"))


@feedback_app.command("export")
def export_command(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="JSONL file to write (default: standard output).", show_default=False),
    ] = None,
    rating: RatingOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    db: DbOption = None,
) -> None:
    """Write feedback as JSONL lines shaped like eval/data/questions.jsonl, for a person to label.

    Each line has "kind": null (label it answerable, out_of_scope, red_flag or benign; fill "relevant",
    "answer_sentences" and "red_flag_level" as eval/data/README.md explains); the split is fixed by a hash
    of the question. A labelled file is read by 'healthqa eval --questions FILE'.

    Example: healthqa feedback export --rating down -o var/feedback-2026-11.jsonl
    """
    _, rows = _read(db, rating, since, until)
    lines = "".join(
        json.dumps(to_question_line(row, split=feedback_split(row.question)), ensure_ascii=False) + "\n"
        for row in reversed(rows)
    )
    if output is None:
        sys.stdout.write(lines)
        sys.stdout.flush()
    else:
        temporary = output.with_name(f".{output.name}.tmp")
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(lines, encoding="utf-8")
            os.replace(temporary, output)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            _fail(f"cannot write {output}: {exc.strerror or exc}")
    console.err.print(Text(f"{len(rows)} feedback lines exported" + (f" to {output}" if output else "")))
