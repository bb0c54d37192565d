"""The episode export carries everything needed to rebuild the Python env's model and state."""

from __future__ import annotations

import json

import mujoco
import numpy as np
import pytest
from vla_bench_studio.episode import (
    StudioTaskError,
    build_task,
    episode_spec,
    export_episode,
)


def _rebuilt(export: dict) -> tuple[mujoco.MjModel, mujoco.MjData]:
    """What the page does with an export, done with Python MuJoCo."""
    model = mujoco.MjModel.from_xml_string(export["xml"])
    for name, values in export["overrides"].items():
        field = getattr(model, name)
        field[...] = np.asarray(values, dtype=field.dtype).reshape(field.shape)
    data = mujoco.MjData(model)
    mujoco.mj_setState(model, data, np.asarray(export["state"]), export["state_spec"])
    mujoco.mj_forward(model, data)
    return model, data


@pytest.mark.parametrize("name", ["valve", "pick_place", "handle"])
def test_export_rebuilds_the_envs_model_and_state(name: str) -> None:
    task = build_task(name)
    episode = episode_spec(task, 7)
    export = json.loads(json.dumps(export_episode(task, episode)))  # as the page receives it
    env = task.make_env(episode, render=False)
    try:
        obs, info = env.reset(seed=episode.seed)
        model, data = _rebuilt(export)
        for field in dir(env.model):
            theirs = getattr(env.model, field)
            if not field.startswith("_") and isinstance(theirs, np.ndarray):
                assert np.array_equal(getattr(model, field), theirs), field
        assert np.array_equal(data.qpos, env.data.qpos)
        assert np.array_equal(data.qvel, env.data.qvel)
        assert np.array_equal(data.qacc_warmstart, env.data.qacc_warmstart)
        assert np.array_equal(data.xpos, env.data.xpos)
        assert np.array_equal(data.mocap_quat, env.data.mocap_quat)
        # Stepping both the same way stays bit-identical: nothing the physics reads was left out.
        for d, m in ((data, model), (env.data, env.model)):
            d.ctrl[:] = 0.01
            mujoco.mj_step(m, d, nstep=50)
        assert np.array_equal(data.qpos, env.data.qpos)
    finally:
        env.close()
    assert export["instruction"] == obs["instruction"]
    assert export["success"] == info["success"]
    assert export["controller"]["n_substeps"] == 50
    assert export["rule"]["kind"] == name
    assert len(export["track_seeds"]) == len(task.track().episodes)


def test_any_seed_and_bad_episodes() -> None:
    task = build_task("valve")
    assert episode_spec(task, seed=123).seed == 123
    with pytest.raises(StudioTaskError, match=r"episode 50 is not on the valve track \(0\.\.49\)"):
        episode_spec(task, 50)
    with pytest.raises(StudioTaskError, match="not a MuJoCo manipulation task"):
        build_task("cartpole")
