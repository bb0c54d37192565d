"""Episodes per minute on push-v3, ``bench run`` vs ``lerobot-eval``, same tiny policy and workers.

Both commands run as a user types them, one after the other, on the same tiny random ACT
checkpoint (LeRobot's Meta-World feature names, built by the tests' kit), the same episodes
(seeds 1000..), canonical rendering, and the same number of CPU workers: lerobot-eval's
``eval.batch_size`` envs in its AsyncVectorEnv, our ``--workers`` processes. Prints wall time,
episodes per minute, the ratio, and each episode's result from both tools side by side.

    .venv/bin/python tasks/metaworld/benchmarks/bench_vs_lerobot_eval.py --episodes 10 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from metaworld_kit import tiny_act_checkpoint


def timed(command: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one command (which must succeed)."""
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - started


def main() -> None:
    """Run both tools and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        checkpoint = tiny_act_checkpoint(root / "ckpt")
        load_before = os.getloadavg()[0]
        lerobot_s = timed(
            [
                str(bin_dir / "lerobot-eval"),
                f"--policy.path={checkpoint}",
                "--policy.device=cpu",
                "--env.type=metaworld",
                "--env.task=push-v3",
                f"--eval.batch_size={args.workers}",
                f"--eval.n_episodes={args.episodes}",
                "--seed=1000",
                f"--output_dir={root / 'lerobot'}",
            ],
            env,
        )
        ours_s = timed(
            [
                str(bin_dir / "bench"),
                "run",
                "--policy",
                "lerobot",
                "--policy-args",
                f"checkpoint={checkpoint}",
                "--task",
                "push-v3",
                "--episodes",
                str(args.episodes),
                "--workers",
                str(args.workers),
                "--out",
                str(root / "ours"),
            ],
            env,
        )
        info = json.loads((root / "lerobot" / "eval_info.json").read_text())
        theirs = info["per_task"][0]["metrics"]
        ours = pd.read_parquet(root / "ours" / "episodes.parquet").sort_values("episode")
        shutil.rmtree(root / "lerobot", ignore_errors=True)
    per_min = [60 * args.episodes / s for s in (lerobot_s, ours_s)]
    print(f"push-v3, {args.episodes} episodes, {args.workers} workers, canonical rendering")
    print(f"lerobot-eval  {lerobot_s:7.1f} s  {per_min[0]:6.2f} episodes/min")
    print(f"bench run     {ours_s:7.1f} s  {per_min[1]:6.2f} episodes/min")
    print(f"ratio (bench run / lerobot-eval): {per_min[1] / per_min[0]:.2f}x")
    print(f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(f"{'episode':>7} {'seed':>5} {'lerobot sum_reward':>20} {'ours return':>20}  success")
    for i, row in enumerate(ours.itertuples()):
        print(
            f"{row.episode:7d} {row.seed:5d} {theirs['sum_rewards'][i]:20.15f} "
            f"{row.episode_return:20.15f}  {theirs['successes'][i]}/{row.outcome == 'success'}"
        )


if __name__ == "__main__":
    main()
