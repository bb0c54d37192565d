"""Backends end to end through ``bench run``: chunks executed, results carry the weights kind."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from lerobot_kit import architecture, load_options
from vla_bench_lerobot.backends import BACKENDS

from harness.cli import main


@pytest.fixture
def probe_task(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Register the probe task (tests/lerobot_probe.py) beside the installed plugins."""
    from harness import plugins

    monkeypatch.setenv("VLA_BENCH_PLUGINS", "lerobot_probe")
    plugins.loaded.cache_clear()
    yield
    plugins.loaded.cache_clear()


def bench_run(out: Path, *args: str) -> dict:
    """One episode in this process (``--isolate none``): these tests are about the policy, and a
    policy host process would import torch and LeRobot again (tens of seconds a run here);
    isolation itself is tested with the engine."""
    command = ["run", "--isolate", "none", "--task", "lerobot_probe", "--episodes", "1"]
    result = CliRunner().invoke(main, [*command, "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return json.loads((out / "run.json").read_text())


@pytest.mark.parametrize(
    ("name", "chunk", "k"),
    [("act", 10, 5), ("diffusion", 4, 4), ("smolvla", 10, 5), ("pi0", 10, 5), ("pi0fast", 5, 5)],
)
def test_bench_run_executes_n_action_steps_of_each_chunk(
    name: str,
    chunk: int,
    k: int,
    probe_task: None,
    tiny_checkpoint: Callable[[str], Path],
    standins: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    architecture(name, request)
    args = {"checkpoint": str(tiny_checkpoint(name)), **load_options(name, standins)}
    meta = bench_run(
        tmp_path / "run",
        "--policy",
        name,
        "--policy-args",
        ",".join(f"{k}={v}" for k, v in args.items()),
    )
    steps = pd.read_parquet(tmp_path / "run" / "steps.parquet")
    episodes = pd.read_parquet(tmp_path / "run" / "episodes.parquet")
    assert len(steps) == 12  # max_steps: the probe never succeeds
    assert steps.groupby("chunk").size().tolist() == [k] * (12 // k) + [12 % k] * (12 % k > 0)
    assert episodes["outcome"].tolist() == ["timeout"]
    assert int(episodes["act_calls"].iloc[0]) == -(-12 // k)
    described = meta["policy"]["describe"]
    assert described["weights"] == "pretrained"
    assert described["lerobot_type"] == BACKENDS[name].policy_type
    assert described["chunk_size"] >= chunk


def test_bench_run_n_action_steps_override_and_random_weights(
    probe_task: None, tmp_path: Path
) -> None:
    meta = bench_run(
        tmp_path / "run",
        "--policy",
        "act",
        "--policy-args",
        "weights=random",
        "--n-action-steps",
        "4",
    )
    steps = pd.read_parquet(tmp_path / "run" / "steps.parquet")
    assert steps.groupby("chunk").size().tolist() == [4, 4, 4]
    assert meta["policy"]["describe"]["weights"] == "random"


def test_bench_run_on_the_valve_task(
    tiny_checkpoint: Callable[[str], Path], tmp_path: Path
) -> None:
    """The manipulation suite's valve task (MuJoCo, 224 px front + wrist) with tiny SmolVLA.

    The suite is a dependency of the engine, so it is always there: a missing ``valve`` is a
    failure here, never a skip."""
    from harness import plugins

    plugins.loaded.cache_clear()
    out = tmp_path / "run"
    # In this process, as bench_run above.
    result = CliRunner().invoke(
        main,
        [
            "run",
            "--isolate",
            "none",
            "--policy",
            "smolvla",
            "--task",
            "valve",
            "--episodes",
            "1",
            "--out",
            str(out),
            "--policy-args",
            f"checkpoint={tiny_checkpoint('smolvla')}",
        ],
    )
    assert result.exit_code == 0, result.output
    episodes = pd.read_parquet(out / "episodes.parquet")
    steps = pd.read_parquet(out / "steps.parquet")
    assert episodes["outcome"].iloc[0] in ("timeout", "success", "terminated")
    assert episodes["error"].isna().all() or not episodes["error"].iloc[0]
    sizes = steps.groupby("chunk").size().tolist()
    assert sizes[:-1] == [5] * (len(sizes) - 1) and 1 <= sizes[-1] <= 5
    assert int(episodes["act_calls"].iloc[0]) == len(sizes)
