"""Bad actions raise clear errors, out-of-range ones are clipped and counted, blow-ups end."""

from __future__ import annotations

import numpy as np
import pytest
from manipulation_helpers import task
from vla_bench_manipulation.env import ACTION_SPACE


@pytest.fixture
def env():
    t = task("pick_place")
    e = t.make_env(t.track().episodes[0], render=False)
    e.reset(seed=t.track().episodes[0].seed)
    yield e
    e.close()


def test_nan_action_is_rejected(env) -> None:
    action = np.zeros(7)
    action[4] = np.nan
    with pytest.raises(ValueError, match=r"non-finite values in \['dpitch'\]"):
        env.step(action)


@pytest.mark.parametrize("action", [np.zeros(6), np.zeros((2, 7)), np.zeros((1, 7)), 0.0])
def test_wrong_shape_is_rejected(env, action) -> None:
    with pytest.raises(ValueError, match=r"shape \(7,\)"):
        env.step(action)


def test_non_numeric_action_is_rejected(env) -> None:
    with pytest.raises(ValueError, match="must be 7 numbers"):
        env.step(["left"] * 7)


def test_out_of_range_is_clipped_and_counted(env) -> None:
    start = env.ee_pos
    _, _, _, _, info = env.step(np.array([5.0, 0.0, 0.0, 0.0, 0.0, 0.0, -3.0]))
    assert info["clipped"] == 2 and info["clipped_total"] == 2
    moved = env.ee_pos[0] - start[0]
    assert 0.03 < moved <= ACTION_SPACE.high[0] + 1e-3, "moved by the bound, not by 5 m"
    _, _, _, _, info = env.step(np.zeros(7))
    assert info["clipped"] == 0 and info["clipped_total"] == 2


def test_workspace_keeps_the_gripper_above_the_table(env) -> None:
    for _ in range(10):
        terminated = env.step(np.array([0, 0, -0.05, 0, 0, 0, 1.0]))[2]
        assert not terminated
    assert env.ee_pos[2] > -0.005


def test_nan_state_ends_the_episode_with_a_reason(env, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # MuJoCo logs the blow-up to MUJOCO_LOG.TXT in the cwd
    env.data.qvel[-1] = np.nan
    _, reward, terminated, _, info = env.step(np.zeros(7))
    assert terminated and reward == 0.0 and not info["success"]
    assert "unstable" in info["failure"]


def test_flung_object_ends_the_episode_with_a_reason(env) -> None:
    adr = env.model.jnt_dofadr[env.model.joint("obj1").id]
    env.data.qvel[adr : adr + 3] = [0.0, 0.0, 60.0]
    _, _, terminated, _, info = env.step(np.zeros(7))
    assert terminated
    assert info["failure"] == "simulation unstable: object 'obj1' flung away"


@pytest.mark.parametrize("size", [0, (224,), (224, "224"), 5000])
def test_bad_image_size_is_rejected(size) -> None:
    with pytest.raises(ValueError, match="image_size"):
        task("valve", image_size=size)
