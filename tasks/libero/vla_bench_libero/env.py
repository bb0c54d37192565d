"""One LIBERO episode as a Gymnasium env with vla-bench's observation dict.

``reset`` seeds numpy's generator with the episode seed, restores the episode's init state,
and lets the scene settle for ``num_steps_wait`` no-op steps that the policy does not see, as
openpi and LeRobot do. The observation then holds both cameras rotated by 180° at the convention's
size, the 8-d state and the task's instruction. ``info["success"]`` is LIBERO's own success
check after each step; a success ends the episode (``terminated``; LIBERO's reward, 1.0 on
success, else 0.0).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from harness.contract import EpisodeSpec
from vla_bench_libero import observation as obs_utils
from vla_bench_libero import sim
from vla_bench_libero.conventions import ACTION_SPACE, CAMERAS, CONTROL_HZ, NOOP_ACTION

STATE_BOUND = np.array([5, 5, 5, 2 * np.pi, 2 * np.pi, 2 * np.pi, 0.1, 0.1], dtype=np.float32)
"""Loose bounds of the state: the scene's extent (m), an axis-angle of at most 2π, finger travel."""


@dataclass(frozen=True)
class EpisodeSetup:
    """What every episode of one task shares: the scene, its states and the convention."""

    key: sim.SimKey
    instruction: str
    init_states: np.ndarray
    image_size: int
    num_steps_wait: int
    max_steps: int


class LiberoEnv(gymnasium.Env[dict[str, Any], np.ndarray]):
    """Episode ``episode`` of a LIBERO task: init state ``episode.options["init_state"]``
    (else ``episode.index``), numpy seeded with ``episode.seed`` unless ``reset`` gets one."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": CONTROL_HZ}  # noqa: RUF012 (gymnasium's own type)

    def __init__(
        self, setup: EpisodeSetup, episode: EpisodeSpec, pool: sim.SimPool = sim.POOL
    ) -> None:
        self.setup = setup
        self.episode = episode
        self._pool = pool
        self._sim: Any = None
        self._steps = 0
        size = setup.image_size
        cameras = CAMERAS if setup.key.cameras else ()
        self.observation_space = spaces.Dict(
            {
                "images": spaces.Dict(
                    {c: spaces.Box(0, 255, (size, size, 3), np.uint8) for c in cameras}
                ),
                "state": spaces.Box(-STATE_BOUND, STATE_BOUND, (8,), np.float32),
                "instruction": spaces.Text(max_length=512, charset=string.printable + "’"),
            }
        )
        self.action_space = spaces.Box(-1.0, 1.0, (ACTION_SPACE.dim,), np.float32)

    @property
    def init_state_index(self) -> int:
        """Which of the task's init states this episode starts from."""
        return int(self.episode.options.get("init_state", self.episode.index))

    @property
    def raw(self) -> Any:
        """The LIBERO env underneath (for tests and privileged tools); None before reset."""
        return self._sim

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start the episode: seed, init state, settle; see the module docstring."""
        super().reset(seed=seed)
        states = self.setup.init_states
        index = self.init_state_index
        if not 0 <= index < len(states):
            raise ValueError(
                f"init state {index} does not exist; the task has {len(states)} "
                f"(0..{len(states) - 1})"
            )
        if self._sim is None:
            self._sim = self._pool.acquire(self.setup.key)
        episode_seed = self.episode.seed if seed is None else seed
        raw = sim.start_episode(self._sim, episode_seed, states[index])
        raw = sim.settle(self._sim, raw, self.setup.num_steps_wait, NOOP_ACTION)
        self._steps = 0
        return self._observation(raw), {"success": False, "ee_pose": obs_utils.ee_pose(raw)}

    def step(self, action: np.ndarray) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Apply one 7-d action (see ``libero_ee_delta_7d``) for one 20 Hz control step."""
        if self._sim is None:
            raise RuntimeError("call reset() before step()")
        command = np.asarray(action, dtype=np.float64)
        if command.shape != (ACTION_SPACE.dim,) or not np.isfinite(command).all():
            raise ValueError(
                f"action must be {ACTION_SPACE.dim} finite numbers "
                f"({', '.join(ACTION_SPACE.names)}); got shape {command.shape}"
            )
        raw, reward, _, _ = sim.step(self._sim, command.tolist())
        self._steps += 1
        success = bool(self._sim.check_success())
        info = {"success": success, "ee_pose": obs_utils.ee_pose(raw)}
        truncated = not success and self._steps >= self.setup.max_steps
        return self._observation(raw), float(reward), success, truncated, info

    def close(self) -> None:
        """Hand the simulator back to the pool for the task's next episode."""
        if self._sim is not None:
            self._pool.release(self.setup.key, self._sim)
            self._sim = None

    def _observation(self, raw: dict[str, Any]) -> dict[str, Any]:
        return {
            "images": obs_utils.images(raw, self.setup.image_size),
            "state": obs_utils.state_vector(raw),
            "instruction": self.setup.instruction,
        }
