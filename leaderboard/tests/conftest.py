"""Run directories with known outcomes, written to disk through the real results store."""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

from harness.results import STEP_SCHEMA, EpisodeResult, RunStore

Outcome = str | bool
"""An episode outcome: True (success), False (timeout) or an outcome name."""


def task_record(
    name: str,
    *,
    suite: str = "demo",
    version: str = "1",
    track: str = "1",
    n: int = 20,
    has_ee: bool = True,
    control_hz: float = 10.0,
    instruction: str = "pick up the cube",
) -> dict[str, Any]:
    """The run.json record of a task, as the runner writes it."""
    return {
        "spec": {
            "name": name,
            "version": version,
            "suite": suite,
            "instruction": instruction,
            "control_hz": control_hz,
            "max_steps": 100,
            "has_ee_pose": has_ee,
            "action_space": {"name": "ee_delta_7d"},
            "state_fields": [],
            "cameras": {},
            "description": "",
        },
        "track": {"version": track, "episodes": [[i, 1000 + i] for i in range(n)], "size": n},
        "plugin": {"name": suite, "distribution": f"vla-bench-{suite}", "version": "0.1.0"},
    }


def write_run(
    root: Path,
    outcomes: dict[str, Sequence[Outcome]],
    *,
    policy: str = "alpha",
    weights: str = "pretrained",
    checkpoint: str | None = "org/alpha-base",
    privileged: bool = False,
    tasks: dict[str, dict[str, Any]] | None = None,
    act_s: float = 0.02,
    n_action_steps: int | None = 4,
    status: str = "complete",
    created: str = "2026-01-01T00:00:00+00:00",
    seeds: dict[str, Sequence[int]] | None = None,
    videos: dict[tuple[str, int], bytes] | None = None,
    error: str = "RuntimeError: the model fell over",
    cost_usd: float = 0.0,
    consolidate: bool = True,
) -> Path:
    """Write a run directory whose episodes have the given outcomes (per task, in order).

    Each episode gets 8 steps in chunks of ``n_action_steps`` with act() timings around
    ``act_s``, an end-effector path, and, where ``videos`` says so, a GIF under videos/.
    """
    store = RunStore(root)
    tasks = tasks or {t: task_record(t) for t in outcomes}
    meta: dict[str, Any] = {
        "run_id": root.name,
        "status": "running",
        "status_detail": None,
        "created": created,
        "finished": None,
        "command": ["bench", "run", "--policy", policy, "--task", ",".join(outcomes)],
        "policy": {
            "name": policy,
            "config": {
                "name": policy,
                "checkpoint": checkpoint,
                "device": "cpu",
                "dtype": "float32",
                "seed": 0,
                "options": {},
            },
            "describe": {"checkpoint": checkpoint, "weights": weights},
            "n_action_steps": n_action_steps,
            "privileged": privileged,
        },
        "tasks": tasks,
        "settings": {
            "episodes": None,
            "workers": 1,
            "seed": 0,
            "warmup": None,
            "step_timeout_s": 30.0,
            "video": 2,
            "n_action_steps": n_action_steps,
        },
        "provenance": {
            "harness_version": "0.1.0",
            "plugins": [
                {
                    "name": "demo",
                    "distribution": "vla-bench-demo",
                    "version": "0.1.0",
                    "error": None,
                }
            ],
            "packages": {},
            "git": {"revision": "0123456789abcdef", "dirty": False},
            "host": {
                "hostname": "testbox",
                "platform": "Linux",
                "python": "3.12",
                "cpu": "Test CPU",
                "cpu_count": 2,
                "memory_bytes": 2**34,
                "gpus": [],
            },
        },
    }
    store.write_meta(meta)
    rng = np.random.default_rng(zlib.crc32(f"{policy}/{root.name}".encode()))
    k = n_action_steps or 1
    for task, results in outcomes.items():
        task_seeds = (seeds or {}).get(task) or [1000 + i for i in range(len(results))]
        for index, (outcome, seed) in enumerate(zip(results, task_seeds, strict=True)):
            name = "success" if outcome is True else "timeout" if outcome is False else outcome
            n_steps = 8
            video = (videos or {}).get((task, index))
            extra: dict[str, Any] = {}
            if video is not None:
                rel = f"videos/{task}/{index:06d}.gif"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_bytes(video)
                extra["video"] = rel
            act = np.full(n_steps, math.nan)
            act[::k] = act_s * rng.uniform(0.8, 1.5, size=len(act[::k]))
            steps = pd.DataFrame(
                {
                    "task": task,
                    "episode": index,
                    "step": np.arange(n_steps),
                    "chunk": np.arange(n_steps) // k,
                    "chunk_pos": np.arange(n_steps) % k,
                    "act_s": act,
                    "model_s": act * 0.9,
                    "chunk_info": None,
                    "action": [list(rng.uniform(-1, 1, 7)) for _ in range(n_steps)],
                    "clipped": False,
                    "reward": 0.0,
                    "success": False,
                    **{c: rng.uniform(0, 1, n_steps) for c in ("ee_x", "ee_y", "ee_z")},
                    **{c: np.zeros(n_steps) for c in ("ee_qw", "ee_qx", "ee_qy", "ee_qz")},
                }
            )
            result = EpisodeResult(
                task=task,
                episode=index,
                seed=int(seed),
                instruction="pick up the cube",
                success=name == "success",
                outcome=name,
                steps=n_steps,
                error=error if name in ("policy_error", "sim_error", "bad_action") else None,
                act_calls=int(np.isfinite(act).sum()),
                act_p50_s=float(np.nanmedian(act)),
                act_p95_s=float(np.nanpercentile(act, 95)),
                peak_rss_bytes=300 * 2**20,
                ldlj=-6.0 - rng.uniform(0, 1),
                sparc=-1.5 - rng.uniform(0, 0.5),
                cost_usd=cost_usd,
                input_tokens=1200 if cost_usd else 0,
                output_tokens=40 if cost_usd else 0,
                extra=extra,
            )
            store.write_episode(
                result, pa.Table.from_pandas(steps, schema=STEP_SCHEMA, preserve_index=False)
            )
    if consolidate:
        store.consolidate()
    if status != "running":
        store.write_meta({**meta, "status": status, "finished": created})
    return root


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    """``make_run("name", {"task": [True, False, ...]}, **options)`` -> a run directory."""

    def make(name: str, outcomes: dict[str, Sequence[Outcome]], **options: Any) -> Path:
        return write_run(tmp_path / "runs" / name, outcomes, **options)

    return make


@pytest.fixture
def task() -> Callable[..., dict[str, Any]]:
    """``task("name", track="2", ...)`` -> the run.json record of a task."""
    return task_record


@pytest.fixture
def gif() -> Callable[..., bytes]:
    """``gif((r, g, b))`` -> the bytes of a small animated GIF."""
    return tiny_gif


def tiny_gif(color: tuple[int, int, int], frames: int = 3) -> bytes:
    """A real, small animated GIF."""
    import io

    from PIL import Image

    images = [
        Image.new("RGB", (32, 24), tuple(min(255, c + 30 * i) for c in color))
        for i in range(frames)
    ]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=100)
    return buf.getvalue()
