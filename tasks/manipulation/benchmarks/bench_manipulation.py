"""Manipulation suite figures: control-step cost on one core, expert and random success.

    python tasks/manipulation/benchmarks/bench_manipulation.py [--steps 200] [--no-success]

Prints, per task: the median wall time of one 10 Hz control step (50 physics steps at 500 Hz
plus both 224x224 cameras) with the process pinned to one core and every thread pool
(OpenMP, MKL, Mesa's llvmpipe) at one thread; the same without rendering; then the scripted
expert's and the random policy's success over the task's full 50-episode default track.
Target: <= 8 ms per control step.
"""

from __future__ import annotations

import os

# Before numpy, mujoco and the GL driver load: they size their thread pools once.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "LP_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("MUJOCO_GL", "egl")

import argparse  # noqa: E402
import importlib  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
from vla_bench_manipulation.plugin import TASKS  # noqa: E402
from vla_bench_manipulation.rollout import rollout  # noqa: E402

from harness.baselines import RandomPolicy  # noqa: E402
from harness.contract import PolicyConfig  # noqa: E402


def step_times(name: str, steps: int, render: bool) -> np.ndarray:
    """Wall time (s) of each ``env.step`` while the expert works through episodes."""
    module_name, expert_name, _ = TASKS[name]
    module = importlib.import_module(f"vla_bench_manipulation.{module_name}")
    task = module.make_task()
    expert = getattr(module, expert_name)(PolicyConfig("scripted"))
    times: list[float] = []
    episodes = iter(task.track().episodes)
    while len(times) < steps:
        episode = next(episodes)
        env = task.make_env(episode, render=render)
        obs, _ = env.reset(seed=episode.seed)
        expert.reset(task.spec, episode, env)
        for _ in range(task.spec.max_steps):
            action = expert.act(obs).actions[0]
            start = time.perf_counter()
            obs, _, terminated, truncated, info = env.step(action)
            times.append(time.perf_counter() - start)
            if info["success"] or terminated or truncated:
                break
        env.close()
    return np.array(times[:steps])


BATCHES = 5


def _figures(ms: np.ndarray) -> str:
    best = min(float(np.median(batch)) for batch in np.array_split(ms, BATCHES))
    return f"{np.median(ms):5.2f} [{np.percentile(ms, 90):5.2f}] {{{best:5.2f}}}"


def success(name: str, policy_name: str) -> tuple[int, int, float]:
    """(successes, episodes, mean steps) of a policy over the task's full default track."""
    module_name, expert_name, _ = TASKS[name]
    module = importlib.import_module(f"vla_bench_manipulation.{module_name}")
    task = module.make_task()
    config = PolicyConfig(policy_name)
    policy = (
        getattr(module, expert_name)(config) if policy_name == "scripted" else RandomPolicy(config)
    )
    results = [rollout(task, policy, episode) for episode in task.track().episodes]
    failures = [r.failure for r in results if r.failure]
    if failures:
        print(f"    {name}/{policy_name}: simulation failures: {failures}")
    return sum(r.success for r in results), len(results), float(np.mean([r.steps for r in results]))


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="control steps timed per task")
    parser.add_argument("--no-success", action="store_true", help="skip the full-track runs")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    print(
        f"mujoco {mujoco.__version__}, MUJOCO_GL={os.environ['MUJOCO_GL']}, "
        f"{platform.processor() or platform.machine()}, one core, 1 thread per pool"
    )
    print(
        "control step (10 Hz: 50 x 2 ms physics + front & wrist 224x224), ms: median [p90] "
        f"{{lowest median of {BATCHES} batches, the figure least disturbed by other load}}"
    )
    for name in TASKS:
        full = step_times(name, args.steps, render=True) * 1e3
        physics = step_times(name, args.steps, render=False) * 1e3
        print(f"  {name:<11} with cameras {_figures(full)}   physics only {_figures(physics)}")
    if args.no_success:
        return
    print("success over the full default track (50 episodes each)")
    for name in TASKS:
        for policy in ("scripted", "random"):
            ok, n, steps = success(name, policy)
            rate = 100 * ok / n
            print(f"  {name:<11} {policy:<9} {ok:>2}/{n} = {rate:5.1f}%   mean steps {steps:5.1f}")


if __name__ == "__main__":
    main()
