"""The engine's built-in policies, registered as a plugin like any other.

``random`` samples the task's action space (a floor every learned policy must beat);
``scripted`` runs the task's own privileged expert (a ceiling, and a check that the task is
solvable).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from harness.contract import (
    ActionChunk,
    EpisodeSpec,
    Observation,
    PolicyBase,
    PolicyConfig,
    PolicyConfigError,
    TaskSpec,
)
from harness.hookspecs import hookimpl

if TYPE_CHECKING:
    import gymnasium

    from harness.registry import Registry


def _no_options(config: PolicyConfig) -> None:
    """The baselines take no ``--policy-args``: a checkpoint, a dtype, a device other than the
    CPU they run on, or an option given to one (a typo in a sweep, a checkpoint meant for
    another policy) is refused, never silently ignored, nor recorded as if it had been used
    (the leaderboard labels a row with its device)."""
    given = [f"{key}={value}" for key, value in config.options.items()]
    for key, value in (("checkpoint", config.checkpoint), ("dtype", config.dtype)):
        if value:
            given.append(f"{key}={value}")
    if config.device != "cpu":
        given.append(f"device={config.device}")
    if given:
        raise PolicyConfigError(
            f"{config.name} takes no --policy-args (got {', '.join(given)}); drop them"
        )


class RandomPolicy(PolicyBase):
    """Uniform samples from the task's action space, one action per call.

    Seeded per episode from ``--seed`` and the episode seed, so a run is reproducible.
    """

    warmup_calls = 0
    uses_images = False

    def __init__(self, config: PolicyConfig) -> None:
        _no_options(config)
        super().__init__(config)
        self._space: Any = None
        self._rng = np.random.default_rng(config.seed)

    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: gymnasium.Env | None) -> None:
        """Remember the action space and reseed."""
        self._space = task.action_space
        self._rng = np.random.default_rng([self.config.seed, episode.seed])

    def act(self, observation: Observation) -> ActionChunk:
        """One uniformly random action."""
        return ActionChunk(self._space.sample(self._rng)[None, :])

    def describe(self) -> dict[str, Any]:
        """No checkpoint, no weights."""
        return {"checkpoint": None, "weights": "none"}


class ScriptedPolicy(PolicyBase):
    """Dispatches to the expert that each task registered beside itself (privileged state)."""

    privileged = True
    warmup_calls = 0
    uses_images = False

    def __init__(self, config: PolicyConfig) -> None:
        _no_options(config)
        super().__init__(config)
        self._experts: dict[str, Any] = {}
        self._current: Any = None

    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: gymnasium.Env | None) -> None:
        """Build (once per task) and reset the task's expert."""
        if task.name not in self._experts:
            from harness.plugins import registry

            entry = registry().get("task", task.name)
            if entry.extra.get("expert") is None:
                raise LookupError(
                    f"task {task.name!r} registered no scripted expert; "
                    f"pick another policy (bench list policies)"
                )
            from harness.registry import load_target

            self._experts[task.name] = load_target(entry.extra["expert"])(self.config)
        self._current = self._experts[task.name]
        self._current.reset(task, episode, env)

    def act(self, observation: Observation) -> ActionChunk:
        """The current task's expert action."""
        assert self._current is not None, "reset() must come before act()"
        return self._current.act(observation)

    def describe(self) -> dict[str, Any]:
        """A privileged expert: no checkpoint."""
        return {"checkpoint": None, "weights": "scripted"}

    def close(self) -> None:
        """Close every expert built."""
        for expert in self._experts.values():
            expert.close()


@hookimpl
def vla_bench_register_policies(registry: Registry) -> None:
    """The two baselines every task can be scored with."""
    registry.add_policy(
        "random",
        "harness.baselines:RandomPolicy",
        description="uniform samples from the task's action space (floor)",
        in_process=True,
    )
    registry.add_policy(
        "scripted",
        "harness.baselines:ScriptedPolicy",
        description="the task's own privileged expert (ceiling)",
        privileged=True,
        in_process=True,
    )
