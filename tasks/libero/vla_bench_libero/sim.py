"""LIBERO simulators: built once per task and reused across its episodes.

Building a LIBERO env compiles the scene XML (~2 s) and uploads its textures into a new GL
context (~2 s); a robosuite *hard* reset, which openpi and LeRobot do before every episode,
repeats both. Here the env is built with ``hard_reset=False`` and reset softly: robosuite then
resets the MuJoCo data and re-samples fixture placements from the same seeded generator, and
the one thing a hard reset renews that a soft one keeps — the gripper's command integrator — is
zeroed by :func:`start_episode`. ``tests/test_reuse.py`` checks that an episode on a reused
env is bit-identical (state and pixels) to one on a freshly built, hard-reset env.

Envs are pooled per (scene, rendering, thread): a GL context belongs to the thread that made
it. Idle envs of a scene other than the one last released are closed, so a process running a
suite holds one idle env at a time.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vla_bench_libero.dependency import import_libero

RENDER_MODES = ("canonical", "fast")
"""``canonical``: the scene's own settings (4x multisampling, reflective table and floor), as
the published numbers were rendered. ``fast``: no multisampling, no reflections, no shadows —
for smoke runs on CPU renderers; a different track, never merged with canonical runs."""


@dataclass(frozen=True)
class SimKey:
    """What makes two LIBERO envs interchangeable."""

    bddl_file: str
    render_size: int
    cameras: bool
    render: str


def build(key: SimKey) -> Any:
    """A new LIBERO ``OffScreenRenderEnv`` for ``key``, with its rendering settings applied."""
    envs = import_libero("libero.libero.envs")
    env = envs.OffScreenRenderEnv(
        bddl_file_name=key.bddl_file,
        camera_heights=key.render_size,
        camera_widths=key.render_size,
        use_camera_obs=key.cameras,
        hard_reset=False,
    )
    if key.render == "fast":
        _render_fast(env)
    return env


def _render_fast(env: Any) -> None:
    import mujoco

    context = env.sim._render_context_offscreen
    # Multisampling is fixed when the GL context's buffers are made; remake them without it.
    env.sim.model._model.vis.quality.offsamples = 0
    context.con.free()
    context._set_mujoco_context_and_buffers()
    for flag in (mujoco.mjtRndFlag.mjRND_REFLECTION, mujoco.mjtRndFlag.mjRND_SHADOW):
        context.scn.flags[flag] = 0


def make_current(env: Any) -> None:
    """Make ``env``'s GL context current on this thread. robosuite renders into whichever
    context is current, and building another env (or any MuJoCo renderer) switches it."""
    context = getattr(env.sim, "_render_context_offscreen", None)
    if context is not None:
        context.gl_ctx.make_current()


def start_episode(env: Any, seed: int, init_state: np.ndarray) -> dict[str, Any]:
    """Reset ``env`` as openpi and LeRobot do (seed numpy, reset, restore the init state) and
    return robosuite's observation."""
    make_current(env)
    env.seed(seed)
    env.reset()
    for robot in env.robots:
        if robot.has_gripper:
            # A hard reset builds a new gripper, whose integrator starts at zero.
            robot.gripper.current_action = np.zeros(robot.gripper.dof)
    return dict(env.set_init_state(init_state))


def settle(env: Any, raw: dict[str, Any], steps: int, action: Sequence[float]) -> dict[str, Any]:
    """Step ``steps`` times with ``action`` (the no-op) and return the last observation."""
    for _ in range(steps):
        raw, _, _, _ = step(env, action)
    return raw


def step(env: Any, action: Sequence[float]) -> tuple[dict[str, Any], float, bool, dict[str, Any]]:
    """One control step of ``env`` (LIBERO's four-tuple), rendering into its own context."""
    make_current(env)
    raw, reward, done, info = env.step(list(action))
    return raw, reward, done, info


class SimPool:
    """Idle LIBERO envs by key, for reuse across episodes (thread-safe)."""

    def __init__(self, builder: Callable[[SimKey], Any] = build) -> None:
        self._builder = builder
        self._idle: dict[tuple[SimKey, int], list[Any]] = {}
        self._lock = threading.Lock()
        self._exit_hook = False

    def acquire(self, key: SimKey) -> Any:
        """An idle env for ``key`` built on this thread, or a new one."""
        slot = (key, threading.get_ident())
        with self._lock:
            idle = self._idle.get(slot)
            if idle:
                return idle.pop()
        env = self._builder(key)
        with self._lock:
            if not self._exit_hook:
                # Registered after the first GL context exists, so after robosuite's own
                # eglTerminate hook, and therefore run before it: envs freed after EGL shut
                # down print GL errors at exit.
                atexit.register(self.close_all)
                self._exit_hook = True
        return env

    def release(self, key: SimKey, env: Any) -> None:
        """Give ``env`` back; idle envs of other scenes are closed."""
        slot = (key, threading.get_ident())
        with self._lock:
            stale = [s for s in self._idle if s != slot]
            doomed = [e for s in stale for e in self._idle.pop(s)]
            self._idle.setdefault(slot, []).append(env)
        for old in doomed:
            close(old)

    def close_all(self) -> None:
        """Close every idle env (at exit, and in tests)."""
        with self._lock:
            doomed = [e for envs in self._idle.values() for e in envs]
            self._idle.clear()
        for env in doomed:
            close(env)


def close(env: Any) -> None:
    """Close a LIBERO env, ignoring a second close (LIBERO deletes its inner env on close)."""
    if not hasattr(env, "env"):
        return
    context = getattr(env.sim, "_render_context_offscreen", None)
    if context is not None:
        # robosuite leaves its GL context to the garbage collector, which may run after EGL
        # has shut down at exit and then prints GL errors; free it now. Both frees are
        # idempotent, so robosuite's own later ones do nothing. If another library already
        # terminated the EGL display, there is nothing left to free.
        try:
            context.gl_ctx.make_current()
            context.con.free()
            context.gl_ctx.free()
        except Exception:
            context.gl_ctx._context = None
    env.close()


POOL = SimPool()
"""This process's pool."""
