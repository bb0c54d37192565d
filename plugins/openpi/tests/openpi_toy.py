"""A tiny deterministic policy for the server tests, loaded as ``VLA_BENCH_PLUGINS=openpi_toy``.

``toy`` reads everything a remote policy could get wrong: each camera's top half against its
bottom half (a flip or a swapped camera changes the answer), every state entry, the instruction,
the episode seed (its RNG) and how many times it acted this episode (its episode state). It can
share itself between sessions (``fork``) and answer several at once (``act_batch``, which records
the batch size in each chunk's info), like a batched model on a policy host. ``fail_after=N``
makes every act after the N-th of an episode raise. ``hang_after=N,hang_file=PATH`` makes a
session's act after its N-th (counting across episodes) create PATH and then hang, so a test
can stop the server while a request is in flight. ``fail_reset=1`` makes ``reset`` raise.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.contract import ActionChunk, EpisodeSpec, Observation, PolicyBase, TaskSpec
from harness.hookspecs import hookimpl

if TYPE_CHECKING:
    import gymnasium

    from harness.registry import Registry


class ToyPolicy(PolicyBase):
    """Three actions per call from images, state, instruction, seed and step count."""

    warmup_calls = 0
    n_action_steps = 2

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        fail_after = config.options.get("fail_after")
        self.fail_after = None if fail_after is None else int(fail_after)
        hang_after = config.options.get("hang_after")
        self.hang_after = None if hang_after is None else int(hang_after)
        self._acted = 0  # acts of this session, all episodes
        self._task: TaskSpec | None = None
        self._rng = np.random.default_rng(0)
        self._calls = 0

    def fork(self) -> ToyPolicy:
        """A session of its own (fresh episode state)."""
        return ToyPolicy(self.config)

    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: gymnasium.Env | None) -> None:
        """Reseed from the policy seed and the episode seed; zero the step count."""
        if self.config.options.get("fail_reset"):
            raise ValueError("toy policy told to fail at reset")
        self._task = task
        self._rng = np.random.default_rng([self.config.seed, episode.seed])
        self._calls = 0

    def act(self, observation: Observation) -> ActionChunk:
        """The chunk for one observation."""
        return self._answer(observation, batch=1)

    def act_batch(
        self, sessions: Sequence[ToyPolicy], observations: Sequence[Observation]
    ) -> list[ActionChunk]:
        """Several sessions at once (each with its own state)."""
        return [
            s._answer(o, batch=len(sessions)) for s, o in zip(sessions, observations, strict=True)
        ]

    def _answer(self, observation: Observation, batch: int) -> ActionChunk:
        assert self._task is not None, "reset() first"
        self._calls += 1
        self._acted += 1
        if self.hang_after is not None and self._acted > self.hang_after:
            Path(self.config.options["hang_file"]).touch()
            time.sleep(60)
        if self.fail_after is not None and self._calls > self.fail_after:
            raise RuntimeError(f"toy policy told to fail after {self.fail_after} acts\nsecond line")
        features = []
        for camera in sorted(observation["images"]):
            image = np.asarray(observation["images"][camera], dtype=np.float64)
            half = image.shape[0] // 2
            features.append((image[:half].mean() - image[half:].mean()) / 255.0)
            features.append(image[:, : image.shape[1] // 2].mean() / 255.0 - 0.5)
        state = np.asarray(observation["state"], dtype=np.float64)
        text = zlib.crc32(str(observation["instruction"]).encode()) / 2**32
        space = self._task.action_space
        low, high = np.asarray(space.low), np.asarray(space.high)
        rows = []
        for k in range(3):
            mix = np.resize(np.concatenate([features, state, [text, self._calls, k]]), space.dim)
            noise = self._rng.normal(size=space.dim)
            rows.append(low + (high - low) * (0.5 + 0.45 * np.tanh(mix + 0.1 * noise)))
        return ActionChunk(np.asarray(rows), model_time_s=1e-4, info={"batch": batch})

    def describe(self) -> dict[str, Any]:
        """A toy: no weights."""
        return {"checkpoint": None, "weights": "none"}


@hookimpl
def vla_bench_register_policies(registry: Registry) -> None:
    """The toy policy."""
    registry.add_policy(
        "toy",
        ToyPolicy,
        description="deterministic toy for openpi tests",
        action_spaces=("ee_delta_7d",),
    )
