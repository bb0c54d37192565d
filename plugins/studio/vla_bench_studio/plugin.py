"""Registers the ``studio`` command (entry point ``vla_bench: studio``; nothing heavy here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.hookspecs import hookimpl

if TYPE_CHECKING:
    from harness.registry import Registry


@hookimpl
def vla_bench_register_commands(registry: Registry) -> None:
    """``bench studio``; its module is imported only when the command is invoked."""
    registry.add_command(
        "studio",
        "vla_bench_studio.cli:studio",
        description="teleoperate a task in the browser (MuJoCo WASM) and record demos",
    )
