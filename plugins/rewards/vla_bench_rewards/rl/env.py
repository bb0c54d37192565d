"""A game task as a Stable-Baselines3 environment, and the rewards RL can be trained on.

:class:`TaskEnv` exposes a registered discrete task's env with the task's state vector as
the observation (no pixels: the agent is a small MLP) and its action indices as a
``Discrete`` space. Training episodes start from seeds drawn from ``TRAIN_SEED_BASE`` +
[0, 10⁶) and evaluation episodes from ``EVAL_SEED_BASE`` + i, both far from every track's
seeds (1000-3049), so ``bench run`` scores a trained agent on episodes it never saw.

Reward wrappers (each keeps the environment's own reward in ``info["env_reward"]``, so
learning curves are always in the task's return):

- :class:`JudgeReward`: R = (1 − α)·R_env + α·R_judge, the ActionVLM report's mix, with
  R_judge a judge's answer to the ``progress`` question about the rendered frame (a rule
  judge's score, e.g. the keyword rule), asked every ``every`` steps and held between.
- :class:`FunctionReward`: R = a reward function of the named state (the Eureka loop's
  candidate, run in its sandbox), with its components summed per step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from harness.contract import EpisodeSpec, TaskSpec

TRAIN_SEED_BASE = 5_000_000
EVAL_SEED_BASE = 9_000_000


class TaskEnv(gymnasium.Env[np.ndarray, Any]):
    """A registered discrete task with its state vector as observation."""

    metadata = {"render_modes": ["rgb_array"]}  # noqa: RUF012  (Gymnasium declares it so)

    def __init__(
        self,
        task: str,
        *,
        seed: int = 0,
        render: bool = False,
        task_options: Mapping[str, str] | None = None,
        seed_base: int = TRAIN_SEED_BASE,
    ) -> None:
        from harness.plugins import registry

        built = registry().build_task(task, dict(task_options or {}))
        self.task_spec: TaskSpec = built.spec
        space = self.task_spec.action_space
        if not space.discrete:
            raise ValueError(
                f"task {task!r} has the continuous action space {space.name!r}; RL training "
                f"here takes discrete tasks (lunarlander, cartpole, cartpole_swing, snake)"
            )
        self.render_mode = "rgb_array" if render else None
        self.game = built.make_env(EpisodeSpec(0, seed), render=render)
        self.observation_space = spaces.Box(
            -np.inf, np.inf, (len(self.task_spec.state_fields),), np.float32
        )
        self.action_space = spaces.Discrete(len(space.names))
        self._rng = np.random.default_rng(seed)
        self._seed_base = seed_base
        self.last_obs: dict[str, Any] = {}
        self.episode_seed = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """A new episode: ``seed`` if given, else the next seed of this env's stream."""
        super().reset(seed=seed)
        if seed is None:
            seed = self._seed_base + int(self._rng.integers(0, 1_000_000))
        self.episode_seed = seed
        obs, info = self.game.reset(seed=seed, options=options)
        self.last_obs = obs
        return np.asarray(obs["state"], dtype=np.float32), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One step of the task; the reward is the task's own."""
        obs, reward, terminated, truncated, info = self.game.step(int(action))
        self.last_obs = obs
        info = {**info, "env_reward": float(reward)}
        return (
            np.asarray(obs["state"], dtype=np.float32),
            float(reward),
            terminated,
            truncated,
            info,
        )

    def render(self) -> np.ndarray:
        """The current frame (the env must have been made with ``render=True``)."""
        return self.game.render()

    def named_state(self) -> dict[str, float]:
        """The current state by field name."""
        state = np.asarray(self.last_obs.get("state", ()), dtype=np.float64)
        return dict(zip(self.task_spec.state_fields, (float(v) for v in state), strict=False))

    def close(self) -> None:
        """Close the task's env."""
        self.game.close()


@dataclass
class RewardStats:
    """What a reward wrapper saw since it was last read: per-step means and judge costs."""

    steps: int = 0
    reward_sum: float = 0.0
    components: dict[str, float] = field(default_factory=dict)
    judge_calls: int = 0
    judge_unreadable: int = 0
    judge_cost_usd: float = 0.0
    judge_s: float = 0.0

    def take(self) -> dict[str, Any]:
        """Per-step means since the last call, then reset the window (costs are cumulative)."""
        n = max(self.steps, 1)
        out = {
            "steps": self.steps,
            "reward_mean": self.reward_sum / n,
            "components": {k: v / n for k, v in self.components.items()},
        }
        self.steps, self.reward_sum, self.components = 0, 0.0, {}
        return out


