"""The 3D replay an env keeps of its episode: what to draw, and where every body was at each step.

:class:`PoseLog` copies every body's world pose after ``reset`` and after each control step
(two small array copies, ~1 µs against a ~2 ms step: see benchmarks/bench_manipulation.py).
:meth:`PoseLog.to_json` writes the episode as ``vla-bench-replay3d/1`` JSON, the format the
studio's 3D viewer reads (plugins/studio):

- ``bodies``: body names; ``geoms``: the visible geoms (``body`` index, ``type`` one of
  plane / sphere / capsule / ellipsoid / cylinder / box, MuJoCo ``size``, ``pos`` and ``quat``
  (w, x, y, z) in the body frame, ``rgba``) as the episode set them;
- ``cameras``: name, body, local ``pos`` / ``quat``, ``fovy`` (degrees); ``light``: the key
  light's direction and diffuse colour and the headlight's ambient level;
- ``steps`` frames of ``pos`` (steps x bodies x 3) and ``quat`` (steps x bodies x 4, w first),
  little-endian float32, base64.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import mujoco
import numpy as np

FORMAT = "vla-bench-replay3d/1"
ARTIFACT = "replay3d.json"
"""Name of the episode artifact (``parts/<task>/<episode>.replay3d.json`` in a run)."""
VISIBLE_GROUPS = 3
"""Geom groups below this are drawn (MuJoCo's default: 0, 1 and 2)."""
GEOM_TYPES = {
    int(mujoco.mjtGeom.mjGEOM_PLANE): "plane",
    int(mujoco.mjtGeom.mjGEOM_SPHERE): "sphere",
    int(mujoco.mjtGeom.mjGEOM_CAPSULE): "capsule",
    int(mujoco.mjtGeom.mjGEOM_ELLIPSOID): "ellipsoid",
    int(mujoco.mjtGeom.mjGEOM_CYLINDER): "cylinder",
    int(mujoco.mjtGeom.mjGEOM_BOX): "box",
}
"""The primitive geom types a viewer draws (meshes and height fields are not used by tasks)."""


def _floats(values: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1)]


def _rows(values: np.ndarray) -> list[list[float]]:
    """Each row of a 2-D array as a list of Python floats."""
    rows: list[list[float]] = np.asarray(values, dtype=np.float64).tolist()
    return rows


def scene_geometry(model: mujoco.MjModel) -> dict[str, Any]:
    """Bodies, visible geoms, cameras and lighting of ``model`` as it is now (after a reset)."""
    # Whole arrays to Python lists once (the same floats as element by element, in a fraction
    # of the time: this runs at the end of every episode).
    types, groups = model.geom_type.tolist(), model.geom_group.tolist()
    alpha, matid = model.geom_rgba[:, 3].tolist(), model.geom_matid.tolist()
    bodies, sizes = model.geom_bodyid.tolist(), _rows(model.geom_size)
    positions, quats = _rows(model.geom_pos), _rows(model.geom_quat)
    geom_rgba, mat_rgba = _rows(model.geom_rgba), _rows(model.mat_rgba)
    geoms = []
    for g in range(model.ngeom):
        kind = GEOM_TYPES.get(types[g])
        if kind is None or groups[g] >= VISIBLE_GROUPS or alpha[g] == 0:
            continue
        geoms.append(
            {
                "body": bodies[g],
                "type": kind,
                "size": sizes[g],
                "pos": positions[g],
                "quat": quats[g],
                "rgba": mat_rgba[matid[g]] if matid[g] >= 0 else geom_rgba[g],
            }
        )
    cam_pos, cam_quat, fovy = _rows(model.cam_pos), _rows(model.cam_quat), model.cam_fovy.tolist()
    cameras = [
        {
            "name": model.camera(c).name,
            "body": int(model.cam_bodyid[c]),
            "pos": cam_pos[c],
            "quat": cam_quat[c],
            "fovy": fovy[c],
        }
        for c in range(model.ncam)
    ]
    light = {
        "dir": _floats(model.light_dir[0]) if model.nlight else [0.0, 0.0, -1.0],
        "diffuse": _floats(model.light_diffuse[0]) if model.nlight else [0.6, 0.6, 0.6],
        "ambient": _floats(model.vis.headlight.ambient),
    }
    return {
        "bodies": [model.body(b).name for b in range(model.nbody)],
        "geoms": geoms,
        "cameras": cameras,
        "light": light,
    }


def _b64(frames: list[np.ndarray]) -> str:
    return base64.b64encode(np.stack(frames).astype("<f4").tobytes()).decode("ascii")


class PoseLog:
    """Every body's world pose after reset and after each control step of one episode."""

    def __init__(self) -> None:
        self.pos: list[np.ndarray] = []
        self.quat: list[np.ndarray] = []

    def start(self, data: mujoco.MjData) -> None:
        """Forget the last episode; record the first frame."""
        self.pos, self.quat = [], []
        self.add(data)

    def add(self, data: mujoco.MjData) -> None:
        """Record the current frame (``data`` after ``mj_forward``)."""
        self.pos.append(data.xpos.astype(np.float32))
        self.quat.append(data.xquat.astype(np.float32))

    def to_json(self, model: mujoco.MjModel, **about: Any) -> bytes:
        """The episode in the ``vla-bench-replay3d/1`` format; ``about`` adds header fields."""
        if not self.pos:
            raise RuntimeError("no episode recorded yet: reset the env before asking for a replay")
        body = {
            "format": FORMAT,
            **about,
            **scene_geometry(model),
            "steps": len(self.pos),
            "pos": _b64(self.pos),
            "quat": _b64(self.quat),
        }
        return json.dumps(body, separators=(",", ":")).encode("utf-8")
