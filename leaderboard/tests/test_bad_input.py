"""Empty, stopped, interrupted, old and damaged run directories give a report with a note,
never a traceback; a malformed run is skipped loudly, and a bug is never taken for one."""

from __future__ import annotations

import html as html_lib
import json
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from boardruns import wins
from vla_bench_leaderboard import html, markdown, table, term
from vla_bench_leaderboard.loading import load_runs
from vla_bench_leaderboard.table import build

from harness.results import EPISODES_FILE, PART_STEPS_SUFFIX, STEPS_FILE, Run, load_run

RENDERERS = {"term": term.render, "md": markdown.render, "html": html.render}


def render(fmt: str, runs: list[Run], problems: list[str]) -> str:
    """The report as a reader sees its words: escapes undone, lines joined."""
    text = RENDERERS[fmt](runs, problems)
    if fmt == "md":
        text = re.sub(r"\\(.)", r"\1", text)
    if fmt == "html":
        text = html_lib.unescape(text)
    return " ".join(text.split())  # the terminal wraps long notes at 100 columns


@pytest.mark.parametrize("fmt", RENDERERS)
def test_an_empty_directory(tmp_path: Path, fmt: str) -> None:
    empty = tmp_path / "runs" / "nothing"
    empty.mkdir(parents=True)
    runs, problems = load_runs([empty, tmp_path / "nope"])
    assert runs == [] and problems == [f"{tmp_path / 'nope'}: no such directory"]
    text = render(fmt, runs, problems)
    assert "no such directory" in text and "bench run" in text


@pytest.mark.parametrize("fmt", RENDERERS)
def test_a_run_stopped_before_its_first_episode(make_run: Callable[..., Path], fmt: str) -> None:
    root = make_run("stopped", wins(2), policy="alpha", budget="0.01")
    runs, problems = load_runs([root])
    assert load_run(root).record.status == "stopped" and problems == []
    text = render(fmt, runs, problems)
    assert "no finished episodes yet" in text


@pytest.mark.parametrize("fmt", RENDERERS)
def test_a_run_killed_mid_way_is_shown_with_its_finished_episodes(
    make_run: Callable[..., Path], fmt: str
) -> None:
    root = make_run("half", "101", policy="alpha", private=True)
    # what a kill -9 leaves: status still running, no consolidated files, a temporary file
    # from an atomic write and a steps part whose episode was never committed
    meta = json.loads((root / "run.json").read_text())
    (root / "run.json").write_text(json.dumps({**meta, "status": "running"}))
    (root / EPISODES_FILE).unlink()
    (root / STEPS_FILE).unlink()
    parts = root / "parts" / "pick"
    (parts / ".000003.episode.json.x1.tmp").write_text('{"task": "pi')
    (parts / f"000004{PART_STEPS_SUFFIX}").write_bytes(b"ARROW1 torn")
    runs, problems = load_runs([root])
    board = build(runs, problems)
    assert board.cells[0].stats.episodes == 3
    assert "includes an unfinished run" in board.rows[0].flags
    text = render(fmt, runs, problems)
    assert "run is running: 3 finished episode(s)" in text


@pytest.mark.parametrize("fmt", RENDERERS)
def test_a_run_of_an_older_schema_is_listed_with_what_to_do(tmp_path: Path, fmt: str) -> None:
    # the layout of a run written by vla-bench 0.1 (run.json schema 1), kept by hand since no
    # runner writes it any more: the record refuses it with a message, the report lists it
    root = tmp_path / "runs" / "old"
    root.mkdir(parents=True)
    (root / "run.json").write_text(
        json.dumps({"schema": 1, "run_id": "old", "status": "complete", "policy": {"name": "x"}})
    )
    pd.DataFrame({"task": ["pick"], "episode": [0], "success": [True]}).to_parquet(
        root / EPISODES_FILE
    )
    runs, problems = load_runs([root])
    assert runs == [] and len(problems) == 1 and "schema 1" in problems[0]
    text = render(fmt, runs, problems)
    assert "written by vla-bench 0.1" in text and "re-run the same command" in text


@pytest.mark.parametrize("fmt", RENDERERS)
def test_torn_steps_cost_only_the_latency_column(make_run: Callable[..., Path], fmt: str) -> None:
    root = make_run("torn", "10", policy="alpha", private=True)
    (root / STEPS_FILE).write_bytes(b"PAR1 not really")
    runs, problems = load_runs([root])
    board = build(runs, problems)
    assert board.cells[0].stats.latency_source == "episodes"
    text = render(fmt, runs, problems)
    assert "steps unreadable" in text


@pytest.mark.parametrize("fmt", RENDERERS)
def test_a_malformed_run_is_skipped_and_said_so_prominently(
    make_run: Callable[..., Path], fmt: str
) -> None:
    good = make_run("good", "1", policy="alpha", private=True)
    bad = make_run("bad", "1", policy="beta", private=True)
    meta = json.loads((bad / "run.json").read_text())
    meta["tasks"] = {"pick": {"spec": "not a table", "track": 3}}
    (bad / "run.json").write_text(json.dumps(meta))
    listed = make_run("listed", "1", policy="gamma", private=True)
    (listed / "run.json").write_text("[1, 2, 3]")  # valid JSON, not a run record
    runs, problems = load_runs([good.parent])
    assert [r.root.name for r in runs] == ["good"]
    assert len(problems) == 2
    assert any("listed" in p and "holds a list, not a run record" in p for p in problems)
    assert any("bad" in p and "not a valid run record" in p for p in problems)
    # a record without the task its episodes ran: loads, but cannot be read into the board
    orphan = make_run("orphan", "1", policy="delta", private=True)
    meta = json.loads((orphan / "run.json").read_text())
    meta["tasks"] = {}
    (orphan / "run.json").write_text(json.dumps(meta))
    bad = orphan
    board = build([load_run(good), load_run(bad)], [])
    assert [c.policy.name for c in board.cells] == ["alpha"]
    assert len(board.skipped) == 1 and "run skipped" in board.skipped[0]
    text = render(fmt, [load_run(good), load_run(bad)], [])
    assert "skipped as malformed" in text
    assert text.index("skipped as malformed") < text.index("alpha")


def test_a_bug_is_not_taken_for_a_malformed_run(
    make_run: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The old report caught every exception per run: a KeyError injected into the policy
    # identity made both runs vanish as "unreadable" and the report succeed.
    roots = [make_run("a", "1", policy="alpha"), make_run("b", "0", policy="beta")]

    def broken(record: object) -> object:
        return {}["name"]

    monkeypatch.setattr(table, "policy_id", broken)
    with pytest.raises(KeyError):
        build([load_run(r) for r in roots], [])
