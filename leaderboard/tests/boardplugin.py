"""A plugin for the leaderboard's tests: tasks whose episodes end as the policy is told to.

Loaded through ``VLA_BENCH_PLUGINS=boardplugin`` (see conftest.py), so the run directories
the tests read are written by the real runner, never copied by hand. The ``oracle`` policies
follow a plan per task and episode index, read from the environment variable ``BOARD_PLAN``
(JSON ``{"pick": "110e0"}``) so that how well a policy does is not part of its configuration,
as with a real model: ``1`` reaches the target in three steps (a success), ``0`` holds still (a
timeout after five), ``e`` raises (``policy_error``), ``n`` returns NaN (``bad_action``);
``--policy-args budget=X`` stops the run at the first call. The scripted expert of every task
is the same oracle, declared privileged.
"""

from __future__ import annotations

import json
import os
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
TARGET = np.array([0.12, 0.02, 0.0])
POLICIES = ("alpha", "beta", "gamma", "delta", "zeta", "untrained")
"""Names under which the oracle policy is registered (policies in a report need names)."""


class BoardEnv(gymnasium.Env):  # type: ignore[type-arg]
    """A point that must reach a target 12 cm away; success within 1 cm."""

    def __init__(self, spec: TaskSpec, render: bool) -> None:
        self.spec_ = spec
        self.render_images = render
        self.pos = np.zeros(3)
        self.t = 0

    def _obs(self) -> dict[str, Any]:
        images = {}
        if self.render_images:
            img = np.zeros((24, 32, 3), dtype=np.uint8)
            img[..., 0] = int(np.clip(self.pos[0] * 4000, 0, 255))
            img[..., 2] = 40 * self.t % 256
            images["front"] = img
        state = np.concatenate([self.pos, TARGET]).astype(np.float32)
        return {"images": images, "state": state, "instruction": self.spec_.instruction}

    def _info(self) -> dict[str, Any]:
        return {
            "success": bool(np.linalg.norm(TARGET - self.pos) < 0.01),
            "ee_pose": [*self.pos.tolist(), 1.0, 0.0, 0.0, 0.0],
        }

    def reset(self, *, seed: int | None = None, options: Any = None) -> Any:
        super().reset(seed=seed)
        self.pos = self.np_random.normal(0, 1e-4, size=3)
        self.t = 0
        return self._obs(), self._info()

    def step(self, action: Any) -> Any:
        self.t += 1
        self.pos = self.pos + np.asarray(action, dtype=np.float64)[:3]
        info = self._info()
        truncated = self.t >= self.spec_.max_steps
        return self._obs(), float(info["success"]), info["success"], truncated, info


class BoardTask:
    """A task obeying harness.contract.Task, its versions and size set by ``--task-args``."""

    def __init__(
        self,
        name: str,
        suite: str,
        version: str,
        track: str,
        episodes: str,
        has_ee: bool,
        control_hz: float,
        instruction: str,
    ) -> None:
        self.spec = TaskSpec(
            name=name,
            version=version,
            suite=suite,
            instruction=instruction,
            control_hz=control_hz,
            max_steps=5,
            action_space=SPACE,
            state_fields=("x", "y", "z", "tx", "ty", "tz"),
            cameras={"front": (24, 32)},
            has_ee_pose=has_ee,
        )
        self._track = seeded_track(name, track, int(episodes), base_seed=1000)

    def track(self) -> Track:
        return self._track

    def make_env(self, episode: EpisodeSpec, *, render: bool = True) -> BoardEnv:
        return BoardEnv(self.spec, render)


def make_pick(
    version: str = "1", track: str = "1", episodes: str = "60", instruction: str = "pick it up"
) -> BoardTask:
    return BoardTask("pick", "demo", version, track, episodes, True, 10.0, instruction)


def make_stack(version: str = "1", track: str = "1", episodes: str = "60") -> BoardTask:
    return BoardTask("stack", "demo", version, track, episodes, True, 10.0, "stack them")


def make_lander(version: str = "1", track: str = "1", episodes: str = "60") -> BoardTask:
    return BoardTask("lander", "arcade", version, track, episodes, False, 50.0, "land")


class Oracle(PolicyBase):
    """Succeeds, times out or misbehaves on each episode as its plan says."""

    warmup_calls = 0
    uses_images = False

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__(config)
        self.code = "0"
        self.sleep = float(config.options.get("sleep", "0"))

    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: Any) -> None:
        plan = json.loads(os.environ.get("BOARD_PLAN", "{}")).get(task.name, "")
        self.code = plan[episode.index] if episode.index < len(plan) else "0"

    def act(self, observation: dict[str, Any]) -> ActionChunk:
        if "budget" in self.config.options:
            raise BudgetExceeded(f"max_cost {self.config.options['budget']} USD reached")
        if self.sleep:
            time.sleep(self.sleep)
        if self.code == "e":
            raise RuntimeError(self.config.options.get("error", "the model fell over"))
        if self.code == "n":
            return ActionChunk(np.full((1, 7), np.nan))
        state = observation["state"]
        actions = np.zeros((4, 7))
        if self.code == "1":  # three steps along the line to the target, then rest
            actions[:3, :3] = (state[3:6] - state[:3]) / 3
        return ActionChunk(
            actions,
            cost_usd=float(self.config.options.get("cost", "0")),
            input_tokens=1200 if "cost" in self.config.options else 0,
            output_tokens=40 if "cost" in self.config.options else 0,
        )

    def describe(self) -> dict[str, Any]:
        options = self.config.options
        out: dict[str, Any] = {
            "checkpoint": self.config.checkpoint,
            "weights": options.get("weights", "pretrained"),
        }
        if "digest" in options:
            out["weights_digest"] = options["digest"]
        return out


class PrivilegedOracle(Oracle):
    """The same, declared privileged: every task's scripted expert (``--policy scripted``)."""

    privileged = True


@hookimpl
def vla_bench_register_tasks(registry: Any) -> None:
    expert = "boardplugin:PrivilegedOracle"
    registry.add_task("pick", "boardplugin:make_pick", suite="demo", expert=expert)
    registry.add_task("stack", "boardplugin:make_stack", suite="demo", expert=expert)
    registry.add_task("lander", "boardplugin:make_lander", suite="arcade", expert=expert)


@hookimpl
def vla_bench_register_policies(registry: Any) -> None:
    for name in POLICIES:
        registry.add_policy(
            name, "boardplugin:Oracle", action_spaces=("ee_delta_7d",), in_process=True
        )
