"""The plugin module named by the entry point: hooks that register names with lazy targets.

Nothing heavy is imported here; ``vla_bench_example.task`` is imported only when a run or a
check asks for one of these names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.hookspecs import hookimpl

if TYPE_CHECKING:
    from harness.registry import Registry


@hookimpl
def vla_bench_register_tasks(registry: Registry) -> None:
    """One task, in a suite of this plugin's own, with the expert that solves it."""
    registry.add_task(
        "example-reach",
        "vla_bench_example.task:ReachTask",
        suite="example",
        description="move a point to a target shown in the state",
        expert="vla_bench_example.task:ReachExpert",
        action_space="ee_delta_7d",
    )


@hookimpl
def vla_bench_register_policies(registry: Registry) -> None:
    """A policy that reads only the observation (not privileged), so it is ranked."""
    registry.add_policy(
        "example-pd",
        "vla_bench_example.task:ProportionalPolicy",
        description="proportional controller on the observed offset (example)",
        action_spaces=("ee_delta_7d",),
    )
