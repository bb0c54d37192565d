"""Hand-tracking demonstrations (e.g. an Apple Vision Pro ARKit log) -> the vla-bench dataset.

The accepted JSON and CSV forms, and visionOS hand anchors as ARKit exposes them, are
documented in this plugin's README. The pipeline:

1. **parse** each log into samples: time (s), wrist/palm position, orientation, pinch state;
   every value is checked here (finite, plausible, increasing time without long gaps) and a
   bad one is an error naming the file and the row;
2. **calibrate** every sample into the task frame: ``p_task = s R p + t`` and
   ``q_task = q_R * q * q_hand`` (``q_hand`` turns the hand's own axes into the gripper's);
3. **resample** to the task's control rate: positions linearly, orientations by slerp, pinch
   held from the last sample (zero-order hold);
4. **actions**: step k moves the target from pose k to pose k+1, i.e. ``ee_delta_7d`` =
   position delta and the relative rotation as world-frame roll/pitch/yaw in the env's own
   convention (extrinsic x, y, z), plus the gripper (pinched -> +1 closed, else -1 open);
   deltas beyond the action bounds are clipped and counted;
5. **replay check**: the actions are executed in the simulator from the log's scene seed; the
   observations recorded are the simulator's, and the episode is kept only if the task
   succeeds (``--keep-failed`` keeps all). How many still succeed is reported.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.contract import EpisodeSpec, Task, TaskSpec
from harness.episode import run_episode
from harness.results import ERROR_OUTCOMES
from vla_bench_training.dataset import DatasetWriter, Episode
from vla_bench_training.errors import TrainingInputError
from vla_bench_training.progress import Progress

PINCH_THRESHOLD = 0.5
"""A numeric pinch value at or above this means pinched (closed)."""
PINCH_DISTANCE_M = 0.025
"""visionOS hand anchors: thumb and index fingertips closer than this are a pinch."""
MAX_POSITION_M = 100.0
"""A tracked position farther than this from the tracking origin is a corrupt value."""
MAX_GAP_S = 2.0
"""Longest gap between two samples of one demonstration (a longer one is a bad timestamp or a
tracking loss; the demonstration cannot be interpolated across it)."""
SEED_RANGE = (0, 2**32 - 1)


class HandTrackingError(TrainingInputError):
    """A log or calibration cannot be used; the message names the file, row and fix."""


@dataclass
class HandLog:
    """One demonstration as tracked: N samples in the tracking frame, time-sorted."""

    source: str
    t: np.ndarray  # (N,) seconds
    position: np.ndarray  # (N, 3) metres
    quat_wxyz: np.ndarray  # (N, 4) unit quaternions, w first
    pinch: np.ndarray  # (N,) bool
    seed: int | None = None
    instruction: str | None = None


@dataclass(frozen=True)
class Calibration:
    """Tracking frame -> task frame: ``p' = scale * R p + translate``, ``q' = q_R q q_hand``."""

    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    translate: np.ndarray = field(default_factory=lambda: np.zeros(3))
    scale: float = 1.0
    hand_rotation: np.ndarray = field(default_factory=lambda: np.array([1.0, 0.0, 0.0, 0.0]))

    def apply(self, log: HandLog) -> HandLog:
        """``log`` with every pose expressed in the task frame."""
        from scipy.spatial.transform import Rotation

        position = self.scale * log.position @ self.rotation.T + self.translate
        frame = Rotation.from_matrix(self.rotation)
        hand = Rotation.from_quat(_xyzw(self.hand_rotation))
        quats = frame * Rotation.from_quat(_xyzw(log.quat_wxyz)) * hand
        return HandLog(
            log.source, log.t, position, _wxyz(quats.as_quat()), log.pinch, log.seed,
            log.instruction,
        )  # fmt: skip

    def inverse(self) -> Calibration:
        """The task -> tracking transform (for synthesising logs)."""
        from scipy.spatial.transform import Rotation

        r_inv = self.rotation.T
        hand_inv = Rotation.from_quat(_xyzw(self.hand_rotation)).inv()
        # p = R^T (p' - t) / s; q = R^T q' q_hand^-1: hand_rotation goes on the right again.
        return Calibration(
            rotation=r_inv,
            translate=-(r_inv @ self.translate) / self.scale,
            scale=1.0 / self.scale,
            hand_rotation=_wxyz(hand_inv.as_quat()),
        )


def _xyzw(q: np.ndarray) -> np.ndarray:
    return np.roll(np.asarray(q, dtype=np.float64), -1, axis=-1)


def _wxyz(q: np.ndarray) -> np.ndarray:
    return np.roll(np.asarray(q, dtype=np.float64), 1, axis=-1)


def _numbers(value: Any, n: int, what: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise HandTrackingError(f"{what} must be {n} numbers, got {value!r}") from None
    if array.size != n or not np.all(np.isfinite(array)):
        raise HandTrackingError(f"{what} must be {n} finite numbers, got {value!r}")
    return array


def _position(value: Any, where: str) -> np.ndarray:
    position = _numbers(value, 3, f"{where}: position")
    if np.abs(position).max() > MAX_POSITION_M:
        raise HandTrackingError(
            f"{where}: position {position.tolist()} is more than {MAX_POSITION_M:g} m from the "
            f"tracking origin; positions are metres (fix or drop that row)"
        )
    return position


def _quaternion(value: np.ndarray, where: str) -> np.ndarray:
    if not np.all(np.isfinite(value)) or np.linalg.norm(value) < 1e-9:
        raise HandTrackingError(
            f"{where}: orientation {value.tolist()} is not a rotation (zero or not finite)"
        )
    return value / np.linalg.norm(value)


def _time(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise HandTrackingError(f"{where}: time {value!r} is not a number of seconds")
    try:
        t = float(value)
    except ValueError:
        raise HandTrackingError(f"{where}: time {value!r} is not a number of seconds") from None
    if not np.isfinite(t):
        raise HandTrackingError(f"{where}: time {value!r} is not finite")
    return t


def _seed(value: Any, where: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise HandTrackingError(f"{where}: seed {value!r} is not an integer")
    try:
        seed = int(value)
    except (TypeError, ValueError):
        raise HandTrackingError(f"{where}: seed {value!r} is not an integer") from None
    if seed != value and str(seed) != str(value).strip():
        raise HandTrackingError(f"{where}: seed {value!r} is not a whole number")
    low, high = SEED_RANGE
    if not low <= seed <= high:
        raise HandTrackingError(f"{where}: seed {seed} is outside {low}..{high}")
    return seed


def calibration_from_dict(data: dict[str, Any], where: str) -> Calibration:
    """A :class:`Calibration` from ``{"matrix": 4x4}`` or translate/rotate/scale keys."""
    known = {"matrix", "translate", "rotate", "scale", "hand_rotation"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise HandTrackingError(
            f"{where}: unknown calibration keys {unknown}; known: {sorted(known)}"
        )
    hand = _numbers(data.get("hand_rotation", [1, 0, 0, 0]), 4, f"{where} hand_rotation (w,x,y,z)")
    hand = hand / np.linalg.norm(hand)
    if "matrix" in data:
        if {"translate", "rotate", "scale"} & set(data):
            raise HandTrackingError(f"{where}: give either matrix or translate/rotate/scale")
        m = _numbers(data["matrix"], 16, f"{where} matrix (4x4, row-major)").reshape(4, 4)
        if not np.allclose(m[3], [0, 0, 0, 1]):
            raise HandTrackingError(f"{where}: the matrix's last row must be 0 0 0 1")
        linear = m[:3, :3]
        scale = float(np.cbrt(np.linalg.det(linear)))
        rotation = linear / scale if scale > 0 else linear
        if scale <= 0 or not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-4):
            raise HandTrackingError(
                f"{where}: the matrix's 3x3 part must be a rotation times a positive uniform "
                f"scale (got det {np.linalg.det(linear):.4g}); shear or mirroring cannot be "
                f"a tracking-to-task calibration"
            )
        return Calibration(rotation, m[:3, 3].copy(), scale, hand)
    from scipy.spatial.transform import Rotation

    q = _numbers(data.get("rotate", [1, 0, 0, 0]), 4, f"{where} rotate (w,x,y,z)")
    if np.linalg.norm(q) < 1e-9:
        raise HandTrackingError(f"{where}: rotate is a zero quaternion")
    scale = float(data.get("scale", 1.0))
    if not scale > 0:
        raise HandTrackingError(f"{where}: scale must be positive, got {scale}")
    return Calibration(
        Rotation.from_quat(_xyzw(q / np.linalg.norm(q))).as_matrix(),
        _numbers(data.get("translate", [0, 0, 0]), 3, f"{where} translate"),
        scale,
        hand,
    )


def parse_calibration(text: str | None) -> Calibration:
    """``--calibration``: a JSON file, inline ``key=v,v,v;key=...``, or None (identity)."""
    if text is None:
        return Calibration()
    path = Path(text).expanduser()
    if path.suffix == ".json" or path.is_file():
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise HandTrackingError(f"--calibration {text}: cannot read JSON ({exc})") from None
        if not isinstance(data, dict):
            raise HandTrackingError(f"--calibration {text}: expected a JSON object")
        return calibration_from_dict(data, str(path))
    inline: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        key, sep, value = item.partition("=")
        if not sep:
            raise HandTrackingError(f"--calibration item {item!r} is not key=numbers")
        numbers = [v for v in value.split(",") if v.strip()]
        inline[key.strip()] = float(numbers[0]) if key.strip() == "scale" else numbers
    return calibration_from_dict(inline, "--calibration")


# -- parsing ----------------------------------------------------------------------------------


def _pinch(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "yes", "closed", "pinch"):
            return True
        if low in ("false", "no", "open", ""):
            return False
    try:
        return float(value) >= PINCH_THRESHOLD
    except (TypeError, ValueError):
        raise HandTrackingError(f"{where}: pinch {value!r} is not a boolean or number") from None


def _matrix(value: Any, what: str) -> np.ndarray:
    """A ``simd_float4x4`` as ARKit stores it: 16 numbers, column-major -> a 4x4 array."""
    m = _numbers(value, 16, f"{what} (16 numbers, column-major 4x4)").reshape(4, 4).T
    if not np.allclose(m[3], [0.0, 0.0, 0.0, 1.0], atol=1e-4):
        raise HandTrackingError(
            f"{what}: the last row of the 4x4 is {m[3].tolist()}, not 0 0 0 1; a transform "
            f"is stored column-major (translation in elements 12-14)"
        )
    rotation = m[:3, :3]
    if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-3) or np.linalg.det(rotation) < 0:
        raise HandTrackingError(f"{what}: the 3x3 part is not a rotation")
    return m


def _transform_pose(value: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    """ARKit's ``originFromAnchorTransform``: 16 numbers, column-major (simd_float4x4)."""
    from scipy.spatial.transform import Rotation

    m = _matrix(value, f"{where} transform")
    position = _position(m[:3, 3], where)
    return position, _wxyz(Rotation.from_matrix(m[:3, :3]).as_quat())


