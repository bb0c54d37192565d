"""Errors a user can fix, kept free of heavy imports so the CLI can catch them cheaply."""

from __future__ import annotations

from pathlib import Path


class RunConfigError(ValueError):
    """The requested run cannot start; the message names the problem and the fix."""


class RunFormatError(ValueError):
    """A run directory that cannot be read; the message names the directory and the problem."""

    def __init__(self, root: Path, problem: str) -> None:
        super().__init__(f"{root}: {problem}")
        self.root = root
        self.problem = problem
