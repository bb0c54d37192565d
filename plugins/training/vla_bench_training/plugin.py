"""Registers the ``demos``, ``import-handtracking`` and ``train`` commands (nothing heavy)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.hookspecs import hookimpl

if TYPE_CHECKING:
    from harness.registry import Registry


@hookimpl
def vla_bench_register_commands(registry: Registry) -> None:
    """The demonstration and training commands; each module is imported only when invoked."""
    registry.add_command(
        "demos",
        "vla_bench_training.cli:demos",
        description="record a task's scripted expert as a LeRobot dataset",
    )
    registry.add_command(
        "import-handtracking",
        "vla_bench_training.cli:import_handtracking",
        description="turn hand-tracking logs into a LeRobot dataset, with a replay check",
    )
    registry.add_command(
        "train",
        "vla_bench_training.cli:train",
        description="train or fine-tune a policy on a LeRobot dataset",
    )
