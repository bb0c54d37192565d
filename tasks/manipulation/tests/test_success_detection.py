"""Each task's success rule on hand-set simulator states."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
from manipulation_helpers import task
from vla_bench_manipulation.handle import THRESHOLD, HandleEnv
from vla_bench_manipulation.pick_place import HALF_HEIGHT, PickPlaceEnv
from vla_bench_manipulation.valve import ValveEnv

PARKED = np.array([0.0, -0.25, 0.35])
IDENTITY = np.array([1.0, 0.0, 0.0, 0.0])
IDLE_OPEN = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0])


def _env(name: str, index: int = 0):
    t = task(name)
    episode = t.track().episodes[index]
    env = t.make_env(episode, render=False)
    env.reset(seed=episode.seed)
    return env


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_valve_success_needs_the_asked_angle_and_direction(index: int) -> None:
    env = _env("valve", index)
    assert isinstance(env, ValveEnv)
    joint = env.model.joint("valve").id
    adr = env.model.jnt_qposadr[joint]

    def turned_by(amount: float) -> bool:
        env.data.qpos[adr] = env.start_angle + env.direction * amount
        mujoco.mj_forward(env.model, env.data)
        return env.evaluate()[0]

    assert not turned_by(0.0)
    assert turned_by(env.goal)
    assert turned_by(env.goal - 0.1)
    assert not turned_by(env.goal - 0.3), "short of the goal"
    assert not turned_by(env.goal + 0.3), "overshot"
    assert not turned_by(-env.goal), "the wrong way round"
    env.data.qpos[adr] = env.start_angle + env.direction * (env.goal - 0.5)
    mujoco.mj_forward(env.model, env.data)
    assert env.evaluate()[1]["angle_error"] == pytest.approx(0.5)
    env.close()


def _put(env: PickPlaceEnv, xyz: np.ndarray) -> None:
    a = env.model.jnt_qposadr[env.model.joint("obj0").id]
    env.data.qpos[a : a + 3] = xyz
    env.data.qpos[a + 3 : a + 7] = IDENTITY
    env.data.qvel[:] = 0.0
    mujoco.mj_forward(env.model, env.data)


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_pick_place_success_needs_the_named_receptacle_and_release(index: int) -> None:
    env = _env("pick_place", index)
    assert isinstance(env, PickPlaceEnv)
    env.set_hand_pose(PARKED, IDENTITY)
    target = env.target_pos
    _put(env, target + np.array([0.0, 0.0, HALF_HEIGHT + 0.001]))
    assert env.evaluate()[0]
    # It stays solved while the physics runs with the hand away.
    _, _, _, _, info = env.step(IDLE_OPEN)
    assert info["success"], info["progress"]

    other = "plate" if env.target == "bowl" else "bowl"
    other_pos = env.data.xpos[env.model.body(other).id]
    _put(env, np.array([other_pos[0], other_pos[1], 0.05]))
    assert not env.evaluate()[0], "in the wrong receptacle"
    _put(env, target + np.array([0.0, 0.0, HALF_HEIGHT + 0.06]))
    assert not env.evaluate()[0], "held above the receptacle, not in it"

    # In place but still gripped: not done until let go.
    _put(env, target + np.array([0.0, 0.0, HALF_HEIGHT + 0.001]))
    env.set_hand_pose(env.object_pos, IDENTITY, opening=0.03)
    mujoco.mj_forward(env.model, env.data)
    assert env.held()
    assert not env.evaluate()[0]
    env.close()


@pytest.mark.parametrize("index", [0, 1])
def test_handle_success_past_the_latch_angle(index: int) -> None:
    env = _env("handle", index)
    assert isinstance(env, HandleEnv)
    adr = env.model.jnt_qposadr[env.model.joint("lever").id]
    for angle, expected in [(0.0, False), (THRESHOLD - 0.05, False), (THRESHOLD + 0.05, True)]:
        env.data.qpos[adr] = angle
        mujoco.mj_forward(env.model, env.data)
        assert env.evaluate()[0] is expected, angle
    # Let go, the spring brings the lever back up: success is a state, not a latch.
    env.set_hand_pose(PARKED, IDENTITY)
    for _ in range(10):
        _, _, _, _, info = env.step(IDLE_OPEN)
    assert not info["success"]
    assert env.angle < 0.05
    env.close()
