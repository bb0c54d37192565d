"""Driving an env with a policy directly, without the runner: for tests and contact sheets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.contract import EpisodeSpec, Policy
from harness.episode import run_episode
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

    The episode runs through the engine's one loop (:func:`harness.episode.run_episode`), so it
    ends by the same rules as in ``bench run``; an error the policy raises is raised again
    here. ``infos`` keeps every step's info; with ``render=True`` the camera images of every
    observation are kept in ``frames``.
    """
    env = task.make_env(episode, render=render)
    frames: list[dict[str, np.ndarray]] = []
    infos: list[dict[str, Any]] = []
    instruction = [task.spec.instruction]

    def on_reset(obs: dict[str, Any], info: Any) -> None:
        instruction[0] = str(obs["instruction"])
        policy.reset(task.spec, episode, env)
        if render:
            frames.append(obs["images"])

    def on_step(step: int, action: Any, reward: float, info: Any, obs: dict[str, Any]) -> None:
        infos.append(dict(info))
        if render:
            frames.append(obs["images"])

    try:
        end = run_episode(
            env,
            episode,
            lambda obs: policy.act(obs).actions[0],
            max_steps=task.spec.max_steps,
            on_reset=on_reset,
            on_step=on_step,
        )
    finally:
        env.close()
    if end.exception is not None and end.outcome != "sim_error":
        raise end.exception
    failure = end.error if end.outcome == "sim_error" else None
    return Rollout(end.outcome == "success", end.steps, failure, instruction[0], frames, infos)
