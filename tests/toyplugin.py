"""A small plugin used by the engine's tests: a point-mass reaching task and misbehaving policies.

Loaded through ``VLA_BENCH_PLUGINS=toyplugin`` (see conftest.py), the same path a plugin under
development takes; worker processes inherit it.
"""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
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
        if self.t == 3 and self.mode in SIM_FAULTS:
            return SIM_FAULTS[self.mode](self)
        self.pos = self.pos + action[:3]
        info = self._info()
        if self.mode == "unstable" and self.t == 2:
            info["failure"] = "unstable: object flung away"
            return self._obs(), 0.0, True, False, info
        return self._obs(), -info["distance"], False, False, info


def _native_hang(env: ReachEnv) -> Any:
    # A hang the alarm cannot interrupt, as in native code: SIGALRM is blocked.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(600)


def _segfault(env: ReachEnv) -> Any:
    os.kill(os.getpid(), signal.SIGSEGV)


SIM_FAULTS = {
    "info_none": lambda env: (env._obs(), 0.0, False, False, None),
    "str_reward": lambda env: (env._obs(), "1.5", False, False, env._info()),
    "nan_reward": lambda env: (env._obs(), float("nan"), False, False, env._info()),
    "sleep": lambda env: time.sleep(600),
    "native_hang": _native_hang,
    "segfault": _segfault,
}
"""``--task-args mode=...``: what the env does at its third step instead of stepping."""


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


def make_reach(mode: str = "normal") -> ReachTask:
    if mode not in ("normal", *SIM_FAULTS):
        raise ValueError(f"mode={mode!r} is not one of normal, {', '.join(SIM_FAULTS)}")
    return ReachTask(mode)


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


class LinearPolicy(PolicyBase):
    """A shared "model" (a fixed matrix) with per-session state (how many observations this
    session saw): ``fork()`` makes sessions, ``act_batch`` answers many in one matrix product,
    and ``act`` is the batch of one, so batched and unbatched answers are bit-identical.
    ``think_ms=N`` makes every forward pass (batched or not) take N ms more, as a model's
    would, without changing an answer."""

    n_action_steps = 2

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__(config)
        self.weights = np.random.default_rng(0).normal(size=(3, 3)) * 0.2
        self.seen = 0

    def fork(self) -> LinearPolicy:
        session = copy.copy(self)
        session.seen = 0
        return session

    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: Any) -> None:
        self.seen = 0

    def observe(self, observation: dict[str, Any]) -> None:
        self.seen += 1

    def act(self, observation: dict[str, Any]) -> ActionChunk:
        return self.act_batch([self], [observation])[0]

    def act_batch(
        self, sessions: Sequence[LinearPolicy], observations: Sequence[dict[str, Any]]
    ) -> list[ActionChunk]:
        if think_ms := float(self.config.options.get("think_ms", 0)):
            time.sleep(think_ms / 1e3)  # (no sleep(0): it would yield the GIL every call)
        states = np.stack([np.asarray(o["state"], dtype=np.float64) for o in observations])
        seen = np.array([s.seen + 1 for s in sessions], dtype=np.float64)[:, None]
        # Elementwise products summed per row: unlike a BLAS matrix product, whose kernel (and
        # so its last bits) depends on the batch's shape, each row is independent of the others.
        moves = (states[:, None, :] * self.weights[None]).sum(axis=-1) + 0.001 * seen
        chunks = []
        for move, session in zip(moves, sessions, strict=True):
            session.seen += 1  # only once the whole batch succeeded
            rows = np.zeros((3, 7))
            rows[:, :3] = move
            chunks.append(ActionChunk(rows, info={"seen": session.seen}))
        return chunks


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("even the message is broken")


