"""Recording a task's scripted expert as demonstrations, with DART-style noise injection.

The expert is the privileged policy the task registered (``registry.add_task(..., expert=)``).
With ``noise > 0`` the *executed* action is the expert's action plus Gaussian noise (standard
deviation ``noise`` times each dimension's bound; the gripper is never perturbed), while the
*recorded* label is the expert's clean action for the state actually visited. The robot thus
drifts into states the clean expert never reaches and the dataset shows how the expert recovers
from them (Laskey et al. 2017, "DART: Noise Injection for Robust Imitation Learning").

Demonstration seeds default to ``DEMO_SEED_BASE + i``, far from every task's evaluation track,
so a policy is never trained on the scenes it is scored on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.contract import EpisodeSpec, PolicyConfig, Task
from harness.episode import run_episode
from harness.results import ERROR_OUTCOMES
from vla_bench_training.dataset import DatasetWriter, Episode
from vla_bench_training.errors import TrainingInputError
from vla_bench_training.progress import Progress

DEMO_SEED_BASE = 900_000


@dataclass
class DemoSummary:
    """What a recording produced."""

    task: str
    attempted: int
    succeeded: int
    kept: int
    frames: int
    seeds_failed: list[int]


def load_task(name: str) -> tuple[Task, Callable[..., Any]]:
    """The registered task ``name`` and its expert factory (a clear error if it has none)."""
    from harness.plugins import registry

    entry = registry().get("task", name)
    task = entry.load()()
    expert = entry.extra.get("expert")
    if expert is None:
        raise TrainingInputError(
            f"task {name!r} registered no scripted expert, so it cannot be demonstrated "
            f"automatically; record hand-tracking logs and use `bench import-handtracking`"
        )
    from harness.registry import load_target

    return task, load_target(expert)


def record_episode(
    task: Task, expert: Any, episode: EpisodeSpec, noise: float, rng: np.random.Generator
) -> Episode:
    """Run the expert on one episode, executing noisy actions and recording clean labels."""
    spec = task.spec
    space = spec.action_space
    low, high = np.asarray(space.low, dtype=np.float64), np.asarray(space.high, dtype=np.float64)
    scale = np.maximum(np.abs(low), np.abs(high)) * noise
    scale[-1] = 0.0  # the gripper command is binary in spirit; noise there only drops objects
    record = Episode(instruction=spec.instruction, seed=episode.seed)

    def on_reset(obs: dict[str, Any], info: Any) -> None:
        expert.reset(spec, episode, env)
        record.instruction = str(obs["instruction"])

    def decide(obs: dict[str, Any]) -> np.ndarray:
        clean = np.asarray(expert.act(obs).actions[0], dtype=np.float64)
        record.add(obs, clean)
        return np.clip(clean + rng.normal(size=clean.shape) * scale, low, high)

    env = task.make_env(episode, render=True)
    try:
        end = run_episode(env, episode, decide, max_steps=spec.max_steps, on_reset=on_reset)
    finally:
        env.close()
    if end.outcome in ERROR_OUTCOMES:
        raise RuntimeError(f"{task.spec.name} episode {episode.index}: {end.error}")
    record.success = end.outcome == "success"
    return record


def record_demos(
    task_name: str,
    episodes: int,
    out: Path,
    *,
    noise: float = 0.0,
    keep_failed: bool = False,
    seed_base: int = DEMO_SEED_BASE,
    image_size: tuple[int, int] | None = None,
    progress: Progress | None = None,
) -> DemoSummary:
    """Record ``episodes`` expert demonstrations of ``task_name`` into a dataset at ``out``."""
    if episodes < 1:
        raise TrainingInputError("--episodes must be at least 1")
    if noise < 0:
        raise TrainingInputError(
            "--noise is a standard deviation (fraction of each bound); must be >= 0"
        )
    progress = progress or Progress.quiet()
    task, expert_factory = load_task(task_name)
    expert = expert_factory(PolicyConfig(name="scripted"))
    rng = np.random.default_rng(seed_base)
    succeeded, failed = 0, []
    with (
        DatasetWriter(out, task, image_size) as writer,
        progress.counter("episode", episodes) as counter,
    ):
        for i in range(episodes):
            episode = EpisodeSpec(i, seed_base + i)
            record = record_episode(task, expert, episode, noise, rng)
            succeeded += record.success
            if not record.success:
                failed.append(episode.seed)
            if record.success or keep_failed:
                writer.write(record)
            counter.update(i + 1, f"({succeeded} succeeded, {writer.frames} frames kept)")
    return DemoSummary(task_name, episodes, succeeded, writer.episodes, writer.frames, failed)
