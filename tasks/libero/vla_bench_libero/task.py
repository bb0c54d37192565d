"""The :class:`~harness.contract.Task` for one LIBERO task, its options and its track.

A task's track is its 50 standard initial states: episode ``i`` starts from init state ``i``
with numpy seeded ``seed_base + i`` (the convention's). Every option that changes what a policy
sees or how long it may act changes the track version, so runs made differently are never
merged or ranked together.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from harness.contract import EpisodeSpec, TaskSpec, Track
from vla_bench_libero import sim
from vla_bench_libero.catalog import find_task, suites
from vla_bench_libero.conventions import (
    ACTION_SPACE,
    CAMERAS,
    CONTROL_HZ,
    CONVENTIONS,
    DEFAULT_CONVENTION,
    STATE_FIELDS,
    Convention,
)
from vla_bench_libero.dependency import import_libero
from vla_bench_libero.env import EpisodeSetup, LiberoEnv
from vla_bench_libero.init_states import load_init_states

TASK_VERSION = "1"
"""Bump when a change alters what any episode of any track produces."""


@dataclass(frozen=True)
class TaskOptions:
    """The resolved ``--task-args`` of a LIBERO task (defaults from its convention)."""

    convention: Convention
    render: str
    image_size: int
    num_steps_wait: int
    max_steps: int | None

    @staticmethod
    def parse(
        convention: str = DEFAULT_CONVENTION,
        render: str = "canonical",
        image_size: int | str | None = None,
        num_steps_wait: int | str | None = None,
        max_steps: int | str | None = None,
    ) -> TaskOptions:
        """Validate option strings; ValueError with one line naming the option and the fix."""
        if convention not in CONVENTIONS:
            raise ValueError(
                f"convention={convention!r} is unknown (use {' or '.join(CONVENTIONS)})"
            )
        if render not in sim.RENDER_MODES:
            raise ValueError(f"render={render!r} is unknown (use {' or '.join(sim.RENDER_MODES)})")
        chosen = CONVENTIONS[convention]
        size = _integer("image_size", image_size, 16, 1024)
        wait = _integer("num_steps_wait", num_steps_wait, 0, 1000)
        return TaskOptions(
            convention=chosen,
            render=render,
            image_size=chosen.image_size if size is None else size,
            num_steps_wait=chosen.num_steps_wait if wait is None else wait,
            max_steps=_integer("max_steps", max_steps, 1, 100_000),
        )

    @property
    def render_size(self) -> int:
        """The size robosuite renders at: the convention's, or the asked size for a convention
        that renders at the size the policy gets (LeRobot)."""
        same = self.convention.render_size == self.convention.image_size
        return self.image_size if same else self.convention.render_size

    def track_version(self) -> str:
        """``1.<convention>`` plus every setting that differs from that convention's."""
        parts = [TASK_VERSION, self.convention.name]
        if self.image_size != self.convention.image_size:
            parts.append(f"image_size={self.image_size}")
        if self.num_steps_wait != self.convention.num_steps_wait:
            parts.append(f"num_steps_wait={self.num_steps_wait}")
        if self.max_steps is not None:
            parts.append(f"max_steps={self.max_steps}")
        if self.render != "canonical":
            parts.append(f"render={self.render}")
        return ".".join(parts)


def _integer(name: str, value: int | str | None, low: int, high: int) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not an integer (e.g. {name}={low})") from None
    if not low <= number <= high:
        raise ValueError(f"{name}={number} is outside {low}..{high}")
    return number


class LiberoTask:
    """One LIBERO (or LIBERO-PRO) task: its spec, its 50-episode track and an env per episode."""

    robot_type = "panda"
    """The embodiment, for recorded datasets: robosuite's Franka Panda, the name LIBERO
    datasets in LeRobot's format use."""

    def __init__(self, name: str, options: TaskOptions) -> None:
        self.options = options
        self.catalog_task = find_task(name)
        suite = suites()[self.catalog_task.suite]
        self.base_suite = suite.base
        default_steps = options.convention.max_steps[suite.base]
        self.init_states = load_init_states(self.catalog_task, suite.base)
        self.spec = TaskSpec(
            name=name,
            version=TASK_VERSION,
            suite=suite.name,
            instruction=self.catalog_task.instruction,
            control_hz=CONTROL_HZ,
            max_steps=options.max_steps or default_steps,
            action_space=ACTION_SPACE,
            state_fields=STATE_FIELDS,
            cameras={c: (options.image_size, options.image_size) for c in CAMERAS},
            has_ee_pose=True,
            description=(
                f"{suite.description}, task {self.catalog_task.index} "
                f"({self.catalog_task.libero_name}). Convention {options.convention.name}: "
                f"{options.convention.source}. Cameras image (agentview) and image2 (wrist), "
                f"rotated 180°; render={options.render}."
            ),
        )

    def track(self) -> Track:
        """Episode ``i``: init state ``i``, numpy seed ``seed_base + i``."""
        base = self.options.convention.seed_base
        episodes = tuple(
            EpisodeSpec(i, base + i, {"init_state": i}) for i in range(len(self.init_states))
        )
        return Track(self.spec.name, self.options.track_version(), episodes)

    def make_env(self, episode: EpisodeSpec, *, render: bool = True) -> LiberoEnv:
        """An env for ``episode``; its simulator comes from this process's pool at reset."""
        task = self.catalog_task
        paths = import_libero("libero.libero")
        bddl = os.path.join(
            paths.get_libero_path("bddl_files"), task.suite, f"{task.libero_name}.bddl"
        )
        key = sim.SimKey(bddl, self.options.render_size, render, self.options.render)
        setup = EpisodeSetup(
            key=key,
            instruction=self.spec.instruction,
            init_states=self.init_states,
            image_size=self.options.image_size,
            num_steps_wait=self.options.num_steps_wait,
            max_steps=self.spec.max_steps,
        )
        return LiberoEnv(setup, episode)
