"""Registers LIBERO and LIBERO-PRO with vla-bench (entry point ``vla_bench: libero``).

Task ``k`` of suite ``s`` is ``s-k`` (``libero_spatial-0``); ``--task libero_spatial`` runs a
whole suite. Importing this module reads the committed catalog only: LIBERO and robosuite are
imported when a task is built. No task has a scripted expert.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from harness.hookspecs import hookimpl
from vla_bench_libero.catalog import suites
from vla_bench_libero.conventions import ACTION_SPACE, DEFAULT_CONVENTION

if TYPE_CHECKING:
    from harness.registry import Registry
    from vla_bench_libero.task import LiberoTask


def make_task(
    name: str,
    convention: str = DEFAULT_CONVENTION,
    render: str = "canonical",
    image_size: str | None = None,
    num_steps_wait: str | None = None,
    max_steps: str | None = None,
) -> LiberoTask:
    """Build LIBERO task ``name``; the options are ``--task-args`` strings.

    ``convention`` lerobot (default) or openpi; ``render`` canonical (default) or fast;
    ``image_size``, ``num_steps_wait`` and ``max_steps`` override the convention's.
    """
    from vla_bench_libero.task import LiberoTask, TaskOptions

    options = TaskOptions.parse(convention, render, image_size, num_steps_wait, max_steps)
    return LiberoTask(name, options)


@hookimpl
def vla_bench_register_tasks(registry: Registry) -> None:
    """The five LIBERO suites and the sixteen LIBERO-PRO suites, one task per suite entry."""
    for suite in suites().values():
        for task in suite.tasks:
            registry.add_task(
                task.name,
                partial(make_task, task.name),
                suite=suite.name,
                description=(
                    task.instruction
                    if suite.perturbation is None
                    else f"{suite.description}: {task.instruction}"
                ),
                action_space=ACTION_SPACE.name,
            )
