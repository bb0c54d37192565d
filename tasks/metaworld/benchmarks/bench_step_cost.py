"""Per-step cost of a Meta-World step: physics, and the ``corner2`` frame, canonical vs fast.

    .venv/bin/python tasks/metaworld/benchmarks/bench_step_cost.py [--steps 100] [--task push-v3]

Prints medians in milliseconds: ``physics`` is Meta-World's ``step`` (5 MuJoCo substeps, the
reward); ``camera`` is one 480x480 ``corner2`` render plus LeRobot's flip, as our env makes it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
from vla_bench_metaworld.task import MetaWorldTask

from harness.contract import EpisodeSpec


def measure(task_name: str, render: str, steps: int) -> tuple[float, float]:
    """Median physics and camera milliseconds over ``steps`` steps of random actions."""
    task = MetaWorldTask(task_name, render=render)
    env = task.make_env(EpisodeSpec(0, 1000), render=False)
    env.reset(seed=1000)
    env.render()  # the renderer's GL context is made at the first frame; not a step's cost
    rng = np.random.default_rng(0)
    physics, camera = [], []
    for _ in range(steps):
        action = rng.uniform(-1, 1, 4)
        t0 = time.perf_counter()
        env.step(action)
        t1 = time.perf_counter()
        env.render()
        t2 = time.perf_counter()
        physics.append(t1 - t0)
        camera.append(t2 - t1)
    env.close()
    return 1000 * statistics.median(physics), 1000 * statistics.median(camera)


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--task", default="push-v3")
    args = parser.parse_args()
    print(f"{args.task}, median of {args.steps} steps, MUJOCO_GL={os.environ['MUJOCO_GL']}")
    print(f"{'render':10} {'physics ms':>10} {'camera ms':>10} {'step ms':>8}")
    for render in ("canonical", "fast"):
        physics, camera = measure(args.task, render, args.steps)
        print(f"{render:10} {physics:10.2f} {camera:10.1f} {physics + camera:8.1f}")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