Row = tuple[float, np.ndarray, np.ndarray, bool, str]
"""time, position, quaternion (w first), pinched, where the row is (for errors)."""


def _finish(source: str, rows: list[Row], seed: int | None, text: Any) -> HandLog:
    if len(rows) < 2:
        raise HandTrackingError(f"{source}: needs at least 2 tracked samples, has {len(rows)}")
    rows.sort(key=lambda r: r[0])
    t = np.array([r[0] for r in rows])
    steps = np.diff(t)
    for k in np.flatnonzero(steps <= 0)[:1]:
        raise HandTrackingError(
            f"{rows[k + 1][4]}: time {t[k + 1]} repeats {rows[k][4]}; timestamps must be "
            f"strictly increasing"
        )
    for k in np.flatnonzero(steps > MAX_GAP_S)[:1]:
        raise HandTrackingError(
            f"{rows[k + 1][4]}: time {t[k + 1]} is {steps[k]:.3g} s after the previous sample "
            f"({rows[k][4]}); gaps over {MAX_GAP_S:g} s are a bad timestamp or lost tracking: "
            f"fix the row or split the log"
        )
    return HandLog(
        source, t, np.array([r[1] for r in rows]), np.array([r[2] for r in rows]),
        np.array([r[3] for r in rows]), seed, str(text) if text else None,
    )  # fmt: skip


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HandTrackingError(f"{path}: not readable JSON ({exc})") from None
    except RecursionError:
        raise HandTrackingError(
            f"{path}: JSON nested too deeply to be a hand-tracking log"
        ) from None


