"""Registers the LeRobot policies with vla-bench (imports neither torch nor lerobot).

Every name points at :class:`vla_bench_lerobot.policy.LeRobotPolicy`, imported only when the
name is used, so ``bench list`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.hookspecs import hookimpl
from vla_bench_lerobot.backends import BACKENDS

if TYPE_CHECKING:
    from harness.registry import Registry

ACTION_SPACES = ("ee_delta_7d", "metaworld_xyz_gripper", "libero_ee_delta_7d")
"""The task action spaces a LeRobot checkpoint can drive when its action width matches."""


@hookimpl
def vla_bench_register_policies(registry: Registry) -> None:
    """SmolVLA, π0, π0.5, π0-FAST, Diffusion Policy, ACT and any LeRobot checkpoint: one class,
    which reads the backend from the name it is built under."""
    for name, backend in BACKENDS.items():
        registry.add_policy(
            name,
            "vla_bench_lerobot.policy:LeRobotPolicy",
            description=backend.description,
            action_spaces=ACTION_SPACES,
        )
