"""The suite is found through its entry point and obeys the task contract."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from harness.contract import EE_DELTA_7D, EpisodeSpec, Task
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
def test_the_spec_declares_what_the_env_does(name: str) -> None:
    """Each declared number is checked against the simulator's behaviour, not restated: the
    control period in simulated time, the action bounds the env enforces, the cameras it
    renders, the state fields by what they measure, and the step limit."""
    registry = load_plugins().registry
    task = registry.get("task", name).load()()
    spec = task.spec
    assert (spec.name, spec.suite) == (name, "manipulation")
    assert name in registry.resolve_tasks(spec.suite)
    assert spec.action_space.name == EE_DELTA_7D.name
    assert spec.action_space.names == EE_DELTA_7D.names
    env = task.make_env(EpisodeSpec(0, 5), render=True)
    try:
        obs, _ = env.reset(seed=5)
        assert {c: im.shape for c, im in obs["images"].items()} == {
            c: (h, w, 3) for c, (h, w) in spec.cameras.items()
        }
        assert obs["state"].shape == (len(spec.state_fields),)
        data = env.unwrapped.data
        low, high = np.asarray(spec.action_space.low), np.asarray(spec.action_space.high)
        before, t0 = obs["state"].copy(), data.time
        move_x = np.zeros(7)
        move_x[spec.action_space.names.index("dx")] = high[0]
        move_x[6] = low[6]
        obs, _, _, _, info = env.step(move_x)
        assert data.time - t0 == pytest.approx(1.0 / spec.control_hz, abs=1e-9)
        assert info["clipped"] == 0  # at the declared bound: nothing clipped
        moved = obs["state"] - before
        fields = list(spec.state_fields)
        assert moved[fields.index("ee_x")] > 0.5 * high[0]
        assert abs(moved[fields.index("ee_y")]) < 0.2 * high[0]
        assert abs(moved[fields.index("ee_z")]) < 0.2 * high[0]
        for beyond in (high + 1e-3 * (high - low), low - 1e-3 * (high - low)):
            _, _, _, _, info = env.step(beyond)
            assert info["clipped"] == 7  # just past each declared bound: every value clipped
        steps, truncated = 3, False
        while not truncated:
            _, _, terminated, truncated, _ = env.step(np.zeros(7))
            steps += 1
            assert not terminated
        assert steps == spec.max_steps
    finally:
        env.close()
