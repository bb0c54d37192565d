"""The Gymnasium env every manipulation task builds on: gripper control, cameras, safety checks.

An action is ``ee_delta_7d`` (see :data:`ACTION_SPACE`): the end-effector target moves by
(dx, dy, dz) metres and rotates by (droll, dpitch, dyaw) radians about the world axes, and the
gripper closes for +1 and opens for -1. The target drives a mocap body welded to the free-floating
hand, so the hand follows it through real contact physics (500 Hz); one ``step`` is one 10 Hz
control period. A subclass adds its bodies, samples an episode from the seed and says when it
is solved. The reward is 1.0 on a step that ends in success (which also terminates the
episode), else 0.0; ``truncated`` comes at the task's ``max_steps``. Besides ``ee_pose`` (at
the end of the step), ``info["ee_path"]`` holds the hand's position after every physics
substep of the step (float64, ``n_substeps x 3``), for smoothness measured at the physics rate.
"""

from __future__ import annotations

import atexit
import os
import string
import weakref
from typing import Any, ClassVar

import gymnasium
import numpy as np

try:
    import mujoco
except Exception as exc:  # mujoco loads its GL backend on import; a missing libEGL fails here
    raise ImportError(
        f"importing mujoco failed with MUJOCO_GL={os.environ.get('MUJOCO_GL')!r}: {exc}. "
        "Headless rendering needs EGL with Mesa (Debian: libegl1 libegl-mesa0 libgl1-mesa-dri "
        "libopengl0, installed by scripts/setup.sh)."
    ) from exc
from gymnasium import spaces

from harness.contract import EE_DELTA_7D, with_bounds
from vla_bench_manipulation.geometry import quat_from_euler, quat_mul
from vla_bench_manipulation.replay import ARTIFACT, PoseLog
from vla_bench_manipulation.scene import FINGER_TRAVEL, HIDDEN_GROUP, world_xml

CONTROL_HZ = 10.0
POS_STEP = 0.05
"""Largest end-effector translation per control step, metres per axis (0.5 m/s)."""
ROT_STEP = 0.3
"""Largest end-effector rotation per control step, radians per axis (3 rad/s)."""

ACTION_SPACE = with_bounds(
    EE_DELTA_7D,
    low=(-POS_STEP,) * 3 + (-ROT_STEP,) * 3 + (-1.0,),
    high=(POS_STEP,) * 3 + (ROT_STEP,) * 3 + (1.0,),
)
"""``ee_delta_7d`` with this suite's per-step limits: ±5 cm and ±0.3 rad per axis per step."""

ACTION_LIMITS_DOC = (
    "Per-step limits: |dx|, |dy|, |dz| <= 0.05 m; |droll|, |dpitch|, |dyaw| <= 0.3 rad "
    "(world axes, applied roll then pitch then yaw); gripper -1 fully open (9 cm) .. +1 closed, "
    "values between give a proportional opening. The target stays inside the workspace "
    "x, y in [-0.32, 0.32] x [-0.28, 0.28] m, z in [0.01, 0.40] m above the table."
)

STATE_FIELDS = ("ee_x", "ee_y", "ee_z", "ee_qw", "ee_qx", "ee_qy", "ee_qz", "gripper_opening")
"""Proprioceptive state: pinch-point position (m), orientation (w, x, y, z), jaw gap (m)."""

STATE_LOW = np.array([-1.0, -1.0, -0.5, -1.0, -1.0, -1.0, -1.0, 0.0], dtype=np.float32)
STATE_HIGH = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.1], dtype=np.float32)
"""Bounds of the state fields: the table's reach, unit quaternion components, jaw gap."""

CAMERAS = ("front", "wrist")

WORKSPACE_LOW = np.array([-0.32, -0.28, 0.01])
WORKSPACE_HIGH = np.array([0.32, 0.28, 0.40])
MAX_LAG = 0.02
"""How far the target may lead a blocked hand (m): pushing into a wall does not wind up force."""
FLUNG_DISTANCE = 2.9
"""An object this far out has left the floor (3 m half-size): only a physics blow-up does that."""
FLUNG_SPEED = 8.0
"""Nothing the gripper (0.5 m/s) can do legitimately makes an object this fast (m/s)."""
INTERPOLATION_CHUNKS = 5
"""A control step moves the mocap target in this many equal increments (the studio ports this)."""

