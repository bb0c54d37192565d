"""Quaternion helpers (w, x, y, z, MuJoCo's order) for end-effector deltas and experts."""

from __future__ import annotations

import numpy as np


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` (apply ``b`` first, then ``a``)."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return np.array(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ]
    )


def quat_from_euler(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """Rotation by ``roll`` about world x, then ``pitch`` about world y, then ``yaw`` about z."""
    cr, sr = np.cos(roll / 2), np.sin(roll / 2)
    cp, sp = np.cos(pitch / 2), np.sin(pitch / 2)
    cy, sy = np.cos(yaw / 2), np.sin(yaw / 2)
    qx = np.array([cr, sr, 0.0, 0.0])
    qy = np.array([cp, 0.0, sp, 0.0])
    qz = np.array([cy, 0.0, 0.0, sy])
    return quat_mul(qz, quat_mul(qy, qx))


def quat_conj(q: np.ndarray) -> np.ndarray:
    """Inverse of a unit quaternion."""
    return np.array([q[0], -q[1], -q[2], -q[3]])


def quat_to_rotvec(q: np.ndarray) -> np.ndarray:
    """Axis times angle (radians, in [0, pi]) of a unit quaternion."""
    q = q if q[0] >= 0 else -q
    s = float(np.linalg.norm(q[1:]))
    if s < 1e-12:
        return np.zeros(3)
    angle = 2.0 * np.arctan2(s, q[0])
    return q[1:] / s * angle


def yaw_of(q: np.ndarray) -> float:
    """Heading (rotation about world z) of an orientation, radians in (-pi, pi]."""
    w, x, y, z = q
    return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))
