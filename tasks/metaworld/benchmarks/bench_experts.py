"""Every Meta-World task's scripted expert, through ``bench run`` and through Meta-World directly.

For each task, the first N track episodes (seeds 1000..) run twice: with ``bench run --policy
scripted`` (our env, runner and expert registration) and with a plain loop over Meta-World's
own env and scripted policy, built and seeded as LeRobot builds them. The two success rates
per task, and whether every episode's outcome and length agree, are printed as a table.

    .venv/bin/python tasks/metaworld/benchmarks/bench_experts.py [--episodes 10] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
import pandas as pd
from vla_bench_metaworld.catalog import TASKS
from vla_bench_metaworld.sim import MAX_STEPS, MT1_SEED
from vla_bench_metaworld.task import BASE_SEED


def direct(task: str, seeds: list[int]) -> list[tuple[bool, int]]:
    """(success, steps) per seed from Meta-World's env and policy, with no vla-bench code."""
    import metaworld
    import metaworld.policies

    benchmark = metaworld.MT1(task, seed=MT1_SEED)
    env = benchmark.train_classes[task]()
    env.set_task(benchmark.train_tasks[0])
    env.reset()
    env._freeze_rand_vec = False
    env.seeded_rand_vec = True
    out = []
    for seed in seeds:
        policy = metaworld.policies.ENV_POLICY_MAP[task]()  # type: ignore[abstract]
        env.seed(seed)
        obs, _ = env.reset()
        success, steps = False, 0
        while steps < MAX_STEPS and not success:
            obs, _, _, _, info = env.step(policy.get_action(obs))
            steps += 1
            success = bool(info["success"])
        out.append((success, steps))
    env.close()
    return out


def main() -> None:
    """Run both ways and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--task", default="metaworld", help="a task or suite name")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-c",
                "from harness.cli import main; main()",
                "run",
                "--policy",
                "scripted",
                "--task",
                args.task,
                "--episodes",
                str(args.episodes),
                "--workers",
                str(args.workers),
                "--out",
                str(out),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        ours_s = time.perf_counter() - started
        episodes = pd.read_parquet(out / "episodes.parquet")
    seeds = [BASE_SEED + i for i in range(args.episodes)]
    names = [n for n in TASKS if n in set(episodes["task"])]
    print(f"{'task':30} {'difficulty':10} {'bench run':>9} {'direct':>7}  episodes agree")
    totals = np.zeros(2)
    started = time.perf_counter()
    for name in names:
        ours = episodes[episodes["task"] == name].sort_values("episode")
        theirs = direct(name, seeds)
        ours_pairs = list(zip(ours["outcome"] == "success", ours["steps"], strict=True))
        agree = all(
            (bool(a), int(b)) == (c, d) for (a, b), (c, d) in zip(ours_pairs, theirs, strict=True)
        )
        rates = np.array([np.mean([s for s, _ in ours_pairs]), np.mean([s for s, _ in theirs])])
        totals += rates
        print(
            f"{name:30} {TASKS[name][0]:10} {rates[0]:9.0%} {rates[1]:7.0%}  "
            f"{'yes' if agree else 'NO'}"
        )
    direct_s = time.perf_counter() - started
    mean = totals / len(names)
    print(f"{'mean over ' + str(len(names)) + ' tasks':41} {mean[0]:9.1%} {mean[1]:7.1%}")
    print(
        f"bench run {ours_s:.0f} s ({args.workers} workers), direct {direct_s:.0f} s (1 process); "
        f"load average {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
