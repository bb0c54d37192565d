"""A small plugin used by the engine's tests: a point-mass reaching task and misbehaving policies.

Loaded through ``VLA_BENCH_PLUGINS=toyplugin`` (see conftest.py), the same path a plugin under
development takes; worker processes inherit it.
"""

from __future__ import annotations

import time
from typing import Any

import gymnasium
import numpy as np

from harness.contract import (
    EE_DELTA_7D,
    ActionChunk,
    BudgetExceeded,
    EpisodeSpec,
    PolicyBase,
    PolicyConfig,
    TaskSpec,
    Track,
    seeded_track,
    with_bounds,
)
from harness.hookspecs import hookimpl

SPACE = with_bounds(EE_DELTA_7D, [-0.05] * 3 + [-0.1] * 3 + [-1], [0.05] * 3 + [0.1] * 3 + [1])


class ReachEnv(gymnasium.Env):
    """Move a point to a target 0.1-0.3 m away; success within 1 cm. Optionally misbehaves."""

    def __init__(self, spec: TaskSpec, render: bool, mode: str) -> None:
        self.spec_ = spec
        self.render_images = render
        self.mode = mode
        self.pos = np.zeros(3)
        self.target = np.zeros(3)
        self.t = 0

    def _obs(self) -> dict[str, Any]:
        images = {}
        if self.render_images:
            img = np.zeros((16, 16, 3), dtype=np.uint8)
            img[..., 0] = int(np.clip(self.pos[0] * 500 + 128, 0, 255))
            images["front"] = img
        return {
            "images": images,
            "state": self.pos.astype(np.float32),
            "instruction": "reach the target",
        }

    def _info(self) -> dict[str, Any]:
        dist = float(np.linalg.norm(self.target - self.pos))
        return {
            "success": dist < 0.01,
            "distance": dist,
            "ee_pose": [*self.pos.tolist(), 1.0, 0.0, 0.0, 0.0],
        }

    def reset(self, *, seed: int | None = None, options: Any = None) -> Any:
        super().reset(seed=seed)
        self.pos = np.zeros(3)
        direction = self.np_random.normal(size=3)
        self.target = direction / np.linalg.norm(direction) * self.np_random.uniform(0.1, 0.3)
        self.t = 0
        return self._obs(), self._info()

    def step(self, action: Any) -> Any:
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (7,) or not np.all(np.isfinite(action)):
            raise ValueError(f"action must be 7 finite numbers, got shape {action.shape}")
        self.t += 1
        if self.mode == "crash" and self.t == 3:
            raise RuntimeError("simulated physics blew up")
        self.pos = self.pos + action[:3]
        info = self._info()
        if self.mode == "unstable" and self.t == 2:
            info["failure"] = "unstable: object flung away"
            return self._obs(), 0.0, True, False, info
        return self._obs(), -info["distance"], False, False, info


class ReachTask:
    """A task object obeying harness.contract.Task."""

    def __init__(self, mode: str = "normal", name: str = "reach", suite: str = "toy") -> None:
        self.mode = mode
        self.spec = TaskSpec(
            name=name,
            version="1",
            suite=suite,
            instruction="reach the target",
            control_hz=10.0,
            max_steps=40,
            action_space=SPACE,
            state_fields=("x", "y", "z"),
            cameras={"front": (16, 16)},
            has_ee_pose=True,
        )

    def track(self) -> Track:
        return seeded_track(self.spec.name, "1", 12, base_seed=1000)

    def make_env(self, episode: EpisodeSpec, *, render: bool = True) -> ReachEnv:
        return ReachEnv(self.spec, render, self.mode)


def make_reach() -> ReachTask:
    return ReachTask()


def make_crashy() -> ReachTask:
    return ReachTask("crash", "reach_crash", "toybad")


def make_unstable() -> ReachTask:
    return ReachTask("unstable", "reach_unstable", "toybad")


class ReachExpert(PolicyBase):
    """Privileged proportional controller: reads the target from the env."""

    privileged = True
    warmup_calls = 0
    uses_images = False

    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: Any) -> None:
        self.env = env

    def act(self, observation: dict[str, Any]) -> ActionChunk:
        delta = np.clip(self.env.target - observation["state"], -0.05, 0.05)
        return ActionChunk(np.concatenate([delta, np.zeros(4)])[None, :])


class ChunkyPolicy(PolicyBase):
    """Returns chunks of 4 identical-step actions toward +x (for chunk bookkeeping tests)."""

    n_action_steps = 4

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__(config)
        self.seen: list[float] = []

    def observe(self, observation: dict[str, Any]) -> None:
        self.seen.append(float(observation["state"][0]))

    def act(self, observation: dict[str, Any]) -> ActionChunk:
        self.seen.append(float(observation["state"][0]))
        rows = np.zeros((4, 7))
        rows[:, 0] = np.linspace(0.01, 0.04, 4)
        return ActionChunk(
            rows, model_time_s=0.001, info={"source": "chunky", "seen": len(self.seen)}
        )


class BadPolicy(PolicyBase):
    """Misbehaves according to ``--policy-args mode=...``."""

    warmup_calls = 0

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__(config)
        self.mode = config.options.get("mode", "nan")
        self.calls = 0

    def act(self, observation: dict[str, Any]) -> ActionChunk:
        self.calls += 1
        if self.mode == "nan":
            return ActionChunk(np.full((1, 7), np.nan))
        if self.mode == "shape":
            return ActionChunk(np.zeros((1, 5)))
        if self.mode == "raise":
            raise RuntimeError("model exploded")
        if self.mode == "hang":
            time.sleep(30)
        if self.mode == "oob":
            return ActionChunk(np.full((1, 7), 5.0))
        if self.mode == "budget" and self.calls > 3:
            raise BudgetExceeded("max_cost 0.01 USD reached")
        if self.mode == "slow":
            time.sleep(float(self.config.options.get("sleep", "0.2")))
        return ActionChunk(np.zeros((1, 7)))


@hookimpl
def vla_bench_register_tasks(registry: Any) -> None:
    registry.add_task(
        "reach",
        "toyplugin:make_reach",
        suite="toy",
        expert="toyplugin:ReachExpert",
        description="point-mass reaching",
    )
    registry.add_task("reach_crash", "toyplugin:make_crashy", suite="toybad")
    registry.add_task("reach_unstable", "toyplugin:make_unstable", suite="toybad")


@hookimpl
def vla_bench_register_policies(registry: Any) -> None:
    registry.add_policy("chunky", "toyplugin:ChunkyPolicy", action_spaces=("ee_delta_7d",))
    registry.add_policy("bad", "toyplugin:BadPolicy", action_spaces=("ee_delta_7d",))
    registry.add_policy("discrete_only", "toyplugin:BadPolicy", action_spaces=("discrete",))
    registry.add_policy("unbuildable", "toyplugin:make_unbuildable")


def make_unbuildable(config: PolicyConfig) -> PolicyBase:
    from harness.contract import PolicyConfigError

    raise PolicyConfigError("policy 'unbuildable' needs option key=...; pass --policy-args key=1")


@hookimpl
def vla_bench_register_commands(registry: Any) -> None:
    registry.add_command("toy-hello", "toyplugin:hello", description="say hello")


def _hello(name: str) -> None:
    import click

    click.echo(f"hello {name} from a plugin command")


def _make_hello() -> Any:
    import click

    return click.command("toy-hello")(click.argument("name")(_hello))


hello = _make_hello()