def _parse_json(path: Path) -> HandLog:
    data = _read_json(path)
    if isinstance(data, dict) and isinstance(data.get("anchors"), list):
        return _parse_hand_anchors(path, data)
    if not isinstance(data, dict) or not isinstance(data.get("samples"), list):
        raise HandTrackingError(
            f'{path}: expected an object with a "samples" list, or visionOS hand "anchors" '
            f"(see README)"
        )
    rows: list[Row] = []
    for i, sample in enumerate(data["samples"]):
        where = f"{path} sample {i}"
        if not isinstance(sample, dict) or "t" not in sample or "pinch" not in sample:
            raise HandTrackingError(f"{where}: needs t, pinch and a pose")
        if "transform" in sample:
            position, quat = _transform_pose(sample["transform"], where)
        elif "position" in sample and "orientation" in sample:
            position = _position(sample["position"], where)
            quat = _wxyz(_numbers(sample["orientation"], 4, f"{where} orientation (x,y,z,w)"))
        else:
            raise HandTrackingError(f"{where}: needs transform, or position and orientation")
        t = _time(sample["t"], where)
        rows.append((t, position, _quaternion(quat, where), _pinch(sample["pinch"], where), where))
    seed = _seed(data.get("seed"), f"{path}")
    return _finish(str(path), rows, seed, data.get("instruction"))


