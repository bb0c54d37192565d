"""Expert and random success rates of every games task over its full default track.

    python3 -m uv run python tasks/games/benchmarks/bench_games.py [--episodes N] [--render]

Runs each task's registered scripted expert and the engine's ``random`` baseline on the
task's track (50 seeded episodes) and prints success rate, mean return, mean episode length
and wall time. ``--render`` also draws every frame (the cost a vision policy's run pays).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import numpy as np

from harness.baselines import RandomPolicy
from harness.contract import PolicyConfig
from harness.episode import run_episode
from harness.plugins import registry
from harness.registry import load_target


def run(task, policy, episodes, render: bool) -> tuple[int, list[float], list[int], float]:
    """Successes, returns and lengths of ``policy`` on ``episodes``; wall seconds."""
    successes, returns, lengths = 0, [], []
    start = time.perf_counter()
    for episode in episodes:
        env = task.make_env(episode, render=render)
        rewards: list[float] = []
        try:
            end = run_episode(
                env,
                episode,
                lambda obs: int(policy.act(obs).actions[0][0]),
                max_steps=task.spec.max_steps,
                on_reset=lambda obs, info, env=env, episode=episode: policy.reset(
                    task.spec, episode, env
                ),
                on_step=lambda step, action, reward, info, obs, r=rewards: r.append(reward),
            )
        finally:
            env.close()
        successes += end.outcome == "success"
        returns.append(sum(rewards))
        lengths.append(end.steps)
    return successes, returns, lengths, time.perf_counter() - start


def main() -> None:
    """Print one row per (task, policy)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=None, help="first N episodes only")
    parser.add_argument("--render", action="store_true", help="render frames too")
    args = parser.parse_args()
    reg = registry()
    print(f"{'task':<16}{'policy':<10}{'success':>14}{'return':>10}{'steps':>9}{'wall s':>9}")
    for name in reg.resolve_tasks("games"):
        entry = reg.get("task", name)
        task = reg.build_task(name)
        episodes = task.track().head(args.episodes).episodes
        policies = {
            "scripted": load_target(entry.extra["expert"])(PolicyConfig(name="scripted")),
            "random": RandomPolicy(PolicyConfig(name="random", seed=0)),
        }
        for label, policy in policies.items():
            ok, returns, lengths, wall = run(task, policy, episodes, args.render)
            n = len(episodes)
            print(
                f"{name:<16}{label:<10}{f'{ok}/{n} ({ok / n:.0%})':>14}"
                f"{np.mean(returns):>10.1f}{np.mean(lengths):>9.1f}{wall:>9.2f}"
            )


if __name__ == "__main__":
    main()
