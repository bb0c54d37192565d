"""``example-reach``: move a point in 3-D to a target within 1 cm, in at most 60 steps.

Everything a task plugin owes the contract is here (see ``harness.contract``):

- a :class:`~harness.contract.TaskSpec` saying what the policy may know (instruction, control
  rate, step limit, camera sizes, state layout, action space and its semantics);
- a :class:`~harness.contract.Track`: the fixed episodes every policy is scored on;
- ``make_env(episode, render=...)`` returning a Gymnasium env whose ``reset(seed=...)`` fixes
  the start, whose observations are the contract's dict, and whose ``info["success"]`` says
  when the task is done (the runner stops at the first success and enforces ``max_steps``).
"""

from __future__ import annotations

import string
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from harness.contract import (
    EE_DELTA_7D,
    ActionChunk,
    EpisodeSpec,
    Observation,
    PolicyBase,
    PolicyConfig,
    PolicyConfigError,
    TaskSpec,
    Track,
    seeded_track,
    with_bounds,
)

STEP_M = 0.02
# Rotation and gripper are part of ee_delta_7d; this point has neither, so the env ignores them.
SPACE = with_bounds(
    EE_DELTA_7D, [-STEP_M] * 3 + [-0.1] * 3 + [-1.0], [STEP_M] * 3 + [0.1] * 3 + [1.0]
)
STATE_FIELDS = ("x", "y", "z", "target_dx", "target_dy", "target_dz")
IMAGE = (32, 32)


class ReachEnv(gymnasium.Env[dict[str, Any], np.ndarray]):
    """A point and a target 5–15 cm away; a top-down 32x32 image shows both."""

    def __init__(self, render: bool) -> None:
        self.render_images = render
        self.observation_space = spaces.Dict(
            {
                "images": spaces.Dict(
                    {"top": spaces.Box(0, 255, (*IMAGE, 3), np.uint8)} if render else {}
                ),
                "state": spaces.Box(-1.0, 1.0, (len(STATE_FIELDS),), np.float32),
                "instruction": spaces.Text(64, charset=string.printable),
            }
        )
        self.action_space = spaces.Box(
            np.asarray(SPACE.low), np.asarray(SPACE.high), dtype=np.float64
        )
        self.pos: np.ndarray = np.zeros(3)
        self.target: np.ndarray = np.zeros(3)

    def _obs(self) -> Observation:
        images = {}
        if self.render_images:
            image = np.zeros((*IMAGE, 3), dtype=np.uint8)
            for point, channel in ((self.pos, 1), (self.target, 0)):
                row, col = np.clip((point[:2] + 0.2) / 0.4 * IMAGE[0], 0, IMAGE[0] - 1)
                image[int(row), int(col), channel] = 255
            images["top"] = image
        state = np.concatenate([self.pos, self.target - self.pos]).astype(np.float32)
        return {"images": images, "state": state, "instruction": "reach the red dot"}

    def _info(self) -> dict[str, Any]:
        return {
            "success": bool(np.linalg.norm(self.target - self.pos) < 0.01),
            "ee_pose": np.array([*self.pos, 1.0, 0.0, 0.0, 0.0]),
        }

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """A new target, fixed by ``seed``."""
        super().reset(seed=seed)
        self.pos = np.zeros(3)
        direction = self.np_random.normal(size=3)
        self.target = direction / np.linalg.norm(direction) * self.np_random.uniform(0.05, 0.15)
        return self._obs(), self._info()

    def step(self, action: np.ndarray) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        """Move by the action's translation (the runner has clipped it to the bounds)."""
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (7,) or not np.all(np.isfinite(action)):
            raise ValueError(f"action must be 7 finite numbers, got shape {action.shape}")
        self.pos = self.pos + action[:3]
        info = self._info()
        return self._obs(), -float(np.linalg.norm(self.target - self.pos)), False, False, info


class ReachTask:
    """The task object: spec, track, env factory (options come as strings from --task-args)."""

    def __init__(self) -> None:
        self.spec = TaskSpec(
            name="example-reach",
            version="1",
            suite="example",
            instruction="reach the red dot",
            control_hz=10.0,
            max_steps=60,
            action_space=SPACE,
            state_fields=STATE_FIELDS,
            cameras={"top": IMAGE},
            has_ee_pose=True,
            description="A point mass moves up to 2 cm per step toward a target 5-15 cm away.",
        )

    def track(self) -> Track:
        """20 episodes, seeds 100..119."""
        return seeded_track(self.spec.name, "1", 20, base_seed=100)

    def make_env(self, episode: EpisodeSpec, *, render: bool = True) -> ReachEnv:
        """A fresh env; the runner resets it with ``seed=episode.seed``."""
        return ReachEnv(render)


class ReachExpert(PolicyBase):
    """The task's privileged expert: reads the target from the env, not the observation."""

    privileged = True
    warmup_calls = 0
    uses_images = False

    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: Any) -> None:
        """Keep the env (privileged policies get it at reset)."""
        self.env = env

    def act(self, observation: Observation) -> ActionChunk:
        """Straight to the target, at most one step's length per axis."""
        delta = np.clip(self.env.target - self.env.pos, -STEP_M, STEP_M)
        return ActionChunk(np.concatenate([delta, np.zeros(3), [-1.0]])[None, :])


class ProportionalPolicy(PolicyBase):
    """Moves by a gain times the observed offset; answers chunks of 4 actions."""

    warmup_calls = 0
    uses_images = False
    n_action_steps = 2

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__(config)
        self.gain = float(config.options.get("gain", "0.5"))

    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: Any) -> None:
        """Refuse a task whose state does not carry the target offset."""
        if task.state_fields != STATE_FIELDS:
            raise PolicyConfigError(
                f"example-pd reads the target offset from the state of example-reach; "
                f"task {task.name!r} has state {task.state_fields}"
            )

    def act(self, observation: Observation) -> ActionChunk:
        """Four steps that each cover ``gain`` of the remaining offset."""
        offset: np.ndarray = np.asarray(observation["state"][3:], dtype=np.float64)
        rows = []
        for _ in range(4):
            step = self.gain * offset
            offset = offset - step
            rows.append(np.concatenate([step, np.zeros(3), [-1.0]]))
        return ActionChunk(np.array(rows))

    def describe(self) -> dict[str, Any]:
        """No learned weights."""
        return {"checkpoint": None, "weights": "none", "gain": self.gain}
