"""Registers the ``openpi`` client policy and the ``bench serve`` command (nothing heavy)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.hookspecs import hookimpl

if TYPE_CHECKING:
    from harness.registry import Registry


@hookimpl
def vla_bench_register_policies(registry: Registry) -> None:
    """The client of any openpi-protocol server."""
    registry.add_policy(
        "openpi",
        "vla_bench_openpi.client:OpenpiPolicy",
        description="any server speaking openpi's wire protocol (url=ws://host:port)",
        # Pure Python waiting on a socket, with its own reply timeout: safe in the runner.
        in_process=True,
    )


@hookimpl
def vla_bench_register_commands(registry: Registry) -> None:
    """``bench serve``, imported only when invoked."""
    registry.add_command(
        "serve",
        "vla_bench_openpi.cli:serve",
        description="serve a policy over openpi's wire protocol, with batching",
    )
