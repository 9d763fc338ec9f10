"""Terminal rendering of an answer: red flags first, then the answer, its sources and the disclaimer."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from service.qa import Answer


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
