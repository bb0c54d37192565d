"""What the scripted experts share: reading the env's hidden state and moving towards a pose."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from harness.contract import ActionChunk, EpisodeSpec, Observation, PolicyBase, TaskSpec
from vla_bench_manipulation.env import POS_STEP, ROT_STEP, ManipulationEnv
from vla_bench_manipulation.geometry import quat_conj, quat_from_euler, quat_mul, quat_to_rotvec

if TYPE_CHECKING:
    import gymnasium

OPEN = -1.0
CLOSED = 1.0


class Expert(PolicyBase):
    """A privileged, closed-loop state machine for one task; ``act`` reads the env each call."""

    action_spaces: ClassVar[tuple[str, ...]] = ("ee_delta_7d",)
    privileged = True
    uses_images = False
    warmup_calls = 0
    env_class: ClassVar[type[ManipulationEnv]]

    def reset(
        self, task: TaskSpec, episode: EpisodeSpec, env: gymnasium.Env[Any, Any] | None
    ) -> None:
        """Take hold of the episode's env (the runner hands it to privileged policies)."""
        if env is None:
            raise ValueError(
                f"the {task.name} expert reads the simulator's hidden state and needs the env "
                "at reset (a runner passes it to policies with privileged=True)"
            )
        unwrapped = env.unwrapped
        if not isinstance(unwrapped, self.env_class):
            raise TypeError(
                f"the {self.env_class.task_name} expert drives {self.env_class.__name__}, "
                f"got {type(unwrapped).__name__}"
            )
        self.env = unwrapped
        self.phase = "start"
        self.phase_steps = 0

    def act(self, observation: Observation) -> ActionChunk:
        """One action computed from the env's current state."""
        return ActionChunk(self.next_action()[None, :])

    def next_action(self) -> np.ndarray:
        """The task's state machine (subclasses)."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """A scripted expert: no checkpoint, no weights."""
        return {"checkpoint": None, "weights": "scripted"}

    def goto_phase(self, phase: str) -> None:
        """Switch state and restart the step counter."""
        self.phase = phase
        self.phase_steps = 0

    def move(
        self, pos: np.ndarray, yaw: float, gripper: float, speed: float = 0.9
    ) -> tuple[np.ndarray, float]:
        """Action towards ``pos`` with fingers down and heading ``yaw``; also the distance left.

        ``speed`` scales the per-step limit (1.0 = the action space's bound).
        """
        env = self.env
        delta = np.clip(pos - env.ee_pos, -POS_STEP * speed, POS_STEP * speed)
        error = quat_to_rotvec(quat_mul(quat_from_euler(0.0, 0.0, yaw), quat_conj(env.ee_quat)))
        rot = np.clip(error, -ROT_STEP * speed, ROT_STEP * speed)
        action = np.concatenate([delta, rot, [gripper]])
        return action, float(np.linalg.norm(pos - env.ee_pos))


def nearest_yaw(candidates: list[float], current: float) -> float:
    """The candidate heading that needs the least rotation from ``current``."""
    return min(candidates, key=lambda c: abs((c - current + np.pi) % (2 * np.pi) - np.pi))