class BadPolicy(PolicyBase):
    """Misbehaves according to ``--policy-args mode=...``; ``on_episode=K`` misbehaves only in
    episode K (behaving like ``mode=ok`` elsewhere); ``mark=DIR`` touches a file per call;
    ``once=FILE`` misbehaves only while FILE does not exist, and creates it first (a process
    lost once, say with its machine)."""

    warmup_calls = 0

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__(config)
        self.mode = config.options.get("mode", "nan")
        self.only = config.options.get("on_episode")
        self.mark = config.options.get("mark")
        self.calls = 0
        self.episode = -1

    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: Any) -> None:
        self.episode = episode.index

    def act(self, observation: dict[str, Any]) -> ActionChunk:
        self.calls += 1
        if self.mark:
            Path(self.mark, f"{os.getpid()}-{self.calls}").touch()
        if self.only is not None and int(self.only) != self.episode:
            return ActionChunk(np.zeros((1, 7)))
        if once := self.config.options.get("once"):
            if Path(once).exists():
                return ActionChunk(np.zeros((1, 7)))
            Path(once).touch()
        if self.mode == "segfault":
            os.kill(os.getpid(), signal.SIGSEGV)
        if self.mode == "exit":
            os._exit(7)
        if self.mode == "sysexit":
            raise SystemExit(3)
        if self.mode == "ctrlc":
            raise KeyboardInterrupt
        if self.mode == "unprintable":
            raise _Unprintable()
        if self.mode == "catch":  # swallows the step-timeout alarm and keeps going
            end = time.monotonic() + 30
            while time.monotonic() < end:
                with contextlib.suppress(BaseException):  # the point of this mode
                    time.sleep(0.05)
        if self.mode == "nancost":
            return ActionChunk(np.zeros((1, 7)), cost_usd=float("nan"))
        if self.mode == "budget_calls" and self.calls > int(self.config.options["n"]):
            raise BudgetExceeded(f"max_cost reached after {self.config.options['n']} calls")
        if self.mode == "slowstart":  # the first calls (warm-up) are slow, the rest fast
            time.sleep(0.3 if self.calls <= 2 else 0.01)
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
        if self.mode == "paid":  # a priced call with a run budget, checked before each call
            if self.spending.usd >= float(self.config.options["max_cost"]):
                raise BudgetExceeded(f"max_cost {self.config.options['max_cost']} USD reached")
            return ActionChunk(np.zeros((1, 7)), cost_usd=float(self.config.options["cost"]))
        if self.mode == "budget" and self.calls > 3:
            raise BudgetExceeded("max_cost 0.01 USD reached")
        if self.mode == "slow":
            time.sleep(float(self.config.options.get("sleep", "0.2")))
        return ActionChunk(np.zeros((1, 7)))

    def describe(self) -> dict[str, Any]:
        if self.mode == "baddescribe":
            raise RuntimeError("describe exploded")
        return super().describe()

    def close(self) -> None:
        if self.mode == "badclose":
            raise RuntimeError("close exploded")
        if self.mode == "hangclose":
            time.sleep(600)


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
    registry.add_policy("linear", "toyplugin:LinearPolicy", action_spaces=("ee_delta_7d",))
    registry.add_policy("bad", "toyplugin:BadPolicy", action_spaces=("ee_delta_7d",))
    registry.add_policy("discrete_only", "toyplugin:BadPolicy", action_spaces=("discrete",))
    registry.add_policy("unbuildable", "toyplugin:make_unbuildable")
    registry.add_policy("broken", "toyplugin:make_broken")
    registry.add_policy("flaky", "toyplugin:make_flaky")


def make_broken(config: PolicyConfig) -> PolicyBase:
    """A factory that fails the way a real backend does (no special exception type)."""
    raise OSError("no weights at /nowhere")


def make_flaky(config: PolicyConfig) -> PolicyBase:
    """Builds unless TOY_FAIL_BUILD is set: a resume whose policy no longer loads."""
    if os.environ.get("TOY_FAIL_BUILD"):
        raise RuntimeError("the checkpoint went away")
    return BadPolicy(PolicyConfig("flaky", options={"mode": "ok"}))


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
