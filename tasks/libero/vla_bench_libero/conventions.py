"""What a LIBERO policy sees and sends, as openpi's and LeRobot's evaluations define it.

Both evaluations drive robosuite's ``OSC_POSE`` controller with a 7-d delta action, feed the
agentview and wrist frames rotated by 180° (robosuite renders them upside down in the OpenGL
convention) and an 8-d state, and let the scene settle for ``num_steps_wait`` no-op steps before
the policy acts. They differ in image size, per-suite step limits and seeding; a
:class:`Convention` holds one evaluation's choices, :data:`CONVENTIONS` both.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from harness.contract import ActionSpace

CONTROL_HZ = 20.0
"""robosuite's default control frequency, which LIBERO, openpi and LeRobot all keep."""

ACTION_SPACE = ActionSpace(
    name="libero_ee_delta_7d",
    names=("dx", "dy", "dz", "dax", "day", "daz", "gripper"),
    low=(-1.0,) * 7,
    high=(1.0,) * 7,
    description=(
        "robosuite 1.4 OSC_POSE delta command, as LIBERO's demonstrations, openpi and LeRobot "
        "use it. dx, dy, dz in [-1, 1] move the end-effector target by up to 0.05 m per control "
        "step along the world axes (scaled linearly: 1.0 = 5 cm); dax, day, daz in [-1, 1] are "
        "an axis-angle rotation of up to 0.5 rad per step about the world axes, applied to the "
        "current orientation. gripper: -1 opens, +1 closes; only its sign counts (robosuite "
        "moves the fingers at a fixed speed toward the commanded side; 0 holds). The no-op is "
        "(0, 0, 0, 0, 0, 0, -1). Unlike OpenVLA's raw LIBERO outputs, no gripper inversion "
        "is applied."
    ),
    hold=(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, None),  # stay; the gripper as commanded last
)
"""The 7-d action of every LIBERO task; robosuite clips each dimension to [-1, 1]."""

NOOP_ACTION = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0)
"""The settle action openpi and LeRobot send during ``num_steps_wait``: hold still, open."""

STATE_FIELDS = (
    "eef_x",
    "eef_y",
    "eef_z",
    "eef_axis_angle_x",
    "eef_axis_angle_y",
    "eef_axis_angle_z",
    "gripper_qpos_left",
    "gripper_qpos_right",
)
"""The 8-d state: grip-site position (m, world frame), the hand body's orientation as an
axis-angle vector (rad; angle ``2·acos(w)`` of the unnormalised-sign quaternion, so it runs up to
2π, as openpi and LeRobot compute it), and the two finger joint positions (m)."""

CAMERAS = ("image", "image2")
"""Camera names as LeRobot's LIBERO datasets and checkpoints call them: ``image`` is robosuite's
``agentview``, ``image2`` the wrist camera ``robot0_eye_in_hand``. Both arrive rotated by 180°."""

ROBOSUITE_CAMERAS = MappingProxyType({"image": "agentview", "image2": "robot0_eye_in_hand"})
"""Our camera name -> the robosuite camera that renders it."""


@dataclass(frozen=True)
class Convention:
    """One published evaluation's choices for the things openpi and LeRobot do differently.

    ``render_size`` is the square size robosuite renders at; ``image_size`` what the policy gets
    (resized with PIL bilinear when they differ, as ``openpi_client.image_tools`` does).
    ``seed_base + i`` seeds numpy's global generator before episode ``i``'s reset: LIBERO
    places fixtures from it, which the init state does not cover.
    """

    name: str
    render_size: int
    image_size: int
    num_steps_wait: int
    max_steps: MappingProxyType[str, int]
    seed_base: int
    source: str


LEROBOT = Convention(
    name="lerobot",
    render_size=360,
    image_size=360,
    num_steps_wait=10,
    max_steps=MappingProxyType(
        {
            "libero_spatial": 280,
            "libero_object": 280,
            "libero_goal": 300,
            "libero_10": 520,
            "libero_90": 400,
        }
    ),
    seed_base=1000,
    source=(
        "lerobot 0.6.1 lerobot-eval --env.type=libero defaults: 360x360 frames, 10 wait steps, "
        "TASK_SUITE_MAX_STEPS, eval.seed=1000 (episode i: seed 1000+i, init state i)"
    ),
)

OPENPI = Convention(
    name="openpi",
    render_size=256,
    image_size=224,
    num_steps_wait=10,
    max_steps=MappingProxyType(
        {
            "libero_spatial": 220,
            "libero_object": 280,
            "libero_goal": 300,
            "libero_10": 520,
            "libero_90": 400,
        }
    ),
    seed_base=7,
    source=(
        "openpi examples/libero/main.py: rendered at 256x256, resized to 224x224, 10 wait "
        "steps, its per-suite max_steps, seed 7 (openpi seeds once per task and lets the "
        "generator run on; here episode i is seeded 7+i so that episodes stand alone)"
    ),
)

CONVENTIONS = MappingProxyType({c.name: c for c in (LEROBOT, OPENPI)})
DEFAULT_CONVENTION = LEROBOT.name
"""LeRobot's, because the LeRobot backends in this repository evaluate the same way."""