class JudgeReward(gymnasium.Wrapper[np.ndarray, Any, np.ndarray, Any]):
    """R = (1 − α)·R_env + α·R_judge, R_judge asked every ``every`` steps and held between."""

    def __init__(self, env: TaskEnv, judge: Any, alpha: float, *, every: int = 1) -> None:
        from vla_bench_rewards.evaluate import asked_question
        from vla_bench_rewards.probes import PROBES

        super().__init__(env)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"--alpha {alpha} must be between 0 and 1 (the report used 0.15)")
        self.task_env = env
        self.judge = judge
        self.alpha = alpha
        self.every = max(1, every)
        self.question = asked_question(judge, PROBES["progress"])
        self.stats = RewardStats()
        self._held = 0.0
        self._since = 0

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """A new episode; the judge is asked again at its first step."""
        self._since = 0
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """The mixed reward; ``info["judge_reward"]`` is the judge's part."""
        from vla_bench_rewards.judges.base import Query

        obs, reward, terminated, truncated, info = self.env.step(action)
        if self._since % self.every == 0:
            query = Query(
                frames=(self.task_env.render(),),
                instruction=self.task_env.task_spec.instruction,
                question=self.question,
            )
            start = time.perf_counter()
            answer = self.judge.answer(query)
            self.stats.judge_s += time.perf_counter() - start
            self.stats.judge_calls += 1
            self.stats.judge_cost_usd += answer.cost_usd
            if answer.value is None or not math.isfinite(answer.value):
                self.stats.judge_unreadable += 1
                self._held = 0.0
            else:
                self._held = float(answer.value)
        self._since += 1
        mixed = (1.0 - self.alpha) * float(reward) + self.alpha * self._held
        self.stats.steps += 1
        self.stats.reward_sum += mixed
        self.stats.components["env"] = self.stats.components.get("env", 0.0) + float(reward)
        self.stats.components["judge"] = self.stats.components.get("judge", 0.0) + self._held
        return obs, mixed, terminated, truncated, {**info, "judge_reward": self._held}


RewardFunction = Callable[[dict[str, float], int], tuple[float, dict[str, float]]]
"""(documented inputs after the step, action index) -> (reward, components)."""

Inputs = Callable[[TaskEnv, bool], dict[str, float]]
"""(env after the step, whether the step ended the episode in failure) -> the inputs."""


class FunctionReward(gymnasium.Wrapper[np.ndarray, Any, np.ndarray, Any]):
    """R = ``function(inputs, action)``: replaces the task's reward (Eureka's candidates)."""

    def __init__(self, env: TaskEnv, function: RewardFunction, inputs: Inputs) -> None:
        super().__init__(env)
        self.task_env = env
        self.function = function
        self.inputs = inputs
        self.stats = RewardStats()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """The function's reward for the state the action led to."""
        obs, _, terminated, truncated, info = self.env.step(action)
        failed = bool(terminated and not info.get("success"))
        value, components = self.function(self.inputs(self.task_env, failed), int(action))
        self.stats.steps += 1
        self.stats.reward_sum += value
        for name, part in components.items():
            self.stats.components[name] = self.stats.components.get(name, 0.0) + part
        return obs, value, terminated, truncated, info


def rollout(policy: Any, env: TaskEnv, seed: int) -> tuple[float, bool, int]:
    """One deterministic episode of ``policy`` (an SB3 policy) in the task's own reward:
    (return, success, steps)."""
    obs, _ = env.reset(seed=seed)
    total, success, steps, done = 0.0, False, 0, False
    while not done:
        action, _ = policy.predict(obs, deterministic=True)
        obs, _, terminated, truncated, info = env.step(int(np.asarray(action).item()))
        total += float(info["env_reward"])
        steps += 1
        success = success or bool(info.get("success"))
        done = terminated or truncated
    return total, success, steps


def screenshots(
    policy: Any, env: TaskEnv, seed: int, steps: int, fractions: tuple[float, ...]
) -> list[tuple[int, np.ndarray]]:
    """(step, frame) at ``fractions`` of an episode of ``steps`` steps, replayed: the policy
    is deterministic and the seed fixes the start, so the replay is the same episode. Only
    the chosen frames are kept in memory. ``env`` must render."""
    wanted = sorted({round(f * steps) for f in fractions})
    obs, _ = env.reset(seed=seed)
    shots = [(0, env.render())] if 0 in wanted else []
    for step in range(1, steps + 1):
        action, _ = policy.predict(obs, deterministic=True)
        obs, _, terminated, truncated, _ = env.step(int(np.asarray(action).item()))
        if step in wanted:
            shots.append((step, env.render()))
        if terminated or truncated:
            break
    return shots
