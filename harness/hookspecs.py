"""Hook specifications: the whole plugin API. A plugin module implements any of these.

Each hook receives the :class:`~harness.registry.Registry` and calls its ``add_*`` methods with
lazily imported targets. Plugins are found through the ``vla_bench`` entry-point group; the
engine's own baselines are registered the same way.
"""

from __future__ import annotations

import pluggy

from harness.registry import Registry

PROJECT = "vla_bench"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def vla_bench_register_policies(registry: Registry) -> None:
    """Add policy factories with ``registry.add_policy(name, "module:attr", ...)``."""


@hookspec
def vla_bench_register_tasks(registry: Registry) -> None:
    """Add task factories (and their scripted experts) with ``registry.add_task(...)``."""


@hookspec
def vla_bench_register_reporters(registry: Registry) -> None:
    """Add leaderboard renderers with ``registry.add_reporter(name, "module:attr")``."""


@hookspec
def vla_bench_register_commands(registry: Registry) -> None:
    """Add ``bench`` subcommands with ``registry.add_command(name, "module:click_command")``."""


@hookspec
def vla_bench_register_judges(registry: Registry) -> None:
    """Add judges (frames -> success, reward or a probe's answer) with ``registry.add_judge``."""