# -- visionOS hand anchors --------------------------------------------------------------------

HAND_JOINTS = (
    "wrist",
    "thumbKnuckle", "thumbIntermediateBase", "thumbIntermediateTip", "thumbTip",
    "indexFingerMetacarpal", "indexFingerKnuckle", "indexFingerIntermediateBase",
    "indexFingerIntermediateTip", "indexFingerTip",
    "middleFingerMetacarpal", "middleFingerKnuckle", "middleFingerIntermediateBase",
    "middleFingerIntermediateTip", "middleFingerTip",
    "ringFingerMetacarpal", "ringFingerKnuckle", "ringFingerIntermediateBase",
    "ringFingerIntermediateTip", "ringFingerTip",
    "littleFingerMetacarpal", "littleFingerKnuckle", "littleFingerIntermediateBase",
    "littleFingerIntermediateTip", "littleFingerTip",
    "forearmWrist", "forearmArm",
)  # fmt: skip
"""ARKit's ``HandSkeleton.JointName`` cases (visionOS), the names a hand-anchor log uses."""


def _joint_positions(skeleton: Any, origin: np.ndarray, where: str) -> dict[str, np.ndarray]:
    """World positions of the tracked joints: ``originFromAnchor @ anchorFromJoint``."""
    if not isinstance(skeleton, dict) or not isinstance(skeleton.get("joints"), list):
        raise HandTrackingError(f'{where}: handSkeleton must hold a "joints" list (or be null)')
    out: dict[str, np.ndarray] = {}
    for joint in skeleton["joints"]:
        if not isinstance(joint, dict):
            raise HandTrackingError(f"{where}: each joint must be an object")
        name = joint.get("name")
        if name not in HAND_JOINTS:
            raise HandTrackingError(
                f"{where}: joint {name!r} is not an ARKit HandSkeleton.JointName "
                f"(e.g. wrist, thumbTip, indexFingerTip)"
            )
        if joint.get("isTracked") is False:
            continue
        local = _matrix(joint.get("anchorFromJointTransform"), f"{where} joint {name}")
        out[name] = _position((origin @ local)[:3, 3], f"{where} joint {name}")
    return out


