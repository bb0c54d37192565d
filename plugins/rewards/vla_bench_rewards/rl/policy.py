"""``sb3``: a policy backend for checkpoints written by ``bench train --algo dqn|ppo``.

``bench run --policy sb3 --policy-args checkpoint=DIR --task TASK`` plays the trained agent
greedily from the task's state vector, one action per step, like any other policy; the run
refuses a task other than the one the agent was trained on. ``describe()`` labels the
weights ``trained`` and carries the algorithm, steps, reward (task's or judge-shaped) and the
final evaluation return from ``training.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from harness.contract import (
    ActionChunk,
    EpisodeSpec,
    Observation,
    PolicyBase,
    PolicyConfig,
    PolicyConfigError,
    TaskSpec,
)


class SB3Policy(PolicyBase):
    """A trained Stable-Baselines3 DQN/PPO agent (greedy)."""

    action_spaces: ClassVar[tuple[str, ...]] = ("discrete",)
    n_action_steps = 1
    warmup_calls = 1
    uses_images = False

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__(config)
        if config.checkpoint is None:
            raise PolicyConfigError(
                "the sb3 policy needs a checkpoint: --policy-args checkpoint=DIR "
                "(made by bench train --algo dqn|ppo --task TASK -o DIR)"
            )
        unknown = sorted(set(config.options) - {"weights"})
        if unknown:
            raise PolicyConfigError(f"unknown sb3 option(s) {unknown}; it takes checkpoint= only")
        import torch

        from vla_bench_rewards.rl.checkpoint import load_policy

        torch.set_num_threads(1)
        try:
            self.policy, self.meta, self.training = load_policy(Path(config.checkpoint))
        except (FileNotFoundError, ValueError) as exc:
            raise PolicyConfigError(str(exc)) from None
        self.parameters = sum(p.numel() for p in self.policy.parameters())

    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: Any) -> None:
        """Check the task is the one the agent learned."""
        if task.name != self.meta.task:
            raise PolicyConfigError(
                f"checkpoint {self.config.checkpoint} was trained on {self.meta.task!r}, not "
                f"{task.name!r}; run it with --task {self.meta.task}"
            )
        if len(task.state_fields) != self.meta.observation_dim:
            raise PolicyConfigError(
                f"task {task.name!r} has {len(task.state_fields)} state fields; the agent "
                f"expects {self.meta.observation_dim}"
            )

    def act(self, observation: Observation) -> ActionChunk:
        """The greedy action for the state vector."""
        import time

        state = np.asarray(observation["state"], dtype=np.float32)
        start = time.perf_counter()
        action, _ = self.policy.predict(state, deterministic=True)
        seconds = time.perf_counter() - start
        return ActionChunk(np.array([[float(np.asarray(action).item())]]), model_time_s=seconds)

    def describe(self) -> dict[str, Any]:
        """Checkpoint, ``trained`` weights, algorithm, steps, reward and final eval return."""
        curve = self.training.get("curve") or [{}]
        return {
            "checkpoint": self.config.checkpoint,
            "weights": self.training.get("origin", "trained"),
            "algo": self.meta.algo,
            "task": self.meta.task,
            "parameters": self.parameters,
            "timesteps": self.training.get("timesteps"),
            "reward": self.training.get("reward", {}).get("kind", "env"),
            "train_eval_return": curve[-1].get("return_mean"),
        }
