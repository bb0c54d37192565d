"""Helpers for the studio tests: reference rollouts in Python MuJoCo and synthetic hand frames."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation
from vla_bench_training.demos import load_task
from vla_bench_training.handtracking import Calibration, synthesise_log

from harness.contract import EpisodeSpec, PolicyConfig

QPOS_TOLERANCE = 1e-6
"""Largest |qpos| difference accepted between the page and Python after a whole episode (rad or
m). Measured over 50 track episodes per task: <= 4e-10 (MuJoCo 3.3.8 WASM vs 3.3.7 native, V8
vs numpy arithmetic); a wrong substep count, controller or state gives >= 1e-3."""


@dataclass
class Reference:
    """A Python rollout: the actions, and what the env reported after each."""

    task: str
    episode: EpisodeSpec
    actions: list[list[float]] = field(default_factory=list)
    success: list[bool] = field(default_factory=list)
    progress: list[dict[str, float]] = field(default_factory=list)
    qpos: list[list[float]] = field(default_factory=list)


def rollout(task_name: str, index: int, policy: str = "expert", seed: int = 0) -> Reference:
    """Run the task's expert (or uniform random actions) on track episode ``index``."""
    task, expert_factory = load_task(task_name)
    episode = task.track().episodes[index]
    env = task.make_env(episode, render=False)
    rng = np.random.default_rng(seed)
    low = np.asarray(task.spec.action_space.low)
    high = np.asarray(task.spec.action_space.high)
    ref = Reference(task_name, episode)
    try:
        obs, info = env.reset(seed=episode.seed)
        expert = expert_factory(PolicyConfig("scripted"))
        expert.reset(task.spec, episode, env)
        for _ in range(task.spec.max_steps):
            action = expert.act(obs).actions[0] if policy == "expert" else rng.uniform(low, high)
            obs, _, terminated, truncated, info = env.step(action)
            ref.actions.append([float(v) for v in action])
            ref.success.append(bool(info["success"]))
            ref.progress.append({k: float(v) for k, v in info["progress"].items()})
            ref.qpos.append(env.data.qpos.tolist())
            if info["success"] or terminated or truncated:
                break
    finally:
        env.close()
    return ref


def console_errors(driver: Any) -> list[dict[str, Any]]:
    """Console entries at warning level or worse since the last call."""
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]


# -- synthetic hand tracking --------------------------------------------------------------------

XR_TO_TASK = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])
"""A viewer looking down WebXR's -z with y up: task x = right, y = ahead, z = up."""
HOLD_POSITION = np.array([0.05, 1.1, -0.35])
"""Where the synthetic right hand calibrates and starts a take (XR metres)."""
HOLD_QUAT = Rotation.from_euler("xyz", [0.3, -0.2, 0.5]).as_quat()  # x, y, z, w


def _wxyz(q_xyzw: np.ndarray) -> np.ndarray:
    return np.roll(q_xyzw, 1)


def anchored_calibration(gripper_pos: np.ndarray, gripper_quat: np.ndarray) -> Calibration:
    """The calibration the page should find: R facing -z, scale 1, the hold pose on the gripper."""
    frame = Rotation.from_matrix(XR_TO_TASK)
    hand = (frame * Rotation.from_quat(HOLD_QUAT)).inv() * Rotation.from_quat(
        np.roll(gripper_quat, -1)
    )
    return Calibration(
        rotation=XR_TO_TASK,
        translate=gripper_pos - XR_TO_TASK @ HOLD_POSITION,
        scale=1.0,
        hand_rotation=_wxyz(hand.as_quat()),
    )


def hand(position: np.ndarray, quat_xyzw: np.ndarray, pinched: bool) -> dict[str, Any]:
    """WebXR joints of a hand pinching at ``position``: thumb and index tips either side."""
    gap = 0.005 if pinched else 0.06
    offset = Rotation.from_quat(quat_xyzw).apply([gap / 2, 0, 0])
    return {
        "wrist": {
            "position": (position + np.array([0, -0.02, 0.08])).tolist(),
            "orientation": list(quat_xyzw),
        },
        "thumb-tip": {"position": (position - offset).tolist()},
        "index-finger-tip": {"position": (position + offset).tolist()},
    }


def frame(t: float, right: dict[str, Any] | None, left: dict[str, Any] | None = None) -> dict:
    """A frame as handcapture.js reads it, the viewer facing -z."""
    hands = {k: v for k, v in (("right", right), ("left", left)) if v is not None}
    head = {"position": [0, 1.6, 0], "orientation": [0, 0, 0, 1]}
    return {"t": t, "head": head, "hands": hands}


LEFT_REST = np.array([-0.3, 1.0, -0.3])
IDENTITY_XYZW = np.array([0.0, 0.0, 0.0, 1.0])


def left_pinch(t0: float, duration: float, right: dict[str, Any]) -> list[dict]:
    """Frames of a left-hand pinch lasting ``duration`` s while the right hand stays put."""
    times = np.arange(t0, t0 + duration, 1 / 72)
    frames = [frame(t, right, hand(LEFT_REST, IDENTITY_XYZW, True)) for t in times]
    frames.append(frame(t0 + duration, right, hand(LEFT_REST, IDENTITY_XYZW, False)))
    return frames


def xr_session(task_name: str, index: int, part: float = 1.0) -> tuple[list[dict], Calibration]:
    """Frames that calibrate, start a take, replay the expert's motion by hand and stop.

    ``part`` < 1 keeps only that fraction of the motion (a take stopped before the task is
    done, whose replay check must fail). Returns the frames and the true calibration.
    """
    task, expert_factory = load_task(task_name)
    episode = task.track().episodes[index]
    env = task.make_env(episode, render=False)
    try:
        _, info = env.reset(seed=episode.seed)
    finally:
        env.close()
    pose = np.asarray(info["ee_pose"])
    truth = anchored_calibration(pose[:3], pose[3:])
    tracked = synthesise_log(
        task, expert_factory(PolicyConfig("scripted")), episode.seed, rate_hz=72,
        position_noise=0.0005, angle_noise_deg=0.2, calibration=truth,
        rng=np.random.default_rng(index),
    )  # fmt: skip
    start = float(tracked.t[0])  # the take starts on the tracker's first sample
    still = hand(HOLD_POSITION, HOLD_QUAT, True)
    frames = [
        frame(start - 2.0 + k / 72, still) for k in range(90)
    ]  # 1.25 s still pinch: calibrate
    open_hand = hand(HOLD_POSITION, HOLD_QUAT, False)
    frames += [frame(start - 0.7 + k / 72, open_hand) for k in range(20)]  # release: live
    n = max(2, round(part * len(tracked.t)))
    moves = [
        hand(p, np.roll(q, -1), bool(pinch))
        for p, q, pinch in zip(tracked.position, tracked.quat_wxyz, tracked.pinch, strict=True)
    ][:n]
    # A short left pinch, released on the first sample of the take: recording starts there.
    frames += left_pinch(start - 0.25, 0.25, open_hand)[:-1]
    frames.append(frame(start, moves[0], hand(LEFT_REST, IDENTITY_XYZW, False)))
    frames += [frame(float(t), m) for t, m in zip(tracked.t[1:n], moves[1:], strict=True)]
    frames += left_pinch(float(tracked.t[n - 1]) + 0.05, 0.2, moves[-1])  # stop, if still on
    return frames, truth