def _parse_hand_anchors(path: Path, data: dict[str, Any]) -> HandLog:
    """A log of visionOS ``HandAnchor`` updates (see the README for the field names).

    Each tracked anchor of the chosen hand becomes a sample: the position is the midpoint of
    the thumb and index fingertips (where a gripper closes), the orientation is the anchor's
    (the base of the wrist), and the hand is pinched while the fingertips are closer than
    :data:`PINCH_DISTANCE_M`. Untracked anchors, and anchors whose fingertips are untracked,
    are skipped.
    """
    from scipy.spatial.transform import Rotation

    hand = data.get("hand")
    hands = {a.get("chirality") for a in data["anchors"] if isinstance(a, dict)}
    if hand is None:
        if len(hands) > 1:
            raise HandTrackingError(
                f'{path}: the log has both hands; say which one demonstrates with "hand": '
                f'"right" or "left"'
            )
        hand = next(iter(hands), "right")
    if hand not in ("left", "right"):
        raise HandTrackingError(f'{path}: "hand" must be "left" or "right", not {hand!r}')
    rows: list[Row] = []
    for i, anchor in enumerate(data["anchors"]):
        where = f"{path} anchor {i}"
        if not isinstance(anchor, dict):
            raise HandTrackingError(f"{where}: expected an object")
        if anchor.get("chirality") != hand or anchor.get("isTracked") is False:
            continue
        if anchor.get("handSkeleton") is None:
            continue
        origin = _matrix(anchor.get("originFromAnchorTransform"), f"{where} originFromAnchor")
        joints = _joint_positions(anchor["handSkeleton"], origin, where)
        if "thumbTip" not in joints or "indexFingerTip" not in joints:
            continue
        thumb, index = joints["thumbTip"], joints["indexFingerTip"]
        quat = _wxyz(Rotation.from_matrix(origin[:3, :3]).as_quat())
        pinched = bool(np.linalg.norm(thumb - index) < PINCH_DISTANCE_M)
        t = _time(anchor.get("timestamp"), where)
        rows.append((t, (thumb + index) / 2.0, quat, pinched, where))
    if not rows:
        raise HandTrackingError(f"{path}: no tracked {hand} hand anchor with fingertips")
    return _finish(str(path), rows, _seed(data.get("seed"), str(path)), data.get("instruction"))


CSV_COLUMNS = ("t", "x", "y", "z", "qx", "qy", "qz", "qw", "pinch")


def _parse_csv(path: Path) -> HandLog:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise HandTrackingError(
                f"{path}: CSV lacks columns {missing}; the header must include "
                f"{','.join(CSV_COLUMNS)} (optional: seed, instruction)"
            )
        rows: list[Row] = []
        seed, text = None, None
        for i, row in enumerate(reader, start=2):
            where = f"{path} line {i}"
            try:
                values = np.array([float(row[c]) for c in CSV_COLUMNS[:8]])
            except (TypeError, ValueError):
                raise HandTrackingError(f"{where}: t, x..z, qx..qw must be numbers") from None
            t = _time(values[0], where)
            quat = _quaternion(np.array([values[7], *values[4:7]]), where)
            position = _position(values[1:4], where)
            rows.append((t, position, quat, _pinch(row["pinch"], where), where))
            if seed is None:
                seed = _seed(row.get("seed"), where)
            text = row.get("instruction") or text
    return _finish(str(path), rows, seed, text)


def parse_log(path: Path) -> HandLog:
    """Read one JSON or CSV hand-tracking log (by extension)."""
    if path.suffix.lower() == ".json":
        return _parse_json(path)
    if path.suffix.lower() == ".csv":
        return _parse_csv(path)
    raise HandTrackingError(f"{path}: unknown log format {path.suffix!r}; use .json or .csv")


# -- resampling and actions -------------------------------------------------------------------


def resample(log: HandLog, hz: float, max_samples: int | None = None) -> HandLog:
    """``log`` at ``hz`` from its first sample: lerp positions, slerp orientations, hold pinch;
    at most ``max_samples`` samples (what a replay can use)."""
    from scipy.spatial.transform import Rotation, Slerp

    n = int(np.floor((log.t[-1] - log.t[0]) * hz + 1e-9)) + 1
    if max_samples is not None:
        n = min(n, max_samples)
    if n < 2:
        raise HandTrackingError(
            f"{log.source}: lasts {log.t[-1] - log.t[0]:.3f} s, shorter than one control "
            f"step at {hz} Hz"
        )
    times = log.t[0] + np.arange(n) / hz
    position = np.stack([np.interp(times, log.t, log.position[:, k]) for k in range(3)], axis=1)
    slerp = Slerp(log.t, Rotation.from_quat(_xyzw(log.quat_wxyz)))
    quats = _wxyz(slerp(times).as_quat())
    index = np.searchsorted(log.t, times, side="right") - 1
    return HandLog(log.source, times, position, quats, log.pinch[index], log.seed, log.instruction)


