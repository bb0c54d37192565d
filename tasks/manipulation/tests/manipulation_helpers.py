"""Shared by the manipulation tests: building tasks, experts and envs by task name."""

from __future__ import annotations

import importlib
from types import ModuleType

from vla_bench_manipulation.expert import Expert
from vla_bench_manipulation.plugin import TASKS
from vla_bench_manipulation.task import ManipulationTask

from harness.contract import PolicyConfig

TASK_NAMES = sorted(TASKS)


def module(name: str) -> ModuleType:
    """The module that defines task ``name``."""
    return importlib.import_module(f"vla_bench_manipulation.{TASKS[name][0]}")


def task(name: str, **kwargs: object) -> ManipulationTask:
    """Task ``name`` built through its registered factory."""
    return module(name).make_task(**kwargs)


def expert(name: str) -> Expert:
    """A fresh scripted expert for task ``name``."""
    return getattr(module(name), TASKS[name][1])(PolicyConfig("scripted"))
