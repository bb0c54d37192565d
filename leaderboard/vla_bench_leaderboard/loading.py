"""Finding and loading the runs of a report: each unreadable run is a problem, never a crash."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from harness.errors import RunFormatError
from harness.results import Run, find_runs, load_run
from vla_bench_leaderboard import records


def load_one(root: Path) -> Run:
    """Load one run directory, checked as the leaderboard reads it; RunFormatError (naming
    the directory) for anything unreadable or malformed."""
    run = load_run(root)
    records.read(run)
    return run


def load_runs(paths: Iterable[Path]) -> tuple[list[Run], list[str]]:
    """Every run at or below ``paths``, and one line per run or path that could not be read."""
    runs: list[Run] = []
    problems: list[str] = []
    existing = []
    for path in paths:
        if path.exists():
            existing.append(path)
        else:
            problems.append(f"{path}: no such directory")
    for root in find_runs(existing):
        try:
            runs.append(load_one(root))
        except RunFormatError as exc:
            problems.append(f"{exc} (run skipped)")
    return runs, problems