def actions_from_poses(log: HandLog, spec: TaskSpec) -> tuple[np.ndarray, int]:
    """``ee_delta_7d`` actions moving pose k to pose k+1, clipped to bounds; and the clip count."""
    from scipy.spatial.transform import Rotation

    rotations = Rotation.from_quat(_xyzw(log.quat_wxyz))
    relative = rotations[1:] * rotations[:-1].inv()  # world-frame rotation applied on the left
    raw = np.concatenate(
        [
            np.diff(log.position, axis=0),
            relative.as_euler("xyz"),  # extrinsic x, y, z: the env's quat_from_euler order
            np.where(log.pinch[1:], 1.0, -1.0)[:, None],
        ],
        axis=1,
    )
    low, high = np.asarray(spec.action_space.low), np.asarray(spec.action_space.high)
    clipped = np.clip(raw, low, high)
    return clipped, int(np.count_nonzero(np.abs(clipped - raw) > 1e-12))


# -- import -----------------------------------------------------------------------------------


@dataclass
class ImportSummary:
    """What an import produced and how the replay check went."""

    task: str
    imported: int
    succeeded: int
    kept: int
    frames: int
    per_log: list[dict[str, Any]] = field(default_factory=list)


def replay(task: Task, actions: np.ndarray, seed: int, instruction: str | None) -> Episode:
    """Execute ``actions`` open loop from the scene ``seed``; record the simulator's frames."""
    record = Episode(instruction=instruction or "", seed=seed)
    steps = iter(actions[: task.spec.max_steps])

    def on_reset(obs: dict[str, Any], info: Any) -> None:
        record.instruction = instruction or str(obs["instruction"])

    def decide(obs: dict[str, Any]) -> np.ndarray:
        action = next(steps)
        record.add(obs, action)
        return action

    episode = EpisodeSpec(0, seed)
    env = task.make_env(episode, render=True)
    try:
        end = run_episode(
            env,
            episode,
            decide,
            max_steps=min(len(actions), task.spec.max_steps),
            on_reset=on_reset,
        )
    finally:
        env.close()
    if end.outcome in ERROR_OUTCOMES:
        raise RuntimeError(f"replaying a log on {task.spec.name} (seed {seed}): {end.error}")
    record.success = end.outcome == "success"
    return record


def import_logs(
    paths: Sequence[Path],
    task_name: str,
    out: Path,
    *,
    calibration: Calibration | None = None,
    seeds: Sequence[int] | None = None,
    keep_failed: bool = False,
    image_size: tuple[int, int] | None = None,
    progress: Progress | None = None,
    append: bool = False,
) -> ImportSummary:
    """Import ``paths`` into a dataset at ``out`` and replay-check each demonstration;
    ``append`` adds them to the dataset already at ``out`` (the studio's demos, one by one)."""
    from harness.plugins import registry

    if seeds is not None and len(seeds) != len(paths):
        raise HandTrackingError(
            f"--seed given {len(seeds)} times for {len(paths)} logs; give one per log"
        )
    progress = progress or Progress.quiet()
    task = registry().get("task", task_name).load()()
    if task.spec.action_space.name != "ee_delta_7d":
        raise HandTrackingError(
            f"task {task_name!r} uses {task.spec.action_space.name}; hand tracking maps to"
            " ee_delta_7d"
        )
    calibration = calibration or Calibration()
    logs = [parse_log(Path(p)) for p in paths]  # all parse errors before any simulation
    for i, log in enumerate(logs):
        if seeds is not None:
            log.seed = _seed(seeds[i], "--seed")
        if log.seed is None:
            raise HandTrackingError(
                f'{log.source}: no scene seed; put "seed" in the log or pass --seed per log '
                f"(the replay must start from the scene the demonstration was made in)"
            )
    summary = ImportSummary(task_name, len(logs), 0, 0, 0)
    with (
        DatasetWriter(out, task, image_size, append=append) as writer,
        progress.counter("log", len(logs)) as counter,
    ):
        for done, log in enumerate(logs, start=1):
            sampled = resample(
                calibration.apply(log), task.spec.control_hz, task.spec.max_steps + 1
            )
            actions, n_clipped = actions_from_poses(sampled, task.spec)
            assert log.seed is not None
            episode = replay(task, actions, log.seed, log.instruction)
            summary.succeeded += episode.success
            summary.per_log.append(
                {"log": log.source, "seed": log.seed, "steps": len(episode),
                 "success": episode.success, "clipped": n_clipped}
            )  # fmt: skip
            if episode.success or keep_failed:
                writer.write(episode)
            progress.line(
                f"{log.source}: {len(actions)} actions, {n_clipped} clipped values, replay "
                f"{'succeeds' if episode.success else 'FAILS'} after {len(episode)} steps"
            )
            counter.update(done)
    summary.kept, summary.frames = writer.episodes, writer.frames
    return summary


