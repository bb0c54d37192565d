"""Registers the LeRobot policies with vla-bench (imports neither torch nor lerobot).

Each name points at a class in :mod:`vla_bench_lerobot.policy`, imported only when the name is
used, so ``bench list`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.hookspecs import hookimpl
from vla_bench_lerobot.backends import BACKENDS

if TYPE_CHECKING:
    from harness.registry import Registry

ACTION_SPACES = ("ee_delta_7d", "metaworld_xyz_gripper", "libero_ee_delta_7d")
"""The task action spaces a LeRobot checkpoint can drive when its action width matches."""

CLASSES = {
    "smolvla": "SmolVLAPolicy",
    "pi0": "Pi0Policy",
    "pi05": "Pi05Policy",
    "pi0fast": "Pi0FastPolicy",
    "diffusion": "DiffusionPolicy",
    "act": "ACTPolicy",
    "lerobot": "LeRobotPolicy",
}


@hookimpl
def vla_bench_register_policies(registry: Registry) -> None:
    """SmolVLA, π0, π0.5, π0-FAST, Diffusion Policy, ACT and any LeRobot checkpoint."""
    for name, cls in CLASSES.items():
        registry.add_policy(
            name,
            f"vla_bench_lerobot.policy:{cls}",
            description=BACKENDS[name].description,
            action_spaces=ACTION_SPACES,
        )
