"""Errors raised while reading sources."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One source that could not be used, and why (shown to the user as is)."""

    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


class SourceError(ValueError):
    """A source file is unreadable, empty, mis-encoded or malformed."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.problem = Problem(source, reason)


class IngestInputError(ValueError):
    """Some sources were bad and ``keep_going`` was off; nothing was published."""

    def __init__(self, problems: list[Problem]) -> None:
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the sources, nothing was changed:\n{lines}")
        self.problems = problems


class NoDocumentsError(ValueError):
    """The sources held no usable document."""
