"""The :class:`~harness.contract.Task` each manipulation env is served through."""

from __future__ import annotations

from harness.contract import EpisodeSpec, TaskSpec, Track, seeded_track
from vla_bench_manipulation.env import (
    ACTION_LIMITS_DOC,
    ACTION_SPACE,
    CAMERAS,
    CONTROL_HZ,
    STATE_FIELDS,
    ManipulationEnv,
    image_shape,
)

SUITE = "manipulation"
TRACK_VERSION = "1"
"""Bump when a change alters what any seed of any default track produces."""
TRACK_SIZE = 50


class ManipulationTask:
    """A manipulation task: its spec, its default track and an env per episode.

    ``image_size`` (an int or (height, width)) sets both cameras; ``shadows`` turns on shadow
    maps (much slower on a CPU renderer, see DESIGN.md).
    """

    robot_type = "vla-bench-floating-gripper"
    """The embodiment, for recorded datasets: a free-floating parallel gripper, no arm."""

    def __init__(
        self,
        env_class: type[ManipulationEnv],
        *,
        instruction: str,
        description: str,
        base_seed: int,
        image_size: int | str | tuple[int, int] = 224,
        shadows: bool | str = False,
    ) -> None:
        self._env_class = env_class
        self._image_size = image_shape(image_size)
        self._shadows = _flag("shadows", shadows)
        self._base_seed = base_seed
        self.spec = TaskSpec(
            name=env_class.task_name,
            version=TRACK_VERSION,
            suite=SUITE,
            instruction=instruction,
            control_hz=CONTROL_HZ,
            max_steps=env_class.max_steps,
            action_space=ACTION_SPACE,
            state_fields=STATE_FIELDS,
            cameras={c: self._image_size for c in CAMERAS},
            has_ee_pose=True,
            description=f"{description} {ACTION_LIMITS_DOC}",
        )

    def track(self) -> Track:
        """The default track: 50 episodes with seeds ``base_seed .. base_seed + 49``."""
        return seeded_track(self.spec.name, TRACK_VERSION, TRACK_SIZE, self._base_seed)

    def make_env(self, episode: EpisodeSpec, *, render: bool = True) -> ManipulationEnv:
        """A fresh env; the caller resets it with ``seed=episode.seed``."""
        return self._env_class(image_size=self._image_size, render=render, shadows=self._shadows)


def _flag(name: str, value: bool | str) -> bool:
    """A boolean option, also from ``--task-args`` text (true/false, 1/0, yes/no)."""
    if isinstance(value, bool):
        return value
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}={value!r} is not a boolean (use true or false)")