_INSTRUCTION_SPACE = spaces.Text(max_length=256, charset=string.printable)

_OPEN_ENVS: weakref.WeakSet[ManipulationEnv] = weakref.WeakSet()
_exit_hook_registered = False


def _close_open_envs() -> None:
    for env in list(_OPEN_ENVS):
        env.close()


def _make_renderer(model: mujoco.MjModel, size: tuple[int, int]) -> mujoco.Renderer:
    # mujoco fixes its GL backend when first imported; a later MUJOCO_GL is silently ignored.
    backend = getattr(getattr(mujoco, "GLContext", None), "__module__", "none").rpartition(".")[2]
    wanted = os.environ.get("MUJOCO_GL", "")
    if wanted == "egl" and backend != "egl":
        raise RuntimeError(
            f"mujoco was imported with the {backend!r} GL backend before MUJOCO_GL=egl was set; "
            "set MUJOCO_GL=egl in the environment, or import vla_bench_manipulation before "
            "mujoco, for headless rendering"
        )
    try:
        return mujoco.Renderer(model, *size)
    except Exception as exc:  # the GL stack's own errors do not say what to install
        raise RuntimeError(
            f"cannot create a MuJoCo renderer with the {backend!r} GL backend: "
            f"{str(exc).rstrip('.')}. Headless rendering needs EGL with Mesa (Debian: libegl1 "
            "libegl-mesa0 libgl1-mesa-dri libopengl0, installed by scripts/setup.sh), or pass "
            "render=False."
        ) from exc


def _track_renderer(env: ManipulationEnv) -> None:
    # A renderer left for the garbage collector is freed after mujoco's EGL backend has shut the
    # display down at exit, which prints GL errors. Registered after the first renderer exists
    # (so after the backend's own exit hook), this hook runs first and closes the survivors.
    global _exit_hook_registered
    if not _exit_hook_registered:
        atexit.register(_close_open_envs)
        _exit_hook_registered = True
    _OPEN_ENVS.add(env)


