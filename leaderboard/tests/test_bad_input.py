"""Empty, interrupted, old and damaged run directories give a report with a note, never a
traceback."""

from __future__ import annotations

import html as html_lib
import json
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from vla_bench_leaderboard import html, markdown, term
from vla_bench_leaderboard.table import build

from harness.results import (
    PART_STEPS_SUFFIX,
    Run,
    RunFormatError,
    RunStore,
    find_runs,
    load_run,
)

RENDERERS = {"term": term.render, "md": markdown.render, "html": html.render}


def render(fmt: str, runs: list[Run], problems: list[str]) -> str:
    """The report as a reader sees its words: Markdown and HTML escapes undone."""
    text = RENDERERS[fmt](runs, problems)
    if fmt == "md":
        return re.sub(r"\\(.)", r"\1", text)
    return html_lib.unescape(text) if fmt == "html" else text


def load_all(paths: list[Path]) -> tuple[list[Run], list[str]]:
    """What ``bench report`` does: load every run found, collecting problems."""
    runs: list[Run] = []
    problems: list[str] = []
    for root in (r for p in paths for r in find_runs([p]) or [p]):
        try:
            runs.append(load_run(root))
        except RunFormatError as exc:
            problems.append(str(exc))
    return runs, problems


@pytest.mark.parametrize("fmt", RENDERERS)
def test_an_empty_directory(tmp_path: Path, fmt: str) -> None:
    empty = tmp_path / "runs" / "nothing"
    empty.mkdir(parents=True)
    runs, problems = load_all([empty])
    text = render(fmt, runs, problems)
    assert "not a run directory" in text


@pytest.mark.parametrize("fmt", RENDERERS)
def test_a_run_killed_before_its_first_episode(tmp_path: Path, fmt: str) -> None:
    root = tmp_path / "runs" / "fresh"
    RunStore(root).write_meta({"run_id": "fresh", "status": "running", "policy": {"name": "a"}})
    runs, problems = load_all([root])
    text = render(fmt, runs, problems)
    assert "no finished episodes yet" in text


@pytest.mark.parametrize("fmt", RENDERERS)
def test_a_half_written_run_is_shown_with_its_finished_episodes(
    make_run: Callable[..., Path], fmt: str
) -> None:
    root = make_run("half", {"pick": [True, False, True]}, status="running", consolidate=False)
    # what a kill -9 between two atomic writes leaves: a temporary file and a lone steps part
    (root / "parts" / "pick" / ".000003.episode.json.x1.tmp").write_text('{"task": "pi')
    (root / "parts" / "pick" / f"000004{PART_STEPS_SUFFIX}").write_bytes(b"ARROW1 torn")
    runs, problems = load_all([root])
    board = build(runs, problems)
    assert board.cells[0].stats.episodes == 3
    assert "includes an unfinished run" in board.rows[0].flags
    text = render(fmt, runs, problems)
    assert "run is running: 3 finished episode(s)" in text


@pytest.mark.parametrize("fmt", RENDERERS)
def test_an_older_run_missing_optional_columns_and_records(tmp_path: Path, fmt: str) -> None:
    root = tmp_path / "runs" / "old"
    root.mkdir(parents=True)
    (root / "run.json").write_text(
        json.dumps(
            {
                "schema": 0,
                "run_id": "old",
                "status": "complete",
                "policy": {"name": "legacy"},
                "command": "bench run",
            }
        )
    )
    pd.DataFrame(
        {
            "task": ["pick"] * 4,
            "episode": range(4),
            "success": [True, True, False, False],
            "steps": [10, 12, 50, 50],
        }
    ).to_parquet(root / "episodes.parquet")
    runs, problems = load_all([root])
    board = build(runs, problems)
    (cell,) = board.cells
    assert cell.stats.successes == 2 and cell.stats.failures == 2
    assert cell.task.version == "?" and cell.stats.latency_source == "none"
    text = render(fmt, runs, problems)
    assert "column 'act_p50_s' missing (older run)" in text
    assert "no record of task 'pick' (older run)" in text


@pytest.mark.parametrize("fmt", RENDERERS)
def test_torn_steps_cost_only_the_latency_column(make_run: Callable[..., Path], fmt: str) -> None:
    root = make_run("torn", {"pick": [True, False]})
    (root / "steps.parquet").write_bytes(b"PAR1 not really")
    runs, problems = load_all([root])
    board = build(runs, problems)
    assert board.cells[0].stats.latency_source == "episodes"
    text = render(fmt, runs, problems)
    assert "steps unreadable" in text


@pytest.mark.parametrize("fmt", RENDERERS)
def test_a_malformed_run_is_skipped_with_a_note(make_run: Callable[..., Path], fmt: str) -> None:
    good = make_run("good", {"pick": [True]}, policy="fine")
    bad = make_run("bad", {"pick": [True]}, policy="broken")
    meta = json.loads((bad / "run.json").read_text())
    meta["tasks"] = {"pick": {"spec": "not a dict", "track": 3}}
    (bad / "run.json").write_text(json.dumps(meta))
    (tmp := bad.parent / "nothing").mkdir()
    runs, problems = load_all([good, bad, tmp])
    text = render(fmt, runs, problems)
    assert "fine" in text
    assert "skipped, unreadable" in text
    assert "not a run directory" in text
