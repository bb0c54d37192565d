"""Driving an env with a policy directly, without the runner: for tests and contact sheets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.contract import EpisodeSpec, Policy
from vla_bench_manipulation.task import ManipulationTask


@dataclass
class Rollout:
    """What one episode did: outcome, steps and (optionally) the frames seen."""

    success: bool
    steps: int
    failure: str | None
    instruction: str
    frames: list[dict[str, np.ndarray]] = field(default_factory=list)
    infos: list[dict[str, Any]] = field(default_factory=list)


def rollout(
    task: ManipulationTask,
    policy: Policy,
    episode: EpisodeSpec,
    *,
    render: bool = False,
) -> Rollout:
    """Run ``policy`` on one episode until success, failure or ``max_steps``; one action per step.

    ``infos`` keeps every step's info; with ``render=True`` the camera images of every
    observation are kept in ``frames``.
    """
    env = task.make_env(episode, render=render)
    try:
        obs, info = env.reset(seed=episode.seed)
        policy.reset(task.spec, episode, env)
        result = Rollout(False, 0, None, obs["instruction"])
        if render:
            result.frames.append(obs["images"])
        for step in range(1, task.spec.max_steps + 1):
            chunk = policy.act(obs)
            obs, _, terminated, truncated, info = env.step(chunk.actions[0])
            result.steps = step
            result.infos.append(info)
            if render:
                result.frames.append(obs["images"])
            if info["success"] or terminated or truncated:
                break
        result.success = bool(info["success"])
        result.failure = info.get("failure")
        return result
    finally:
        env.close()