def image_shape(image_size: int | str | tuple[int, int]) -> tuple[int, int]:
    """(height, width) from ``224``, ``(240, 320)`` or the ``--task-args`` text ``"224"`` /
    ``"240x320"``, checked."""
    if isinstance(image_size, str):
        parts = image_size.lower().split("x")
        if not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"image_size must look like 224 or 240x320, got {image_size!r}")
        numbers = tuple(int(p) for p in parts)
        image_size = numbers[0] if len(numbers) == 1 else numbers  # type: ignore[assignment]
    size: tuple[Any, ...] = (
        (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    )
    if len(size) != 2 or not all(isinstance(v, int) and 16 <= v <= 2048 for v in size):
        raise ValueError(
            f"image_size must be an int or (height, width) of ints in 16..2048, got {image_size!r}"
        )
    return (size[0], size[1])


class ManipulationEnv(gymnasium.Env[dict[str, Any], np.ndarray]):
    """One episode of a tabletop task with a floating parallel-jaw gripper and two cameras.

    ``render=False`` leaves ``obs["images"]`` empty and never creates a renderer; the physics
    is the same. ``reset(seed=s)`` fixes everything the episode varies, so the same seed
    gives bit-identical observations.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": CONTROL_HZ}  # noqa: RUF012 (gymnasium's own type)
    task_name: ClassVar[str]
    max_steps: ClassVar[int]

    def __init__(
        self,
        *,
        image_size: int | tuple[int, int] = 224,
        render: bool = True,
        shadows: bool = False,
    ) -> None:
        self.image_size = image_shape(image_size)
        xml = world_xml(
            self.task_name, self._bodies_xml(), image_size=self.image_size, shadows=shadows
        )
        self.xml = xml
        """The MJCF the model was compiled from (the studio loads it into MuJoCo's WASM build)."""
        self.model = mujoco.MjModel.from_xml_string(xml)
        self.data = mujoco.MjData(self.model)
        m = self.model
        self._hand = m.body("hand").id
        self._mocap = int(m.body_mocapid[m.body("mocap").id])
        self._hand_qpos = int(m.jnt_qposadr[m.joint("hand").id])
        self._fingers_qpos = [int(m.jnt_qposadr[m.joint(f).id]) for f in ("finger_l", "finger_r")]
        self._free_joints = [
            j
            for j in range(m.njnt)
            if m.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE and j != m.joint("hand").id
        ]
        self._light = m.light("key").id
        self._table = m.geom("table").id
        self._table_rgba = m.geom_rgba[self._table].copy()
        self._light_dir = m.light_dir[self._light].copy()
        self.n_substeps = round(1.0 / (CONTROL_HZ * m.opt.timestep))
        self._renderer: mujoco.Renderer | None = None
        if render:
            self._renderer = _make_renderer(m, self.image_size)
            _track_renderer(self)
        self._scene_option = mujoco.MjvOption()
        self._scene_option.geomgroup[HIDDEN_GROUP] = 0
        self._bind()

        self.action_space = spaces.Box(
            np.array(ACTION_SPACE.low), np.array(ACTION_SPACE.high), dtype=np.float64
        )
        image_box = spaces.Box(0, 255, (*self.image_size, 3), dtype=np.uint8)
        self.observation_space = spaces.Dict(
            {
                "images": spaces.Dict({c: image_box for c in CAMERAS} if render else {}),
                "state": spaces.Box(STATE_LOW, STATE_HIGH, dtype=np.float32),
                "instruction": _INSTRUCTION_SPACE,
            }
        )
        self.instruction = ""
        self._target_pos: np.ndarray = np.zeros(3)
        self._target_quat: np.ndarray = np.array([1.0, 0.0, 0.0, 0.0])
        self._steps = 0
        self._clipped_total = 0
        self._warnings = 0
        self._seed: int | None = None
        self._poses = PoseLog()

    # -- what a task provides -----------------------------------------------------------------
    @classmethod
    def _bodies_xml(cls) -> str:
        """MJCF for the task's own bodies (inside ``<worldbody>``)."""
        raise NotImplementedError

    def _bind(self) -> None:
        """Look up the ids of the task's bodies, joints and geoms in ``self.model``."""
        raise NotImplementedError

    def _sample_episode(self, rng: np.random.Generator) -> str:
        """Draw the episode's layout, colours and goal into the sim; return its instruction."""
        raise NotImplementedError

    def evaluate(self) -> tuple[bool, dict[str, float]]:
        """(success, progress measures) for the current simulation state."""
        raise NotImplementedError

    # -- end effector -------------------------------------------------------------------------
    @property
    def ee_pos(self) -> np.ndarray:
        """Pinch-point position in the world frame (m)."""
        return self.data.xpos[self._hand].copy()

    @property
    def ee_quat(self) -> np.ndarray:
        """Hand orientation (w, x, y, z); identity means fingers down, jaws opening along x."""
        return self.data.xquat[self._hand].copy()

    @property
    def gripper_opening(self) -> float:
        """Gap between the jaws (m): 0 closed, 0.09 fully open."""
        return float(sum(self.data.qpos[a] for a in self._fingers_qpos))

    def set_hand_pose(
        self, pos: np.ndarray, quat: np.ndarray, opening: float = 2 * FINGER_TRAVEL
    ) -> None:
        """Put the hand, its mocap target and the jaws at a pose (for resets and hand-set tests)."""
        d = self.data
        a = self._hand_qpos
        d.qpos[a : a + 3] = pos
        d.qpos[a + 3 : a + 7] = quat
        d.qvel[self.model.jnt_dofadr[self.model.joint("hand").id] :][:6] = 0.0
        d.mocap_pos[self._mocap] = pos
        d.mocap_quat[self._mocap] = quat
        self._target_pos = np.array(pos, dtype=np.float64)
        self._target_quat = np.array(quat, dtype=np.float64)
        half = float(np.clip(opening / 2, 0.0, FINGER_TRAVEL))
        for adr in self._fingers_qpos:
            d.qpos[adr] = half
        d.ctrl[:2] = half

    # -- gymnasium ----------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start the episode that ``seed`` fixes; returns (observation, info)."""
        super().reset(seed=seed)
        rng = self.np_random
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        # Lighting and table tint vary so a policy cannot key on exact pixel values.
        tilt = rng.uniform(-0.35, 0.35, size=2)
        direction = self._light_dir + np.array([tilt[0], tilt[1], 0.0])
        m.light_dir[self._light] = direction / np.linalg.norm(direction)
        m.light_diffuse[self._light] = rng.uniform(0.45, 0.75)
        m.vis.headlight.ambient[:] = rng.uniform(0.25, 0.4)
        tint = self._table_rgba[:3] * rng.uniform(0.85, 1.1) + rng.uniform(-0.03, 0.03, 3)
        m.geom_rgba[self._table, :3] = np.clip(tint, 0, 1)
        start = np.array(
            [rng.uniform(-0.12, 0.12), rng.uniform(-0.16, -0.06), rng.uniform(0.2, 0.27)]
        )
        self.set_hand_pose(start, quat_from_euler(0.0, 0.0, rng.uniform(-0.35, 0.35)))
        self.instruction = self._sample_episode(rng)
        mujoco.mj_forward(m, d)
        # Let objects settle onto their supports before the policy sees the first frame.
        mujoco.mj_step(m, d, nstep=self.n_substeps)
        mujoco.mj_forward(m, d)
        self._steps = 0
        self._clipped_total = 0
        self._warnings = self._divergence_warnings()
        self._seed = seed
        self._poses.start(d)
        success, progress = self.evaluate()
        return self._observe(), self._info(success, progress, 0)

    def step(self, action: np.ndarray) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Apply one ``ee_delta_7d`` action for one 10 Hz control period."""
        a = self._check_action(action)
        clipped = np.clip(a, ACTION_SPACE.low, ACTION_SPACE.high)
        n_clipped = int(np.count_nonzero(clipped != a))
        self._clipped_total += n_clipped
        m, d = self.model, self.data

        ee = self.ee_pos
        base = ee + np.clip(self._target_pos - ee, -MAX_LAG, MAX_LAG)
        new_pos = np.clip(base + clipped[:3], WORKSPACE_LOW, WORKSPACE_HIGH)
        new_quat = quat_mul(quat_from_euler(*clipped[3:6]), self._target_quat)
        new_quat /= np.linalg.norm(new_quat)
        d.ctrl[:2] = FINGER_TRAVEL * (1.0 - clipped[6]) / 2.0

        # Move the mocap target in a few increments so the hand is pulled, not yanked.
        old_pos, old_quat = self._target_pos, self._target_quat
        per_chunk = self.n_substeps // INTERPOLATION_CHUNKS
        # The hand's position after every physics substep, for smoothness at the physics rate:
        # a free joint's qpos is its body's world position, so no kinematics pass is needed.
        path = np.empty((self.n_substeps, 3))
        hand = slice(self._hand_qpos, self._hand_qpos + 3)
        done = 0
        for k in range(1, INTERPOLATION_CHUNKS + 1):
            t = k / INTERPOLATION_CHUNKS
            d.mocap_pos[self._mocap] = old_pos + t * (new_pos - old_pos)
            q = (1 - t) * old_quat + t * new_quat
            d.mocap_quat[self._mocap] = q / np.linalg.norm(q)
            n = per_chunk if k < INTERPOLATION_CHUNKS else self.n_substeps - per_chunk * (k - 1)
            for _ in range(n):
                mujoco.mj_step(m, d)
                path[done] = d.qpos[hand]
                done += 1
        mujoco.mj_forward(m, d)
        self._poses.add(d)
        self._target_pos, self._target_quat = new_pos, new_quat
        self._steps += 1

        failure = self._failure()
        if failure is not None:
            info = self._info(False, {}, n_clipped)
            info["failure"] = failure
            info["ee_path"] = path
            return self._observe(), 0.0, True, False, info
        success, progress = self.evaluate()
        truncated = self._steps >= self.max_steps
        info = self._info(success, progress, n_clipped)
        info["ee_path"] = path
        return self._observe(), float(success), success, truncated, info

    def episode_artifacts(self) -> dict[str, bytes]:
        """The episode's 3D replay: geometry and every body's pose per step (see replay.py)."""
        about = {"task": self.task_name, "seed": self._seed, "control_hz": CONTROL_HZ}
        return {ARTIFACT: self._poses.to_json(self.model, instruction=self.instruction, **about)}

    def render(self) -> np.ndarray | None:
        """The front camera image (Gymnasium's ``rgb_array`` render mode)."""
        return self._render("front") if self._renderer is not None else None

    def close(self) -> None:
        """Free the renderer's GL context now rather than at interpreter exit."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # -- internals ----------------------------------------------------------------------------
    def _check_action(self, action: Any) -> np.ndarray:
        try:
            a = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{self.task_name}: action must be 7 numbers (dx, dy, dz, droll, dpitch, dyaw, "
                f"gripper), got {action!r}"
            ) from exc
        if a.shape != (7,):
            raise ValueError(
                f"{self.task_name}: action must have shape (7,) for ee_delta_7d "
                f"(dx, dy, dz, droll, dpitch, dyaw, gripper), got shape {a.shape}"
            )
        if not np.all(np.isfinite(a)):
            bad = [n for n, v in zip(ACTION_SPACE.names, a, strict=True) if not np.isfinite(v)]
            raise ValueError(
                f"{self.task_name}: action has non-finite values in {bad}: {a.tolist()}"
            )
        return a

    def _failure(self) -> str | None:
        m, d = self.model, self.data
        if not (np.all(np.isfinite(d.qpos)) and np.all(np.isfinite(d.qvel))):
            return "simulation unstable: NaN or inf in qpos/qvel"
        if self._divergence_warnings() > self._warnings:
            return "simulation unstable: MuJoCo found NaN or huge values and reset the state"
        for j in self._free_joints:
            p = d.qpos[m.jnt_qposadr[j] : m.jnt_qposadr[j] + 3]
            v = d.qvel[m.jnt_dofadr[j] : m.jnt_dofadr[j] + 3]
            # An object knocked off the table is a failed episode, not a broken simulation.
            if (
                np.max(np.abs(p[:2])) > FLUNG_DISTANCE
                or p[2] < -1.0
                or np.linalg.norm(v) > FLUNG_SPEED
            ):
                name = m.body(m.jnt_bodyid[j]).name
                return f"simulation unstable: object {name!r} flung away"
        if np.linalg.norm(self.ee_pos - d.mocap_pos[self._mocap]) > 0.15:
            return "simulation unstable: gripper torn away from its target"
        return None

    def _divergence_warnings(self) -> int:
        # MuJoCo resets the state itself when qpos, qvel or qacc blow up; its counters remember.
        w = self.data.warning
        bad = (
            mujoco.mjtWarning.mjWARN_BADQPOS,
            mujoco.mjtWarning.mjWARN_BADQVEL,
            mujoco.mjtWarning.mjWARN_BADQACC,
        )
        return sum(int(w[k].number) for k in bad)

    def _render(self, camera: str) -> np.ndarray:
        assert self._renderer is not None
        self._renderer.update_scene(self.data, camera=camera, scene_option=self._scene_option)
        return self._renderer.render()

    def _observe(self) -> dict[str, Any]:
        state = np.concatenate([self.ee_pos, self.ee_quat, [self.gripper_opening]]).astype(
            np.float32
        )
        images = {c: self._render(c) for c in CAMERAS} if self._renderer is not None else {}
        return {"images": images, "state": state, "instruction": self.instruction}

    def _info(self, success: bool, progress: dict[str, float], n_clipped: int) -> dict[str, Any]:
        return {
            "success": bool(success),
            "ee_pose": np.concatenate([self.ee_pos, self.ee_quat]),
            "progress": progress,
            "clipped": n_clipped,
            "clipped_total": self._clipped_total,
            "instruction": self.instruction,
        }
