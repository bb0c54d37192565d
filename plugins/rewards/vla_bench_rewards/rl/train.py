"""``bench train --algo dqn|ppo``: Stable-Baselines3 on a game task, optionally judge-shaped.

The agent sees the task's state vector (:class:`~vla_bench_rewards.rl.env.TaskEnv`) and
learns from the task's reward, or with ``--reward-judge NAME --alpha A`` from the ActionVLM
report's mix R = (1 − α)·R_env + α·R_judge (:class:`~vla_bench_rewards.rl.env.JudgeReward`).
Every ``eval_every`` steps the current greedy policy plays ``eval_episodes`` held-out
episodes in the task's own reward: that is the learning curve, with and without a judge alike.

Hyper-parameters: PPO uses Stable-Baselines3's defaults (as the report's Eureka runs did);
DQN uses rl-baselines3-zoo's tuned settings for LunarLander-v2 on ``lunarlander`` and for
CartPole-v1 on the other tasks (``HYPERPARAMS``), since DQN's defaults do not learn these
within a CPU budget. Torch runs on one thread: for these small networks more threads only
add overhead on a shared machine (36 s against 2 s for 512 PPO steps, measured here under load).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vla_bench_rewards.rl.checkpoint import ALGOS, TRAINING_FILE, CheckpointMeta, save_policy
from vla_bench_rewards.rl.env import EVAL_SEED_BASE, JudgeReward, TaskEnv, rollout

HYPERPARAMS: dict[tuple[str, str], dict[str, Any]] = {
    # rl-baselines3-zoo hyperparams/dqn.yml, LunarLander-v2 ("Tuned"); the buffer is capped
    # at 200k transitions (the zoo's 1e6 never fills in 150k steps)
    ("dqn", "lunarlander"): {
        "learning_rate": 8.8e-4,
        "batch_size": 32,
        "buffer_size": 200_000,
        "learning_starts": 0,
        "gamma": 0.99,
        "target_update_interval": 10_000,
        "train_freq": 16,
        "gradient_steps": -1,
        "exploration_fraction": 0.2,
        "exploration_final_eps": 0.1,
        "policy_kwargs": {"net_arch": [256, 256]},
    },
    # rl-baselines3-zoo hyperparams/dqn.yml, CartPole-v1 ("Almost Tuned")
    ("dqn", "*"): {
        "learning_rate": 2.5e-4,
        "batch_size": 512,
        "buffer_size": 100_000,
        "learning_starts": 0,
        "gamma": 0.99,
        "target_update_interval": 5000,
        "train_freq": 16,
        "gradient_steps": 4,
        "exploration_fraction": 0.06,
        "exploration_final_eps": 0.11,
    },
    ("ppo", "*"): {},
}


def hyperparams(algo: str, task: str) -> dict[str, Any]:
    """The settings ``algo`` trains ``task`` with (a copy)."""
    if algo not in ALGOS:
        raise ValueError(f"unknown --algo {algo!r}; choose one of {', '.join(ALGOS)}")
    found = HYPERPARAMS.get((algo, task), HYPERPARAMS[(algo, "*")])
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in found.items()}


@dataclass(frozen=True)
class TrainConfig:
    """One ``bench train --algo`` invocation."""

    algo: str
    task: str
    timesteps: int
    seed: int = 0
    reward_judge: str | None = None
    judge_args: str = ""
    alpha: float = 0.15
    judge_every: int = 1
    eval_every: int | None = None
    eval_episodes: int = 5
    task_options: dict[str, str] = field(default_factory=dict)

    @property
    def eval_interval(self) -> int:
        """Steps between evaluations (default: 20 points over the run, at least 1000 apart)."""
        return self.eval_every or max(1000, self.timesteps // 20)


def evaluate_policy(
    policy: Any, env: TaskEnv, episodes: int, seed_base: int = EVAL_SEED_BASE
) -> dict[str, Any]:
    """Greedy episodes on seeds ``seed_base + i`` in the task's own reward."""
    results = [rollout(policy, env, seed_base + i) for i in range(episodes)]
    returns = [r for r, _, _ in results]
    return {
        "return_mean": float(np.mean(returns)),
        "return_std": float(np.std(returns)),
        "success_rate": float(np.mean([s for _, s, _ in results])),
        "steps_mean": float(np.mean([n for _, _, n in results])),
        "returns": returns,
    }


