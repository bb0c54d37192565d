"""A tiny random OpenVLA end to end through ``bench run``, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from openvla_kit import write_checkpoint

from harness.results import load_run

REPO = Path(__file__).resolve().parents[3]


def bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=280,
    )


def test_bench_run_openvla_on_a_manipulation_task(tmp_path: Path) -> None:
    # 112 px towers (64 patches) keep the 80-step episode quick on a CPU.
    directory = tmp_path / "tiny-openvla-112"
    write_checkpoint(directory, seed=2, outputs="actions", image_size=112)
    out = tmp_path / "run"
    result = bench(
        "run",
        "--policy",
        "openvla",
        "--task",
        "valve",
        "--episodes",
        "1",
        "--policy-args",
        f"checkpoint={directory},unnorm_key=bridge_orig,device=cpu",
        "--out",
        str(out),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "complete" and summary["ran"] == 1
    run = load_run(out)
    (episode,) = run.episodes.to_dict("records")
    assert episode["outcome"] in ("success", "timeout"), episode["error"]
    steps = run.steps()
    assert len(steps) == episode["steps"] > 0
    # one action per act() call: every step has its own model time
    model_s = steps["model_s"].to_numpy(dtype=float)
    assert np.isfinite(model_s).all() and (model_s > 0).all()
    actions = np.stack(list(steps["action"]))
    assert actions.shape[1] == 7 and np.isfinite(actions).all()
    assert int(run.episodes["decode_failures"].sum()) == 0
    described = run.record.policy.describe
    assert described["weights"] == "pretrained" and described["unnorm_key"] == "bridge_orig"
