"""A LIBERO episode through the task contract: observation format, rotated cameras, the 8-d
state against the simulator, and a few steps of the action space's documented semantics."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import mujoco
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from harness.plugins import load_plugins

SIZE = 64


@pytest.fixture(scope="module")
def started() -> Iterator[tuple[Any, Any, dict[str, Any], dict[str, Any]]]:
    """Task libero_spatial-0 at 64x64 (canonical rendering), episode 2 just reset with no
    settle steps, so that the observation is the simulator's current state: robosuite samples
    observations in the first physics substep of a control step, not at its end."""
    options = {"image_size": str(SIZE), "num_steps_wait": "0"}
    task = load_plugins().registry.build_task("libero_spatial-0", options)
    env = task.make_env(task.track().episodes[2])
    obs, info = env.reset()
    yield task, env, obs, info
    env.close()


def test_observation_format(started: tuple[Any, Any, dict[str, Any], dict[str, Any]]) -> None:
    task, env, obs, info = started
    assert set(obs["images"]) == {"image", "image2"}
    for image in obs["images"].values():
        assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
        assert image.std() > 10  # a rendered scene, not a blank frame
    assert obs["state"].dtype == np.float32 and obs["state"].shape == (8,)
    assert obs["instruction"] == task.spec.instruction
    assert info["success"] is False and info["ee_pose"].shape == (7,)
    assert env.observation_space.contains(obs)


def test_cameras_are_rotated_by_180_degrees(
    started: tuple[Any, Any, dict[str, Any], dict[str, Any]],
) -> None:
    """A plain MuJoCo renderer shows the camera's true view (top row first); openpi and LeRobot
    rotate robosuite's bottom-up frames by 180°, which is that view mirrored left-right."""
    _, env, obs, _ = started
    sim = env.raw.sim
    visual_only = mujoco.MjvOption()
    visual_only.geomgroup[0] = 0  # robosuite hides collision geoms
    for ours, camera in (("image", "agentview"), ("image2", "robot0_eye_in_hand")):
        with mujoco.Renderer(sim.model._model, SIZE, SIZE) as renderer:
            renderer.update_scene(sim.data._data, camera=camera, scene_option=visual_only)
            true_view = renderer.render()
        assert np.array_equal(obs["images"][ours], true_view[:, ::-1]), camera
        assert not np.array_equal(obs["images"][ours], true_view), camera


def _axis_angle_as_openpi(quat_xyzw: np.ndarray) -> np.ndarray:
    """scipy's rotation vector, mapped to openpi's/LeRobot's 2·acos(w) angle when w < 0."""
    rotvec = Rotation.from_quat(quat_xyzw).as_rotvec()
    if quat_xyzw[3] >= 0:
        return rotvec
    angle = np.linalg.norm(rotvec)
    return -rotvec / angle * (2 * math.pi - angle)


def test_state_layout_from_the_simulator(
    started: tuple[Any, Any, dict[str, Any], dict[str, Any]],
) -> None:
    _, env, obs, info = started
    model, data = env.raw.sim.model._model, env.raw.sim.data._data
    site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, "gripper0_grip_site")
    hand = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "robot0_right_hand")
    w, x, y, z = data.xquat[hand]
    fingers = [
        data.qpos[model.jnt_qposadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, j)]]
        for j in ("gripper0_finger_joint1", "gripper0_finger_joint2")
    ]
    expected = np.concatenate(
        [data.site_xpos[site], _axis_angle_as_openpi(np.array([x, y, z, w])), fingers]
    )
    np.testing.assert_allclose(obs["state"], expected, atol=2e-6)
    np.testing.assert_allclose(info["ee_pose"], [*data.site_xpos[site], w, x, y, z], atol=1e-9)


def test_actions_move_the_hand_and_close_the_gripper(
    started: tuple[Any, Any, dict[str, Any], dict[str, Any]],
) -> None:
    _, env, obs, _ = started
    up_and_close = np.array([0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0])
    state = obs["state"]
    for _ in range(4):
        obs, reward, terminated, truncated, info = env.step(up_and_close)
        assert (reward, terminated, truncated, info["success"]) == (0.0, False, False, False)
    rise = obs["state"][2] - state[2]
    assert 0.02 < rise < 4 * 0.05  # +1 asks 5 cm per step; OSC lags behind its target
    assert abs(obs["state"][0] - state[0]) < 0.01 and abs(obs["state"][1] - state[1]) < 0.01
    opening = obs["state"][6] - obs["state"][7]
    assert opening < (state[6] - state[7]) - 0.005  # fingers closing
    with pytest.raises(ValueError, match="action must be 7 finite numbers"):
        env.step(np.array([0.0, 0.0, np.nan, 0, 0, 0, 0]))


def test_a_reused_simulator_repeats_the_episode_after_other_gl_work(
    started: tuple[Any, Any, dict[str, Any], dict[str, Any]],
) -> None:
    """The env goes back to the pool; a MuJoCo renderer makes its own GL context current; the
    same episode on the pooled simulator then gives the same first observation as before."""
    task, env, first, _ = started
    simulator = env.raw
    env.close()
    with mujoco.Renderer(simulator.sim.model._model, SIZE, SIZE) as renderer:
        renderer.update_scene(simulator.sim.data._data, camera="agentview")
        renderer.render()
    again = task.make_env(env.episode)
    obs, _ = again.reset()
    assert again.raw is simulator
    for camera in ("image", "image2"):
        assert np.array_equal(obs["images"][camera], first["images"][camera]), camera
    assert np.array_equal(obs["state"], first["state"])
    again.close()
