"""The Gymnasium env a policy sees: LeRobot's Meta-World observation, action and episode.

Where each convention comes from (LeRobot 0.6.1):

- image ``corner2``, 480 x 480 x 3 uint8, flipped on both axes (``MetaworldEnv._format_raw_obs``
  flips it with ``np.flip(image, (0, 1))``; the camera renders upside down and mirrored);
- ``state``: the first 4 values of Meta-World's observation (``agent_pos = raw_obs[:4]``) as
  float32, which is what ``preprocess_observation`` turns ``agent_pos`` into;
- ``instruction``: LeRobot's task description (``TASK_DESCRIPTIONS``), given to the policy as
  ``task``;
- action: 4 floats, handed to Meta-World as float32 (LeRobot's policies output float32 tensors,
  and Meta-World's arithmetic on a float32 action stays in float32);
- the episode ends at Meta-World's ``success`` (LeRobot: ``terminated = done or is_success``)
  or after 500 steps (``_max_episode_steps``, Meta-World's ``max_path_length``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from harness.contract import ActionSpace
from vla_bench_metaworld.sim import CAMERA, IMAGE_SHAPE

ACTION_SPACE = ActionSpace(
    name="metaworld_xyz_gripper",
    names=("dx", "dy", "dz", "gripper"),
    low=(-1.0, -1.0, -1.0, -1.0),
    high=(1.0, 1.0, 1.0, 1.0),
    description=(
        "Meta-World's Sawyer action (LeRobot's 4-d action). dx, dy, dz move the hand's mocap "
        "target in the world frame by 1 cm per unit per step (action_scale 1/100; the target "
        "stays inside the hand's workspace box), so the hand follows within the step's 5 "
        "physics substeps at 80 Hz. gripper is the finger actuators' effort: -1 opens, +1 "
        "closes (the two fingers get +g and -g). Values outside [-1, 1] are clipped."
    ),
    hold=(0.0, 0.0, 0.0, None),  # stay; the finger effort as commanded last
)
"""The action space of every Meta-World task (Meta-World's ``Box(-1, 1, (4,))``)."""

STATE_FIELDS = ("hand_x", "hand_y", "hand_z", "gripper_opening")
"""Meta-World's ``obs[:4]``: the hand's position in metres (world frame) and the distance
between the fingers over 0.1 m, clipped to [0, 1] (1 = wide open)."""

CONTROL_HZ = 80.0
"""Meta-World's step: 5 MuJoCo substeps of 2.5 ms (LeRobot's ``fps`` and ``render_fps``: 80)."""

RAW_OBS_DIM = 39


class MetaWorldEnv(gym.Env[dict[str, Any], np.ndarray]):
    """One episode's env over a Meta-World simulation (lent by the task, given back at close).

    ``sim`` is a Meta-World env built by :class:`vla_bench_metaworld.sim.Blueprint`;
    ``release`` hands it back to the task's pool when this env closes.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": CONTROL_HZ}  # noqa: RUF012 (gym's)

    def __init__(
        self,
        sim: Any,
        instruction: str,
        *,
        render: bool = True,
        release: Callable[[Any], None] | None = None,
    ) -> None:
        self.sim = sim
        self.instruction = instruction
        self.render_images = render
        self._release = release
        self.raw_observation = np.zeros(RAW_OBS_DIM)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (len(ACTION_SPACE.names),), np.float32)
        height, width = IMAGE_SHAPE
        self.observation_space = gym.spaces.Dict(
            {
                "images": gym.spaces.Dict(
                    {CAMERA: gym.spaces.Box(0, 255, (height, width, 3), np.uint8)}
                ),
                "state": gym.spaces.Box(-np.inf, np.inf, (len(STATE_FIELDS),), np.float32),
            }
        )

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start the episode that ``seed`` fixes (as lerobot-eval: ``seed(s)`` then ``reset``)."""
        super().reset(seed=seed)
        if seed is not None:
            self.sim.seed(seed)
        raw, _ = self.sim.reset(seed=seed)
        self.raw_observation = raw
        return self._observation(raw), {"success": False, "ee_pose": self.ee_pose()}

    def step(self, action: np.ndarray) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """One Meta-World step; ``terminated`` on success, ``truncated`` at step 500."""
        array = np.asarray(action, dtype=np.float64)
        if array.shape != (len(ACTION_SPACE.names),) or not np.isfinite(array).all():
            raise ValueError(
                f"a Meta-World action is 4 finite floats (dx, dy, dz, gripper), got {array!r}"
            )
        raw, reward, _, truncated, info = self.sim.step(array.astype(np.float32))
        self.raw_observation = raw
        success = bool(info.get("success", 0))
        out = {"success": success, "ee_pose": self.ee_pose()}
        return self._observation(raw), float(reward), success, bool(truncated), out

    def render(self) -> np.ndarray:
        """The ``corner2`` frame as the policy sees it (flipped on both axes, as LeRobot)."""
        return np.ascontiguousarray(np.flip(self.sim.render(), (0, 1)))

    def ee_pose(self) -> np.ndarray:
        """The hand body's pose: x, y, z, qw, qx, qy, qz in the world frame."""
        hand = self.sim.data.body("hand")
        return np.concatenate([hand.xpos, hand.xquat])

    def close(self) -> None:
        """Give the simulation back to the task (it is reset and reseeded before reuse)."""
        if self._release is not None:
            self._release(self.sim)
            self._release = None

    def _observation(self, raw: np.ndarray) -> dict[str, Any]:
        images = {CAMERA: self.render()} if self.render_images else {}
        return {
            "images": images,
            "state": np.asarray(raw[: len(STATE_FIELDS)], dtype=np.float32),
            "instruction": self.instruction,
        }
