"""From robosuite's raw observation dict to the policy's images and 8-d state."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image

from vla_bench_libero.conventions import ROBOSUITE_CAMERAS


def quat_to_axis_angle(quat_xyzw: np.ndarray) -> np.ndarray:
    """robosuite's ``quat2axisangle`` as openpi and LeRobot apply it: angle ``2·acos(w)`` with
    no sign canonicalisation (so up to 2π), zero for a (near) identity rotation."""
    x, y, z, w = (float(v) for v in quat_xyzw)
    w = min(1.0, max(-1.0, w))
    den = math.sqrt(1.0 - w * w)
    if math.isclose(den, 0.0):
        return np.zeros(3)
    return np.array([x, y, z]) * 2.0 * math.acos(w) / den


def state_vector(raw: Mapping[str, Any]) -> np.ndarray:
    """eef position, eef axis-angle, the two finger joint positions: float32[8]."""
    return np.concatenate(
        (
            np.asarray(raw["robot0_eef_pos"], dtype=np.float64),
            quat_to_axis_angle(raw["robot0_eef_quat"]),
            np.asarray(raw["robot0_gripper_qpos"], dtype=np.float64),
        )
    ).astype(np.float32)


def ee_pose(raw: Mapping[str, Any]) -> np.ndarray:
    """(x, y, z, qw, qx, qy, qz): the same position and orientation the state is built from."""
    x, y, z, w = np.asarray(raw["robot0_eef_quat"], dtype=np.float64)
    return np.concatenate((np.asarray(raw["robot0_eef_pos"], dtype=np.float64), [w, x, y, z]))


def rotated(frame: np.ndarray, size: int) -> np.ndarray:
    """A robosuite frame rotated by 180°, then resized to ``size`` x ``size`` with PIL's
    bilinear filter if it differs (openpi's ``resize_with_pad``, which pads nothing for a
    square frame).

    robosuite returns OpenGL's bottom-up rows; rotating them by 180° gives the camera's view
    mirrored left-right. That is how LIBERO's frames were preprocessed for the openpi and
    LeRobot datasets, so it is what their checkpoints expect (``tests/test_env.py`` pins it
    against a plain MuJoCo render)."""
    image = np.ascontiguousarray(frame[::-1, ::-1])
    if image.shape[0] == size and image.shape[1] == size:
        return image
    return np.asarray(
        Image.fromarray(image).resize((size, size), resample=Image.Resampling.BILINEAR)
    )


def images(raw: Mapping[str, Any], size: int) -> dict[str, np.ndarray]:
    """Every camera the raw observation holds, rotated and at ``size``, by our camera name."""
    return {
        name: rotated(raw[f"{camera}_image"], size)
        for name, camera in ROBOSUITE_CAMERAS.items()
        if f"{camera}_image" in raw
    }
