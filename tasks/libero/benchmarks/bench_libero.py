"""LIBERO figures on this machine: env build, reset, and the per-step cost split.

    python tasks/libero/benchmarks/bench_libero.py [--task libero_spatial-0] [--steps 10]

Prints the load average before and after (the figures mean little on a busy machine), then:
- build: a new simulator (scene XML compile + GL context with texture upload), per convention
  render size, canonical rendering;
- reset: a soft reset as vla-bench does it (pooled env) against robosuite's hard reset as
  openpi and LeRobot do it (rebuilds model and GL context), both followed by set_init_state;
- step: the median of ``--steps`` 20 Hz control steps with both cameras, and split into
  physics alone (an env without cameras) and each camera's render + read-back, for
  canonical and fast rendering at LeRobot's 360x360 and openpi's 256x256.
Rendering uses ``MUJOCO_GL`` (egl unless set) and Mesa's thread count (``LP_NUM_THREADS``).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from vla_bench_libero import sim
from vla_bench_libero.conventions import NOOP_ACTION, ROBOSUITE_CAMERAS
from vla_bench_libero.dependency import import_libero

from harness.plugins import load_plugins


def load() -> str:
    """The 1-minute load average and the core count."""
    return f"load {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"


def median_ms(fn: Callable[[], Any], n: int) -> float:
    """Median wall time of ``n`` calls after one untimed call, in ms."""
    fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def hard_reset(env: Any, seed: int, state: np.ndarray) -> None:
    """What openpi and LeRobot do before each episode (the env built with hard_reset=True)."""
    env.seed(seed)
    env.reset()
    env.set_init_state(state)


def main() -> None:
    """Print the figures described in the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="libero_spatial-0")
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    print(f"before: {load()}; LP_NUM_THREADS={os.environ.get('LP_NUM_THREADS', 'unset')}")
    task = load_plugins().registry.build_task(args.task)
    states = task.init_states
    key = task.make_env(task.track().episodes[0]).setup.key

    seconds, _ = timed(partial(import_libero, "libero.libero.envs"))
    print(f"import LIBERO + robosuite: {seconds:.1f} s")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds, env = timed(lambda: sim.build(key))
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024
    print(f"build ({args.task}, 360x360, canonical): {seconds:.1f} s, peak RSS +{grown:.0f} MiB")
    soft = [timed(partial(sim.start_episode, env, 1000 + i, states[i]))[0] for i in range(3)]
    print(f"soft reset + init state (vla-bench): median {1000 * np.median(soft):.0f} ms")
    sim.close(env)

    hard_key = sim.SimKey(key.bddl_file, 256, True, "canonical")
    seconds, hard_env = timed(lambda: sim.build(hard_key))
    print(f"build (256x256, canonical): {seconds:.1f} s")
    hard_env.env.hard_reset = True
    hard = [timed(partial(hard_reset, hard_env, 1000 + i, states[i]))[0] for i in range(3)]
    print(f"hard reset + init state (openpi, LeRobot): median {1000 * np.median(hard):.0f} ms")
    sim.close(hard_env)

    blind = sim.build(sim.SimKey(key.bddl_file, 360, False, "canonical"))
    sim.start_episode(blind, 1000, states[0])
    physics = median_ms(lambda: blind.step(list(NOOP_ACTION)), args.steps)
    print(f"step without cameras (physics, controller, success check): {physics:.1f} ms")
    sim.close(blind)

    print("render mode  size  step (2 cameras)  " + "  ".join(ROBOSUITE_CAMERAS.values()))
    for render in sim.RENDER_MODES:
        for size in (360, 256):
            env = sim.build(sim.SimKey(key.bddl_file, size, True, render))
            sim.start_episode(env, 1000, states[0])
            step = median_ms(partial(env.step, list(NOOP_ACTION)), args.steps)
            cams = [
                median_ms(partial(env.sim.render, size, size, camera_name=c), args.steps)
                for c in ROBOSUITE_CAMERAS.values()
            ]
            print(
                f"{render:11s}  {size:4d}  {step:13.0f} ms  "
                + "  ".join(f"{c:7.0f} ms" for c in cams)
            )
            sim.close(env)
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
