"""The physics-rate end-effector path each step reports, and smoothness measured on it."""

from __future__ import annotations

import math

import numpy as np
from manipulation_helpers import expert, task

from harness import metrics


def _expert_then_hold(name: str, episode: int) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """Run the expert to success, then hold the pose (gripper unchanged) to the step limit.

    Returns the per-step ``ee_path`` arrays, the per-step ``ee_pose`` rows (the reset pose
    first) and the number of steps to success.
    """
    t = task(name)
    spec = t.track().episodes[episode]
    env = t.make_env(spec, render=False)
    policy = expert(name)
    try:
        obs, info = env.reset(seed=spec.seed)
        policy.reset(t.spec, spec, env)
        paths, poses = [], [info["ee_pose"]]
        success_at = -1
        action = np.zeros(7)
        for step in range(t.spec.max_steps):
            if success_at < 0:
                action = policy.act(obs).actions[0]
            else:
                action = np.concatenate([np.zeros(6), action[6:]])
            obs, _, _, _, info = env.step(action)
            paths.append(info["ee_path"])
            poses.append(info["ee_pose"])
            if info["success"] and success_at < 0:
                success_at = step + 1
        assert success_at > 0, "the expert should solve this episode"
        return paths, poses, success_at
    finally:
        env.close()


def test_each_step_reports_the_path_at_every_physics_substep() -> None:
    paths, poses, _ = _expert_then_hold("valve", 0)
    env = task("valve").make_env(task("valve").track().episodes[0], render=False)
    n = env.n_substeps
    env.close()
    assert n == 50  # 500 Hz physics, 10 Hz control
    for path, before, after in zip(paths, poses, poses[1:], strict=False):
        assert path.dtype == np.float64 and path.shape == (n, 3)
        assert np.array_equal(path[-1], after[:3])  # ends where the step's pose says
        # the first substep moves at most what 2 ms at the hand's top speed allows
        assert np.linalg.norm(path[0] - before[:3]) < 0.01


def test_an_idle_tail_leaves_smoothness_on_the_movement_window_unchanged() -> None:
    paths, poses, success_at = _expert_then_hold("pick_place", 1)
    fs = 500.0
    n = paths[0].shape[0]
    start = np.asarray(poses[0][:3])[None, :]
    full = np.concatenate([start, *paths])
    to_success = np.concatenate([start, *paths[:success_at]])
    # the old measure: the 10 Hz poses over the whole episode, idle tail included
    control = np.asarray(poses)[:, :3]
    old_held = metrics.ldlj(metrics.speed_profile(control, 10.0), 10.0)
    old_done = metrics.ldlj(metrics.speed_profile(control[: success_at + 1], 10.0), 10.0)
    assert abs(old_held - old_done) > 1.0
    # the new one: the physics-rate path over its movement window
    held = metrics.path_smoothness(full, fs, None)
    done = metrics.path_smoothness(to_success, fs, None)
    assert held["ldlj"] == done["ldlj"] and held["sparc"] == done["sparc"]
    # "start to success" with the success sample as the end: the same path, the same window
    at_success = metrics.path_smoothness(full, fs, end=1 + success_at * n)
    assert at_success == metrics.path_smoothness(to_success, fs, end=1 + success_at * n)
    assert math.isfinite(at_success["sparc"]) and at_success["smoothness_fs"] == fs
    assert at_success["movement_s"] <= success_at / 10.0
