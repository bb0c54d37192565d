"""A policy for the ``--record`` tests: out-of-range actions (clipped by the run) and a crash.

Loaded through ``VLA_BENCH_PLUGINS=record_probe`` like a plugin under development. It drives
``ee_delta_7d`` tasks with the same over-large action every step (each element beyond the
task's bounds, so every executed action is a clipped one), and raises in episode
``crash_on`` (a policy error, which ``--record`` must leave out). It reads no images, so the
frames a recording holds are there only because recording makes the task render.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.contract import ActionChunk, EpisodeSpec, PolicyBase, PolicyConfig, TaskSpec
from harness.hookspecs import hookimpl

WILD = np.array([[5.0, -5.0, 5.0, -5.0, 5.0, -5.0, 5.0]])
"""What the policy asks for: far outside any ``ee_delta_7d`` task's bounds."""


class WildPolicy(PolicyBase):
    """Asks for :data:`WILD` every step; raises in episode ``crash_on``."""

    warmup_calls = 0
    uses_images = False

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__(config)
        self.crash_on = int(config.options.get("crash_on", -1))
        self.episode = -1

    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: Any) -> None:
        self.episode = episode.index

    def act(self, observation: dict[str, Any]) -> ActionChunk:
        if self.episode == self.crash_on:
            raise RuntimeError("the model fell over")
        return ActionChunk(WILD.copy())


@hookimpl
def vla_bench_register_policies(registry: Any) -> None:
    registry.add_policy("wild", "record_probe:WildPolicy", action_spaces=("ee_delta_7d",))
