"""Registers Meta-World v3 with vla-bench (entry point ``vla_bench: metaworld``).

Imports neither ``metaworld`` nor the task modules: a task's factory imports them when the task
is built, so ``bench list`` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.hookspecs import hookimpl
from vla_bench_metaworld.catalog import DIFFICULTIES, TASKS, suite_tasks

if TYPE_CHECKING:
    from harness.registry import Registry
    from vla_bench_metaworld.task import MetaWorldTask

SUITE = "metaworld"
EXPERT = "vla_bench_metaworld.expert:MetaWorldExpert"


@dataclass(frozen=True)
class TaskFactory:
    """Builds one named task; its keyword arguments are the task's ``--task-args`` options."""

    name: str

    def __call__(self, render: str = "canonical") -> MetaWorldTask:
        """``render``: ``canonical`` (default, Meta-World's shadows and MSAA) or ``fast``."""
        from vla_bench_metaworld.task import make_task

        return make_task(self.name, render=render)


@hookimpl
def vla_bench_register_tasks(registry: Registry) -> None:
    """The 50 tasks (suite ``metaworld``) and LeRobot's four difficulty suites."""
    for name, (difficulty, instruction) in TASKS.items():
        registry.add_task(
            name,
            TaskFactory(name),
            suite=SUITE,
            description=f"{instruction} ({difficulty.replace('_', ' ')})",
            expert=EXPERT,
            action_space="metaworld_xyz_gripper",
        )
    for difficulty in DIFFICULTIES:
        registry.add_suite(
            f"{SUITE}_{difficulty}",
            suite_tasks(difficulty),
            description=f"Meta-World v3, LeRobot's {difficulty.replace('_', ' ')} tasks",
        )
