"""A task plugin shaped like the manipulation suite, for running LeRobot backends via bench run.

Front and wrist cameras at 224x224, end-effector position + quaternion + gripper state, and
``ee_delta_7d`` actions; the end effector integrates the commanded deltas. Loaded through
``VLA_BENCH_PLUGINS=lerobot_probe`` like a plugin under development.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from lerobot_kit import STATE_FIELDS

from harness.contract import EE_DELTA_7D, EpisodeSpec, TaskSpec, Track, seeded_track, with_bounds
from harness.hookspecs import hookimpl

SPACE = with_bounds(EE_DELTA_7D, [-0.05] * 3 + [-0.2] * 3 + [-1], [0.05] * 3 + [0.2] * 3 + [1])
SPEC = TaskSpec(
    name="lerobot_probe",
    version="1",
    suite="lerobot_probe",
    instruction="turn the valve clockwise",
    control_hz=10.0,
    max_steps=12,
    action_space=SPACE,
    state_fields=STATE_FIELDS,
    cameras={"front": (224, 224), "wrist": (224, 224)},
    has_ee_pose=True,
)


class ProbeEnv(gymnasium.Env):
    """The end effector follows the commanded translation; images encode its position."""

    def __init__(self, render: bool) -> None:
        self.render_images = render
        self.pos: np.ndarray = np.zeros(3)
        self.gripper = 0.0

    def _obs(self) -> dict[str, Any]:
        images = {}
        if self.render_images:
            shade = np.clip(self.pos * 1000 + 128, 0, 255).astype(np.uint8)
            images = {c: np.broadcast_to(shade, (224, 224, 3)).copy() for c in SPEC.cameras}
        state = np.array([*self.pos, 1.0, 0.0, 0.0, 0.0, self.gripper], dtype=np.float32)
        return {"images": images, "state": state, "instruction": SPEC.instruction}

    def _info(self) -> dict[str, Any]:
        return {"success": False, "ee_pose": [*self.pos.tolist(), 1.0, 0.0, 0.0, 0.0]}

    def reset(self, *, seed: int | None = None, options: Any = None) -> Any:
        super().reset(seed=seed)
        self.pos = self.np_random.uniform(-0.1, 0.1, size=3)
        self.gripper = 0.0
        return self._obs(), self._info()

    def step(self, action: Any) -> Any:
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (7,) or not np.all(np.isfinite(action)):
            raise ValueError(f"action must be 7 finite numbers, got shape {action.shape}")
        self.pos = self.pos + action[:3]
        self.gripper = float(action[6])
        return self._obs(), 0.0, False, False, self._info()


class ProbeTask:
    """The task object (harness.contract.Task)."""

    spec = SPEC

    def track(self) -> Track:
        return seeded_track(SPEC.name, "1", 4, base_seed=500)

    def make_env(self, episode: EpisodeSpec, *, render: bool = True) -> ProbeEnv:
        return ProbeEnv(render)


@hookimpl
def vla_bench_register_tasks(registry: Any) -> None:
    """The probe task."""
    registry.add_task("lerobot_probe", "lerobot_probe:ProbeTask", suite="lerobot_probe")