# -- synthetic logs (tests, calibration checks) -----------------------------------------------


def synthesise_log(
    task: Task,
    expert: Any,
    seed: int,
    *,
    rate_hz: float = 60.0,
    position_noise: float = 0.002,
    angle_noise_deg: float = 1.0,
    calibration: Calibration | None = None,
    rng: np.random.Generator | None = None,
) -> HandLog:
    """A hand-tracking log of the expert's run on ``seed``, as a tracker would have seen it.

    The expert's end-effector poses (10 Hz) are interpolated to ``rate_hz``, given Gaussian
    tracking noise, time jitter, and expressed in the tracking frame ``calibration.inverse()``.
    """
    from scipy.spatial.transform import Rotation

    rng = rng or np.random.default_rng(seed)
    episode = EpisodeSpec(0, seed)
    poses: list[np.ndarray] = []
    pinches: list[bool] = []

    def on_reset(obs: dict[str, Any], info: Any) -> None:
        expert.reset(task.spec, episode, env)
        poses.append(np.asarray(info["ee_pose"], dtype=np.float64))
        pinches.append(False)

    def decide(obs: dict[str, Any]) -> np.ndarray:
        action = np.asarray(expert.act(obs).actions[0], dtype=np.float64)
        pinches[-1] = bool(action[6] > 0)  # the command issued at this pose
        return action

    def on_step(step: int, action: Any, reward: float, info: Any, obs: Any) -> None:
        poses.append(np.asarray(info["ee_pose"], dtype=np.float64))
        pinches.append(bool(action[6] > 0))

    env = task.make_env(episode, render=False)
    try:
        end = run_episode(
            env, episode, decide, max_steps=task.spec.max_steps, on_reset=on_reset, on_step=on_step
        )
    finally:
        env.close()
    if end.outcome in ERROR_OUTCOMES:
        raise RuntimeError(f"the expert's run on {task.spec.name} (seed {seed}): {end.error}")
    poses_arr = np.array(poses)
    t10 = np.arange(len(poses_arr)) / task.spec.control_hz
    clean = HandLog("expert", t10, poses_arr[:, :3], poses_arr[:, 3:], np.array(pinches), seed)
    fine = resample(clean, rate_hz)
    n = len(fine.t)
    jitter = rng.uniform(-0.2, 0.2, n) / rate_hz
    jitter[0] = jitter[-1] = 0.0  # keep the span: the first and last poses are the demo's ends
    noise_rot = Rotation.from_rotvec(rng.normal(size=(n, 3)) * np.deg2rad(angle_noise_deg))
    noisy = HandLog(
        f"synthetic-{seed}",
        fine.t + jitter + 1000.0,  # tracker clocks do not start at zero
        fine.position + rng.normal(size=(n, 3)) * position_noise,
        _wxyz((noise_rot * Rotation.from_quat(_xyzw(fine.quat_wxyz))).as_quat()),
        fine.pinch,
        seed,
        str((end.first_observation or {}).get("instruction", task.spec.instruction)),
    )
    return (calibration or Calibration()).inverse().apply(noisy)


def write_json(log: HandLog, path: Path) -> Path:
    """Write ``log`` in the documented JSON form (orientation x, y, z, w as ARKit's simd_quatf)."""
    samples = [
        {"t": float(t), "position": p.tolist(), "orientation": _xyzw(q).tolist(), "pinch": bool(k)}
        for t, p, q, k in zip(log.t, log.position, log.quat_wxyz, log.pinch, strict=True)
    ]
    body: dict[str, Any] = {"format": "vla-bench-handtracking/1", "seed": log.seed}
    if log.instruction:
        body["instruction"] = log.instruction
    path.write_text(json.dumps({**body, "samples": samples}))
    return path


def write_csv(log: HandLog, path: Path) -> Path:
    """Write ``log`` in the documented CSV form (one row per sample, seed in every row)."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*CSV_COLUMNS, "seed"])
        for t, p, q, k in zip(log.t, log.position, log.quat_wxyz, log.pinch, strict=True):
            x, y, z, w = _xyzw(q)
            writer.writerow([repr(float(t)), *map(float, p), x, y, z, w, int(k), log.seed])
    return path
