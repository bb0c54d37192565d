"""One track episode of a manipulation task, exported for MuJoCo's WASM build in the page.

The page must simulate exactly what ``bench run`` simulates, so nothing here is re-described:
the export carries the env's own MJCF (``env.xml``), every model field the episode's reset
changed (lighting, colours, layout, shapes, hinge axes: found by comparing with a fresh
compile of the same XML), MuJoCo's full integration state after the reset's settling steps
(time, qpos, qvel, warm start, controls, mocap) as exact decimal doubles, the controller's
constants (:mod:`vla_bench_manipulation.env`), the success rule's parameters
(:mod:`vla_bench_studio.rules`) and the scene geometry the 3D view draws
(:func:`vla_bench_manipulation.replay.scene_geometry`).
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np
from vla_bench_manipulation import env as manipulation
from vla_bench_manipulation.replay import scene_geometry
from vla_bench_manipulation.scene import FINGER_TRAVEL

from harness.contract import EpisodeSpec
from vla_bench_studio.rules import success_rule

FORMAT = "vla-bench-studio-episode/1"
STATE_SPEC = int(mujoco.mjtState.mjSTATE_INTEGRATION)
"""Everything ``mj_step`` reads: time, qpos, qvel, act, warm start, controls, mocap, ..."""


class StudioTaskError(ValueError):
    """The task cannot be shown in the studio; the message says which tasks can."""


def build_task(name: str) -> Any:
    """The registered task ``name`` (a clear error when it is not a manipulation-suite task)."""
    from harness.plugins import registry

    task = registry().build_task(name)
    env = task.make_env(EpisodeSpec(0, 0), render=False)
    env.close()
    if not isinstance(env, manipulation.ManipulationEnv):
        raise StudioTaskError(
            f"task {name!r} is not a MuJoCo manipulation task; the studio shows the "
            f"manipulation suite's tasks (bench list tasks)"
        )
    return task


def episode_spec(task: Any, index: int | None = None, seed: int | None = None) -> EpisodeSpec:
    """Track episode ``index`` (default 0), or any scene ``seed`` (then index -1)."""
    if seed is not None:
        return EpisodeSpec(-1, int(seed))
    episodes = task.track().episodes
    i = 0 if index is None else int(index)
    if not 0 <= i < len(episodes):
        raise StudioTaskError(
            f"episode {i} is not on the {task.spec.name} track (0..{len(episodes) - 1})"
        )
    return episodes[i]


def model_overrides(env: manipulation.ManipulationEnv) -> dict[str, list[float]]:
    """Every model array the episode's reset changed, whole and flattened, by field name."""
    fresh = mujoco.MjModel.from_xml_string(env.xml)
    changed: dict[str, list[float]] = {}
    for name in dir(env.model):
        value = getattr(env.model, name, None)
        if name.startswith("_") or not isinstance(value, np.ndarray):
            continue
        if not np.array_equal(value, getattr(fresh, name)):
            changed[name] = value.reshape(-1).tolist()
    return changed


def controller(env: manipulation.ManipulationEnv) -> dict[str, Any]:
    """The constants and ids the page's port of ``ManipulationEnv.step`` needs."""
    m, d = env.model, env.data
    mocap = int(m.body_mocapid[m.body("mocap").id])
    return {
        "control_hz": manipulation.CONTROL_HZ,
        "n_substeps": env.n_substeps,
        "interpolation_chunks": manipulation.INTERPOLATION_CHUNKS,
        "action_low": list(manipulation.ACTION_SPACE.low),
        "action_high": list(manipulation.ACTION_SPACE.high),
        "workspace_low": manipulation.WORKSPACE_LOW.tolist(),
        "workspace_high": manipulation.WORKSPACE_HIGH.tolist(),
        "max_lag": manipulation.MAX_LAG,
        "finger_travel": FINGER_TRAVEL,
        "hand_body": int(m.body("hand").id),
        "mocap": mocap,
        "finger_qpos": [int(m.jnt_qposadr[m.joint(f).id]) for f in ("finger_l", "finger_r")],
        # After a reset the target is where the hand was put: the mocap pose.
        "target_pos": d.mocap_pos[mocap].tolist(),
        "target_quat": d.mocap_quat[mocap].tolist(),
        "flung_distance": manipulation.FLUNG_DISTANCE,
        "flung_speed": manipulation.FLUNG_SPEED,
        "free_joints": [
            int(j)
            for j in range(m.njnt)
            if m.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE and j != m.joint("hand").id
        ],
    }


def integration_state(env: manipulation.ManipulationEnv) -> list[float]:
    """MuJoCo's ``mjSTATE_INTEGRATION`` state vector of the env now."""
    state = np.empty(mujoco.mj_stateSize(env.model, STATE_SPEC))
    mujoco.mj_getState(env.model, env.data, state, STATE_SPEC)
    return state.tolist()


def export_episode(task: Any, episode: EpisodeSpec) -> dict[str, Any]:
    """Everything the page needs to show and simulate ``episode`` exactly as ``bench run`` does."""
    env = task.make_env(episode, render=False)
    try:
        obs, info = env.reset(seed=episode.seed)
        spec = task.spec
        return {
            "format": FORMAT,
            "mujoco": mujoco.__version__,
            "task": spec.name,
            "description": spec.description,
            "episode": episode.index,
            "seed": episode.seed,
            "track_seeds": [e.seed for e in task.track().episodes],
            "instruction": str(obs["instruction"]),
            "max_steps": spec.max_steps,
            "xml": env.xml,
            "overrides": model_overrides(env),
            "state_spec": STATE_SPEC,
            "state": integration_state(env),
            "controller": controller(env),
            "rule": success_rule(env),
            "success": bool(info["success"]),
            "progress": {k: float(v) for k, v in info["progress"].items()},
            "scene": scene_geometry(env.model),
        }
    finally:
        env.close()
