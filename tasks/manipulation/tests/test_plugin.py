"""The suite is found through its entry point and obeys the task contract."""

from __future__ import annotations

from typing import Any

import pytest
from vla_bench_manipulation.env import STATE_FIELDS

from harness.contract import EE_DELTA_7D, Task
from harness.plugins import load_plugins
from harness.registry import load_target


def test_entry_point_registers_the_suite() -> None:
    loaded = load_plugins()
    info = next(p for p in loaded.plugins if p.name == "manipulation")
    assert info.error is None and info.distribution == "vla-bench-manipulation"
    registry = loaded.registry
    assert registry.resolve_tasks("manipulation") == ["valve", "pick_place", "handle"]
    for name in ("valve", "pick_place", "handle"):
        entry = registry.get("task", name)
        task = entry.load()()
        assert isinstance(task, Task)
        expert: Any = load_target(entry.extra["expert"])
        assert expert.privileged and not expert.uses_images


@pytest.mark.parametrize("name", ["valve", "pick_place", "handle"])
def test_spec(name: str) -> None:
    task = load_plugins().registry.get("task", name).load()()
    spec = task.spec
    assert (spec.name, spec.suite, spec.version, spec.control_hz) == (
        name,
        "manipulation",
        "1",
        10.0,
    )
    assert spec.action_space.name == EE_DELTA_7D.name
    assert spec.action_space.names == EE_DELTA_7D.names
    assert spec.action_space.high[:3] == (0.05,) * 3
    assert spec.state_fields == STATE_FIELDS and spec.has_ee_pose
    assert "Per-step limits" in spec.description
