"""The :class:`~harness.contract.Task` each Meta-World v3 task is served through."""

from __future__ import annotations

import threading
from typing import Any

from harness.contract import EpisodeSpec, TaskSpec, Track, seeded_track
from vla_bench_metaworld.catalog import TASKS
from vla_bench_metaworld.env import (
    ACTION_SPACE,
    CONTROL_HZ,
    STATE_FIELDS,
    MetaWorldEnv,
)
from vla_bench_metaworld.sim import CAMERA, IMAGE_SHAPE, MAX_STEPS, RENDER_MODES, Blueprint

SUITE = "metaworld"
TRACK_VERSION = "1"
"""Bump when a change alters what any seed of any track produces. The spec and track version
is ``<TRACK_VERSION>-<render mode>``, so ``render=fast`` runs never merge with canonical ones."""
TRACK_SIZE = 50
"""Episodes per task: lerobot-eval's default ``eval.n_episodes``."""
BASE_SEED = 1000
"""lerobot-eval's default ``--seed``: its episode i of a task is seeded ``seed + i``."""


class MetaWorldTask:
    """One Meta-World v3 task: its spec, its track and a pool of simulations for episodes.

    ``render`` is ``canonical`` (Meta-World's shadows and MSAA, the default) or ``fast``.
    A simulation is expensive to make (model, renderer context), so envs borrow one from the
    pool and give it back at ``close``; every episode reseeds and resets it, which fixes its
    whole state (``tests/test_env.py`` checks a reused one replays a fresh one exactly).
    """

    robot_type = "sawyer"
    """The embodiment, for recorded datasets: Meta-World's Rethink Sawyer, the name
    Meta-World datasets in LeRobot's format use."""

    def __init__(self, name: str, *, render: str = "canonical") -> None:
        if name not in TASKS:
            raise ValueError(f"unknown Meta-World task {name!r} (bench list suites: metaworld)")
        if render not in RENDER_MODES:
            raise ValueError(
                f"render={render!r} is not a render mode; use render=canonical (the default, "
                f"as published) or render=fast (no shadows, no MSAA)"
            )
        difficulty, instruction = TASKS[name]
        self.render_mode = render
        self.version = f"{TRACK_VERSION}-{render}"
        self.spec = TaskSpec(
            name=name,
            version=self.version,
            suite=SUITE,
            instruction=instruction,
            control_hz=CONTROL_HZ,
            max_steps=MAX_STEPS,
            action_space=ACTION_SPACE,
            state_fields=STATE_FIELDS,
            cameras={CAMERA: IMAGE_SHAPE},
            has_ee_pose=True,
            description=(
                f"Meta-World v3 {name} ({difficulty.replace('_', ' ')}), as lerobot-eval runs "
                f"it; {render} rendering."
            ),
        )
        self._blueprint: Blueprint | None = None
        self._idle: list[Any] = []
        self._lock = threading.Lock()

    def track(self) -> Track:
        """Episodes 0..49 seeded 1000..1049: lerobot-eval's episodes with its default seed."""
        return seeded_track(self.spec.name, self.version, TRACK_SIZE, BASE_SEED)

    def make_env(self, episode: EpisodeSpec, *, render: bool = True) -> MetaWorldEnv:
        """An env over a pooled simulation; the caller resets it with ``seed=episode.seed``."""
        with self._lock:
            sim = self._idle.pop() if self._idle else None
            if sim is None and self._blueprint is None:
                self._blueprint = Blueprint(self.spec.name)
        if sim is None:
            assert self._blueprint is not None
            sim = self._blueprint.build(self.render_mode)
        return MetaWorldEnv(sim, self.spec.instruction, render=render, release=self._give_back)

    def _give_back(self, sim: Any) -> None:
        with self._lock:
            self._idle.append(sim)


def make_task(name: str, render: str = "canonical") -> MetaWorldTask:
    """Meta-World task ``name``; ``--task-args render=fast`` renders without shadows or MSAA."""
    return MetaWorldTask(name, render=render)
