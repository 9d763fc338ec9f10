"""The CLI's consoles, made anew for each command: rich reads ``COLUMNS`` and the terminal when a console is made,
so one made at import would keep the width of whatever imported the module first."""

from __future__ import annotations

from rich.console import Console

out = Console()
err = Console(stderr=True)


def fresh() -> None:
    """Consoles for the command about to run, sized for its terminal now."""
    global out, err
    out = Console()
    err = Console(stderr=True)
