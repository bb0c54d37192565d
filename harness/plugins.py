"""Finding and loading plugins: entry points, extra modules, and broken-plugin bookkeeping.

A plugin that fails to import or to register is recorded with its error and skipped; the
rest keep working. ``VLA_BENCH_DISABLE_PLUGIN_AUTOLOAD=1`` loads only this project's own
distributions. ``VLA_BENCH_PLUGINS=mod_a,mod_b`` loads extra plugin modules by import name
(handy for a plugin under development, and inherited by worker processes).
"""

from __future__ import annotations

import functools
import importlib
import os
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType

import pluggy

from harness import hookspecs
from harness.registry import Registry

ENTRY_POINT_GROUP = "vla_bench"
BUILTIN_DISTRIBUTIONS = frozenset(
    {
        "vla-bench",
        "vla-bench-manipulation",
        "vla-bench-games",
        "vla-bench-leaderboard",
        "vla-bench-lerobot",
        "vla-bench-openvla",
        "vla-bench-claude",
        "vla-bench-training",
        "vla-bench-rewards",
    }
)
HOOKS = (
    "vla_bench_register_tasks",
    "vla_bench_register_policies",
    "vla_bench_register_reporters",
    "vla_bench_register_commands",
    "vla_bench_register_judges",
)


@dataclass
class PluginInfo:
    """One plugin as ``bench plugins`` shows it."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    error: str | None = None
    registered: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Loaded:
    """The filled registry and what each plugin did."""

    registry: Registry
    plugins: list[PluginInfo]

    @property
    def broken(self) -> list[PluginInfo]:
        """Plugins that failed to import or register."""
        return [p for p in self.plugins if p.error]


def _autoload_disabled() -> bool:
    return os.environ.get("VLA_BENCH_DISABLE_PLUGIN_AUTOLOAD", "").strip() not in ("", "0")


def _candidates() -> list[tuple[str, str, str | None, str | None, object]]:
    """(name, module, distribution, version, loader) for every plugin to try, in order."""
    found: list[tuple[str, str, str | None, str | None, object]] = []
    seen: set[str] = set()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else None
        version = ep.dist.version if ep.dist is not None else None
        if _autoload_disabled() and dist not in BUILTIN_DISTRIBUTIONS:
            continue
        if ep.value in seen:  # the same module installed twice (editable + wheel): load once
            continue
        seen.add(ep.value)
        found.append((ep.name, ep.value, dist, version, ep.load))
    extra = os.environ.get("VLA_BENCH_PLUGINS", "")
    for module in filter(None, (m.strip() for m in extra.split(","))):
        if module not in seen:
            seen.add(module)
            found.append(
                (module, module, None, None, functools.partial(importlib.import_module, module))
            )
    return found


def load_plugins() -> Loaded:
    """Import every plugin and run its registration hooks, isolating failures per plugin."""
    registry = Registry()
    infos: list[PluginInfo] = []
    for name, module, dist, version, loader in _candidates():
        info = PluginInfo(name=name, module=module, distribution=dist, version=version)
        infos.append(info)
        try:
            plugin = loader()  # type: ignore[operator]
        except Exception as exc:  # a broken plugin must not take the others down
            info.error = f"import failed: {type(exc).__name__}: {exc}"
            continue
        try:
            _register(registry, name, plugin)
        except Exception as exc:
            registry.drop_plugin(name)  # a half-registered plugin keeps nothing
            info.error = f"registration failed: {type(exc).__name__}: {exc}"
            continue
        info.registered = registry.by_plugin(name)
    return Loaded(registry, infos)


def _register(registry: Registry, name: str, plugin: ModuleType) -> None:
    """Run one plugin's hooks through pluggy so hook signatures are validated."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(plugin, name=name)
    pm.check_pending()
    registry.current_plugin = name
    try:
        for hook in HOOKS:
            getattr(pm.hook, hook)(registry=registry)
    finally:
        registry.current_plugin = "<unknown>"


@functools.cache
def loaded() -> Loaded:
    """The plugins of this process, loaded once."""
    return load_plugins()


def registry() -> Registry:
    """The filled registry of this process."""
    return loaded().registry
