"""Headless rendering through EGL: both cameras, configurable size, and no effect on physics."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from manipulation_helpers import TASK_NAMES, expert, task
from vla_bench_manipulation.rollout import rollout


def test_egl_is_the_default_backend() -> None:
    import vla_bench_manipulation  # noqa: F401

    assert os.environ["MUJOCO_GL"] == "egl"


@pytest.mark.parametrize("name", TASK_NAMES)
def test_both_cameras_render_the_scene(name: str) -> None:
    t = task(name)
    assert dict(t.spec.cameras) == {"front": (224, 224), "wrist": (224, 224)}
    env = t.make_env(t.track().episodes[0])
    obs, _ = env.reset(seed=t.track().episodes[0].seed)
    env.close()
    front, wrist = obs["images"]["front"], obs["images"]["wrist"]
    for image in (front, wrist):
        assert image.shape == (224, 224, 3) and image.dtype == np.uint8
        assert image.std() > 20, "a blank or uniform frame"
    assert not np.array_equal(front, wrist)
    assert obs["state"].dtype == np.float32 and obs["state"].shape == (len(t.spec.state_fields),)
    assert env.observation_space.contains(obs)


def test_image_size_is_configurable() -> None:
    t = task("valve", image_size=(96, 128))
    assert t.spec.cameras["wrist"] == (96, 128)
    env = t.make_env(t.track().episodes[0])
    obs, _ = env.reset(seed=1)
    env.close()
    assert obs["images"]["front"].shape == (96, 128, 3)


def test_shadows_can_be_turned_on() -> None:
    plain, shaded = task("handle", image_size=64), task("handle", image_size=64, shadows=True)
    images = []
    for t in (plain, shaded):
        env = t.make_env(t.track().episodes[0])
        obs, _ = env.reset(seed=5)
        env.close()
        images.append(obs["images"]["front"])
    assert not np.array_equal(images[0], images[1])


@pytest.mark.parametrize("name", TASK_NAMES)
def test_rendering_does_not_change_the_physics(name: str) -> None:
    t = task(name, image_size=64)
    episode = t.track().episodes[1]
    trails = []
    for render in (False, True):
        result = rollout(t, expert(name), episode, render=render)
        trails.append(np.array([info["ee_pose"] for info in result.infos]))
    assert trails[0].shape == trails[1].shape
    assert trails[0].tobytes() == trails[1].tobytes()


def test_render_false_leaves_images_empty() -> None:
    t = task("valve")
    env = t.make_env(t.track().episodes[0], render=False)
    obs, _ = env.reset(seed=0)
    assert obs["images"] == {} and env.render() is None
    env.close()


def test_missing_egl_driver_gives_an_install_hint() -> None:
    # An EGL loader that finds no vendor library is what a machine without Mesa's EGL sees.
    script = (
        "from vla_bench_manipulation.valve import make_task\n"
        "t = make_task()\n"
        "t.make_env(t.track().episodes[0], render=False).reset(seed=0)\n"
        "print('physics without a renderer works')\n"
        "t.make_env(t.track().episodes[0])\n"
    )
    env = {**os.environ, "__EGL_VENDOR_LIBRARY_FILENAMES": "/nonexistent/egl_vendor.json"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode != 0
    assert "physics without a renderer works" in done.stdout
    assert "RuntimeError: cannot create a MuJoCo renderer with the 'egl' GL backend" in done.stderr
    assert "libegl-mesa0" in done.stderr and "render=False" in done.stderr


@pytest.mark.parametrize("name", TASK_NAMES)
def test_gymnasium_env_checker_passes(name: str) -> None:
    t = task(name, image_size=48)
    env = t.make_env(t.track().episodes[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker reports problems as warnings
        check_env(env, skip_render_check=True)
    env.close()


def test_mujoco_imported_before_egl_was_chosen_is_named() -> None:
    script = (
        "import mujoco\n"  # picks its GL backend now, from an unset MUJOCO_GL
        "from vla_bench_manipulation.valve import make_task\n"
        "t = make_task()\n"
        "t.make_env(t.track().episodes[0])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MUJOCO_GL"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode != 0
    assert "mujoco was imported with the 'glfw' GL backend before MUJOCO_GL=egl" in done.stderr
