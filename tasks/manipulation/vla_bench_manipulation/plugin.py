"""Registers the manipulation suite with vla-bench (entry point ``vla_bench: manipulation``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.hookspecs import hookimpl

if TYPE_CHECKING:
    from harness.registry import Registry

TASKS = {
    "valve": (
        "valve",
        "ValveExpert",
        "turn a handwheel clockwise or counter-clockwise by an angle",
    ),
    "pick_place": (
        "pick_place",
        "PickPlaceExpert",
        "put the named object in the bowl or on the plate",
    ),
    "handle": ("handle", "HandleExpert", "press a lever door handle down past its latch point"),
}
"""Task name -> (module, expert class, one-line description)."""


@hookimpl
def vla_bench_register_tasks(registry: Registry) -> None:
    """The ``manipulation`` suite: valve, pick_place, handle, each with its scripted expert."""
    for name, (module, expert, description) in TASKS.items():
        registry.add_task(
            name,
            f"vla_bench_manipulation.{module}:make_task",
            suite="manipulation",
            description=description,
            expert=f"vla_bench_manipulation.{module}:{expert}",
            action_space="ee_delta_7d",
        )
