"""The `bench` command as a user runs it: in a subprocess, with real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from harness.results import load_run


def bench(
    *args: str, check: bool = True, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=240,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"bench {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def test_list_shows_builtins_and_plugin_names() -> None:
    data = json.loads(bench("list", "--json").stdout)
    assert {"random", "scripted"} <= {p["name"] for p in data["policies"]}
    assert "reach" in {t["name"] for t in data["tasks"]}
    assert {"name": "toy", "plugin": "toyplugin", "description": "", "tasks": ["reach"]} in data[
        "suites"
    ]


def test_unknown_names_suggest_and_point_to_the_listing(tmp_path: Path) -> None:
    result = bench(
        "run", "--policy", "scriptd", "--task", "reach", "--out", str(tmp_path / "x"), check=False
    )
    assert result.returncode != 0
    assert (
        "unknown policy 'scriptd' — did you mean 'scripted'? (bench list policies)" in result.stderr
    )
    assert "Traceback" not in result.stderr
    result = bench("run", "--policy", "random", "--task", "raech", check=False)
    assert "did you mean 'reach'?" in result.stderr
    result = bench(
        "run", "--policy", "random", "--task", "reach", "--policy-args", "oops", check=False
    )
    assert "is not key=value" in result.stderr
    assert not (tmp_path / "x").exists()


def test_the_baselines_refuse_policy_args_they_would_ignore(tmp_path: Path) -> None:
    for policy, args, given in [
        ("random", "chekpoint=/models/a", "chekpoint=/models/a"),
        ("scripted", "checkpoint=/models/a,device=cpu", "checkpoint=/models/a"),
        ("random", "device=cuda", "device=cuda"),  # it would run on the CPU, labelled cuda
    ]:
        out = tmp_path / policy
        result = bench("run", "--policy", policy, "--task", "reach", "--policy-args", args,
                       "--out", str(out), check=False)  # fmt: skip
        assert result.returncode == 1
        assert f"{policy} takes no --policy-args (got {given}); drop them" in result.stderr
        assert "Traceback" not in result.stderr and not out.exists()
    result = bench("run", "--policy", "random", "--task", "reach", "--episodes", "1",
                   "--policy-args", "device=cpu", "--out", str(tmp_path / "ok"))  # fmt: skip
    assert result.returncode == 0
    result = bench("run", "--policy", "random", "--task", "reach", "--seed", "-1", check=False)
    assert "Invalid value for '--seed': -1 is not in the range x>=0" in result.stderr


def test_run_json_summary_and_compare(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    out = json.loads(
        bench(
            "run",
            "--policy",
            "scripted",
            "--task",
            "toy",
            "--episodes",
            "4",
            "--out",
            str(a),
            "--json",
        ).stdout
    )
    assert out["status"] == "complete" and out["ran"] == 4
    (task,) = out["tasks"]
    assert task["task"] == "reach" and task["success_rate"] == 1.0 and task["episodes"] == 4
    assert task["ci_low"] > 0.5 and task["ci_high"] == 1.0
    assert out["all_tasks"] is None  # one task: no suite line
    bench("run", "--policy", "random", "--task", "reach", "--episodes", "4", "--out", str(b))
    rows = json.loads(bench("compare", str(a), str(b), "--json").stdout)
    assert rows[0]["paired"] == 4 and rows[0]["b_only_a"] == 4 and rows[0]["c_only_b"] == 0
    assert rows[0]["p_value"] == 0.125
    text = bench("compare", str(a), str(b)).stdout
    assert "McNemar" in text and "0.125" in text
    # every figure is defined under the table
    assert "95% Wilson score interval" in text and "exact two-sided" in text
    assert "Δ = B − A" in text
    assert list(load_run(a).record.command) == [
        "bench", "run", "--policy", "scripted", "--task", "toy", "--episodes", "4",
        "--out", str(a), "--json",
    ]  # fmt: skip


def test_compare_adds_one_row_for_all_the_tasks_with_a_single_paired_test(tmp_path: Path) -> None:
    from scipy import stats

    a, b = tmp_path / "a", tmp_path / "b"
    for policy, out in (("random", a), ("scripted", b)):
        args = ("run", "--policy", policy, "--task", "games", "--episodes", "3", "--out", str(out))
        ran = json.loads(bench(*args, "--json").stdout)
        # bench run's own line for the suite: the mean of the task rates, the summed counts
        rates = [t["successes"] / t["episodes"] for t in ran["tasks"]]
        suite = ran["all_tasks"]
        assert suite["task"] == "all 4 tasks" and suite["episodes"] == 12
        assert suite["success_rate"] == pytest.approx(sum(rates) / 4)
        assert suite["successes"] == sum(t["successes"] for t in ran["tasks"])
        assert suite["ci_low"] <= suite["success_rate"] <= suite["ci_high"]
    rows = json.loads(bench("compare", str(a), str(b), "--json").stdout)
    tasks, (overall,) = rows[:-1], rows[-1:]
    assert [r["scope"] for r in tasks] == ["task"] * 4 and overall["scope"] == "all tasks"
    assert overall["task"] == "all 4 tasks"
    only_a, only_b = sum(r["b_only_a"] for r in tasks), sum(r["c_only_b"] for r in tasks)
    assert (overall["paired"], overall["b_only_a"], overall["c_only_b"]) == (12, only_a, only_b)
    assert only_b > 0  # the experts solve what random does not
    expected_p = stats.binomtest(only_a, only_a + only_b, 0.5).pvalue
    assert overall["p_value"] == pytest.approx(expected_p, rel=1e-12)
    for side in ("a", "b"):
        rates = [r[side]["successes"] / r[side]["episodes"] for r in tasks]
        suite = overall[side]
        assert suite["success_rate"] == pytest.approx(sum(rates) / 4)
        assert suite["ci_low"] <= suite["success_rate"] <= suite["ci_high"]
        assert suite["episodes"] == 12
    # Holm over the four task tests, by hand: sorted p times 4, 3, 2, 1, then kept increasing.
    order = sorted(range(4), key=lambda i: tasks[i]["p_value"])
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, tasks[i]["p_value"] * (4 - rank)))
        assert tasks[i]["p_holm"] == pytest.approx(running, rel=1e-12)
    assert overall["p_holm"] is None
    text = bench("compare", str(a), str(b)).stdout
    assert "all 4 tasks" in text and "the mean of the task rates" in text and "Holm p" in text


def test_a_run_where_every_episode_errors_shows_the_error_and_fails(tmp_path: Path) -> None:
    args = ("run", "--policy", "bad", "--policy-args", "mode=raise", "--task", "reach")
    result = bench(*args, "--episodes", "2", "--out", str(tmp_path / "r"), check=False)
    assert "reach" in result.stdout and "policy_error" in result.stdout
    assert "run directory:" in result.stdout
    assert "policy_error (2 episode(s)), first: RuntimeError: model exploded" in result.stderr
    assert result.returncode == 1 and "no episode succeeded" in result.stderr


def _wait_for_episodes(
    folder: Path, n: int, proc: subprocess.Popen[str], limit: float = 60
) -> None:
    deadline = time.monotonic() + limit
    while len(list(folder.glob("parts/reach/*.episode.json"))) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "episodes did not appear in time"
        time.sleep(0.05)


def _slow_run(out: Path, sleep: float = 0.01, *extra: str) -> subprocess.Popen[str]:
    args = [
        "run",
        "--policy",
        "bad",
        "--policy-args",
        f"mode=slow,sleep={sleep}",
        "--task",
        "reach",
        "--episodes",
        "12",
        "--out",
        str(out),
        *extra,
    ]
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_resume_after_kill_9_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _slow_run(out)
    _wait_for_episodes(out, 2, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_with = len(list(out.glob("parts/reach/*.episode.json")))
    assert 2 <= killed_with < 12
    assert load_run(out).record.status == "running"  # what a killed run looks like
    result = bench(
        "run",
        "--policy",
        "bad",
        "--policy-args",
        "mode=slow,sleep=0.01",
        "--task",
        "reach",
        "--episodes",
        "12",
        "--out",
        str(out),
        "--json",
    )
    summary = json.loads(result.stdout)
    assert summary["skipped"] == killed_with and summary["ran"] == 12 - killed_with
    episodes = pd.read_parquet(out / "episodes.parquet")
    assert sorted(episodes["episode"]) == list(range(12))
    steps = pd.read_parquet(out / "steps.parquet")
    assert not steps.duplicated(["task", "episode", "step"]).any()
    assert len(steps) == 12 * 40
    assert not list(out.rglob("*.tmp"))


def test_ctrl_c_stops_cleanly_and_keeps_finished_episodes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _slow_run(out)
    _wait_for_episodes(out, 1, proc)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stdout
    run = load_run(out)
    assert run.record.status == "interrupted" and not run.complete
    assert 1 <= len(run.episodes) < 12
    assert len(pd.read_parquet(out / "episodes.parquet")) == len(run.episodes)


def test_a_policy_that_cannot_be_built_fails_cleanly_and_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = bench(
        "run", "--policy", "unbuildable", "--task", "reach", "--out", str(out), check=False
    )
    assert result.returncode == 1
    assert "needs option key=...; pass --policy-args key=1" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_plugins_can_add_subcommands() -> None:
    assert "hello ada from a plugin command" in bench("toy-hello", "ada").stdout
    assert "toy-hello" in bench("--help").stdout


def test_task_args_reach_the_task_and_join_the_resume_identity(tmp_path: Path) -> None:
    out = tmp_path / "v"
    args = ("run", "--policy", "scripted", "--task", "valve", "--episodes", "1", "--out", str(out))
    bench(*args, "--task-args", "image_size=32x48")
    assert load_run(out).record.settings.task_options == {"image_size": "32x48"}
    result = bench(*args, "--task-args", "image_size=64", check=False)
    assert result.returncode != 0 and "task_options" in result.stderr
    result = bench(*args[:-1], str(tmp_path / "w"), "--task-args", "colour=red", check=False)
    assert "task 'valve' has no option 'colour' (its options: image_size, shadows)" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr and not (tmp_path / "w").exists()
