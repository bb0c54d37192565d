"""Finding and loading the runs of a report: each unreadable run is a problem, never a crash."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from harness.errors import RunFormatError
from harness.results import RUN_FILE, Run, find_runs, load_run
from vla_bench_leaderboard import records


def load_one(root: Path) -> Run:
    """Load one run directory, checked as the leaderboard reads it.

    Raises RunFormatError (naming the directory) for a run.json that is not valid JSON, not a
    JSON object, or holds a malformed field, and for unreadable episode files.
    """
    try:
        meta = json.loads((root / RUN_FILE).read_text())
    except FileNotFoundError:
        raise RunFormatError(root, "no run.json here: not a run directory") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFormatError(root, f"run.json is unreadable ({exc})") from None
    if not isinstance(meta, dict):
        raise RunFormatError(
            root, f"run.json holds a JSON {type(meta).__name__}, not an object: not a run record"
        )
    try:
        run = load_run(root)
    except RunFormatError:
        raise
    except (OSError, ValueError) as exc:  # torn Parquet/Arrow or episode JSON
        raise RunFormatError(root, f"episodes unreadable ({type(exc).__name__}: {exc})") from None
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