def make_model(algo: str, env: Any, task: str, seed: int, timesteps: int) -> Any:
    """A fresh SB3 model of ``algo`` on ``env`` with :func:`hyperparams`, torch on one thread,
    logging nowhere.

    A PPO budget below one default rollout (2048 steps) shrinks the rollout to the budget
    (a multiple of the 64-sample minibatch), or SB3 would run 2048 steps whatever was asked.
    """
    import torch
    from stable_baselines3 import DQN, PPO

    torch.set_num_threads(1)
    settings = hyperparams(algo, task)
    if algo == "ppo" and timesteps < 2048 and "n_steps" not in settings:
        settings["n_steps"] = max(64, timesteps - timesteps % 64)
    from stable_baselines3.common.logger import Logger

    cls = DQN if algo == "dqn" else PPO
    model = cls("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **settings)
    # Without a logger of its own, every learn() makes an empty SB3-<time> folder in the
    # system temp directory; training reports through the learning curve instead.
    model.set_logger(Logger(folder=None, output_formats=[]))
    return model


Evaluate = Callable[[Any, int], dict[str, Any]]
"""(model, timesteps so far) -> one learning-curve row."""


def learn(
    model: Any,
    timesteps: int,
    every: int,
    evaluate: Evaluate,
    progress: Callable[[str], None] | None = None,
    curve: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """``model.learn`` with an evaluation every ``every`` steps and one of the final policy.

    Rows go into ``curve`` as they come (a caller's list keeps them if training fails).
    The last row always scores the policy as returned: PPO updates after its last rollout,
    so a row taken at the final step during that rollout is replaced.
    """
    from stable_baselines3.common.callbacks import BaseCallback

    rows: list[dict[str, Any]] = [] if curve is None else curve

    def record(steps: int) -> None:
        row = evaluate(model, steps)
        if rows and rows[-1]["timesteps"] == steps:
            rows.pop()
        rows.append(row)
        if progress:
            progress(_line(row))

    class Curve(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % every == 0 and self.num_timesteps < timesteps:
                record(self.num_timesteps)
            return True

    model.learn(total_timesteps=timesteps, callback=Curve(), progress_bar=False)
    record(model.num_timesteps)
    return rows


def _line(row: Mapping[str, Any]) -> str:
    return (
        f"  step {row['timesteps']:>8}: eval return {row['return_mean']:8.1f} "
        f"± {row['return_std']:.1f}, success {row['success_rate']:.0%} ({row['wall_s']:.0f} s)"
    )


def train(
    config: TrainConfig, out: Path, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Train, evaluate along the way, write the checkpoint to ``out``; return training.json."""
    import stable_baselines3
    import torch

    from harness.contract import BudgetExceeded

    if (out / TRAINING_FILE).exists():
        raise ValueError(f"{out} already holds a trained agent; pass a new -o")
    if config.timesteps < 1:
        raise ValueError("--timesteps must be at least 1")
    hyperparams(config.algo, config.task)  # fail on a bad --algo before building anything
    judge = None
    if config.reward_judge:
        from vla_bench_rewards.cli import build_judge

        judge = build_judge(config.reward_judge, config.judge_args)
    env = TaskEnv(
        config.task, seed=config.seed, render=judge is not None, task_options=config.task_options
    )
    train_env: Any = (
        env if judge is None else JudgeReward(env, judge, config.alpha, every=config.judge_every)
    )
    eval_env = TaskEnv(config.task, seed=config.seed, task_options=config.task_options)
    model = make_model(config.algo, train_env, config.task, config.seed, config.timesteps)
    start = time.perf_counter()

    def evaluate(current: Any, steps: int) -> dict[str, Any]:
        row = {
            "timesteps": steps,
            **evaluate_policy(current.policy, eval_env, config.eval_episodes),
        }
        row["wall_s"] = time.perf_counter() - start
        if judge is not None:
            row["reward"] = train_env.stats.take()
        return row

    status, detail = "complete", None
    try:
        curve = learn(model, config.timesteps, config.eval_interval, evaluate, progress)
    except BudgetExceeded as exc:
        status, detail = "stopped", f"budget reached: {exc}"
        curve = [evaluate(model, model.num_timesteps)]
    finally:
        env.close()
        eval_env.close()
        if judge is not None:
            judge.close()
    summary: dict[str, Any] = {
        "origin": "trained",
        "status": status,
        "status_detail": detail,
        "config": asdict(config),
        "algo": config.algo,
        "task": config.task,
        "task_version": env.task_spec.version,
        "timesteps": int(model.num_timesteps),
        "seed": config.seed,
        "hyperparams": hyperparams(config.algo, config.task),
        "reward": _reward_record(config, train_env if judge is not None else None),
        "curve": curve,
        "wall_s": time.perf_counter() - start,
        "versions": {
            "stable_baselines3": stable_baselines3.__version__,
            "torch": torch.__version__,
        },
    }
    meta = CheckpointMeta(
        algo=config.algo,
        task=config.task,
        task_version=env.task_spec.version,
        observation_dim=len(env.task_spec.state_fields),
        n_actions=len(env.task_spec.action_space.names),
        policy_kwargs=hyperparams(config.algo, config.task).get("policy_kwargs", {}),
    )
    save_policy(out, model.policy, meta, summary)
    return summary


def _reward_record(config: TrainConfig, shaped: JudgeReward | None) -> dict[str, Any]:
    if shaped is None:
        return {"kind": "env"}
    stats = shaped.stats
    return {
        "kind": "judge",
        "formula": "(1 - alpha) * env + alpha * judge",
        "judge": config.reward_judge,
        "judge_args": config.judge_args,
        "judge_describe": shaped.judge.describe(),
        "alpha": config.alpha,
        "every": config.judge_every,
        "question": shaped.question.text,
        "judge_calls": stats.judge_calls,
        "judge_unreadable": stats.judge_unreadable,
        "judge_cost_usd": stats.judge_cost_usd,
        "judge_s": stats.judge_s,
        "judge_ms_per_call": 1e3 * stats.judge_s / stats.judge_calls
        if stats.judge_calls
        else math.nan,
    }
