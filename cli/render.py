"""Terminal rendering: an answer (red flags first, then the answer, its sources and the disclaimer),
the documents an ingest flagged, and the evaluation summary."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from answer import Answer
from ingest import FlaggedDocument


def print_answer(console: Console, answer: Answer) -> None:
    for flag in answer.red_flags:
        style = "bold white on red" if flag.level == "emergency" else "bold black on yellow"
        title = "EMERGENCY: get help now" if flag.level == "emergency" else "URGENT: get medical advice today"
        console.print(Panel(escape(flag.message), title=title, style=style))
    if answer.abstained:
        console.print(Panel(escape(answer.answer), title="Not covered by these articles", border_style="yellow"))
    else:
        console.print(Panel(escape(answer.answer), title="Answer", border_style="green"))
        console.print("[bold]Sources[/]")
        for citation in answer.citations:
            reviewed = f", reviewed {citation.reviewed}" if citation.reviewed else ""
            console.print(
                f" [{citation.id}] {escape(citation.title)} ({escape(citation.url or citation.doc_id)}{reviewed})",
                highlight=False,
            )
            console.print(f"     [dim]“{escape(citation.quote)}”[/]", highlight=False)
        if answer.related:
            console.print(
                "[bold]Related articles[/]: " + ", ".join(escape(r.title) for r in answer.related), highlight=False
            )
    console.print(f"\n[dim]{escape(answer.disclaimer)}[/]", highlight=False)


def print_flagged(console: Console, flagged: list[FlaggedDocument]) -> None:
    """Each document screening flagged, where it came from, and why; they were ingested as plain text."""
    console.print(
        f"[yellow]Flagged {len(flagged)} document(s) with content aimed at software rather than readers[/] "
        "(ingested as plain text, never run or rendered; review them):",
        highlight=False,
        soft_wrap=True,
    )
    for document in flagged:
        console.print(f"  - {document.doc_id} ({escape(_printable(document.source))})", highlight=False, soft_wrap=True)
        for reason in document.reasons:
            console.print(f"      {escape(reason)}", highlight=False, soft_wrap=True)


def _printable(text: str) -> str:
    """A file name may hold escape sequences; a report must not pass them to the terminal."""
    return "".join(c if c.isprintable() else "?" for c in text)


def print_eval_summary(console: Console, results: dict[str, Any]) -> None:
    """One retrieval table per suite and the answer checks of the corpus splits."""
    from rich.table import Table

    for suite, body in results.items():
        if not isinstance(body, dict) or "retrieval" not in body:
            continue
        table = Table(title=f"{suite}: retrieval", title_justify="left")
        columns = next(iter(body["retrieval"].values())).keys()
        table.add_column("mode")
        for column in columns:
            table.add_column(column, justify="right")
        for mode, metrics in body["retrieval"].items():
            table.add_row(mode, *(f"{metrics[c]:.3f}" for c in columns))
        console.print(table)
        if "answers" in body:
            answers = Table(title=f"{suite}: answers", title_justify="left")
            answers.add_column("check")
            answers.add_column("rate", justify="right")
            for name, value in body["answers"].items():
                answers.add_row(name, f"{value:.3f}")
            console.print(answers)


def print_sweep(console: Console, table: dict[str, Any]) -> None:
    """A sweep's table: one row per value tried (the current default marked), one column per figure."""
    from rich.table import Table

    view = Table(
        title=f"sweep {table['sweep']}: {table['field']} ({table['why']}); tuning splits only", title_justify="left"
    )
    view.add_column(table["field"])
    for tuning_set, metric in table["columns"]:
        view.add_column(f"{tuning_set} {metric}", justify="right")
    for value, figures in table["rows"]:
        mark = " (default)" if value == table["default"] else ""
        view.add_row(f"{value}{mark}", *(f"{figure:.3f}" for figure in figures))
    console.print(view)
