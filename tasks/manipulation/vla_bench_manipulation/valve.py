"""``valve``: turn a handwheel on a hinge clockwise or counter-clockwise by a given angle.

The wheel lies flat on a post, turning about the vertical axis against damping and dry
friction; a knob on its rim is the natural place to grip. Directions are as seen from above:
clockwise = "to the right" = closing, counter-clockwise = "to the left" = opening. Success:
the wheel has turned in the asked direction to within ±0.15 rad (8.6°) of the asked angle.
"""

from __future__ import annotations

import itertools

import numpy as np

from vla_bench_manipulation.env import ManipulationEnv
from vla_bench_manipulation.expert import CLOSED, OPEN, Expert, nearest_yaw
from vla_bench_manipulation.geometry import yaw_of
from vla_bench_manipulation.scene import COLOURS
from vla_bench_manipulation.task import ManipulationTask

RADIUS = 0.07
"""Rim radius (m); the knob stands on the rim."""
HEIGHT = 0.08
"""Height of the wheel plane above the table (m)."""
KNOB_HEIGHT = 0.045
TOLERANCE = 0.15
"""Success band around the asked angle (rad)."""
AMOUNTS = {
    "quarter": (np.pi / 2, ("a quarter turn", "90 degrees", "by a quarter turn")),
    "half": (np.pi, ("half a turn", "180 degrees", "by half a turn")),
}
DIRECTIONS = {
    -1: ("clockwise", "to the right"),
    1: ("counter-clockwise", "anticlockwise", "to the left"),
}
_RIM_SEGMENTS = 12


def _wheel_xml() -> str:
    corners = [
        (RADIUS * np.cos(a), RADIUS * np.sin(a))
        for a in np.linspace(0, 2 * np.pi, _RIM_SEGMENTS + 1)
    ]
    rim = "\n".join(
        f'<geom rgba="0.8 0.1 0.1 1" friction="1 0.02 0.002" type="capsule" size="0.007" '
        f'fromto="{x0:.5f} {y0:.5f} 0 {x1:.5f} {y1:.5f} 0"/>'
        for (x0, y0), (x1, y1) in itertools.pairwise(corners)
    )
    r = RADIUS
    post = (HEIGHT - 0.016) / 2  # half-length: the post stops short of the hub, never touching it
    spoke = 'type="capsule" size="0.005" rgba="0.8 0.1 0.1 1" friction="1 0.02 0.002"'
    return f"""
    <body name="valve_post" pos="0 0 0">
      <geom name="post" type="cylinder" pos="0 0 {post}" size="0.012 {post}"
            rgba="0.35 0.35 0.38 1"/>
      <geom name="flange" type="cylinder" pos="0 0 0.004" size="0.03 0.004"
            rgba="0.35 0.35 0.38 1"/>
    </body>
    <body name="wheel" pos="0 0 {HEIGHT}">
      <joint name="valve" type="hinge" axis="0 0 1" damping="0.4" frictionloss="0.05"
             armature="0.005"/>
      <inertial pos="0 0 0" mass="0.3" diaginertia="0.0008 0.0008 0.0015"/>
      {rim}
      <geom {spoke} fromto="{-r} 0 0 {r} 0 0"/>
      <geom {spoke} fromto="0 {-r} 0 0 {r} 0"/>
      <geom name="hub" type="cylinder" size="0.016 0.012" rgba="0.3 0.3 0.32 1"/>
      <geom name="knob" type="capsule" size="0.009" fromto="{r} 0 0.004 {r} 0 {KNOB_HEIGHT}"
            rgba="0.1 0.1 0.1 1" friction="1.2 0.02 0.002"/>
    </body>
"""


class ValveEnv(ManipulationEnv):
    """Turn the wheel by the asked angle in the asked direction (see the module docstring)."""

    task_name = "valve"
    max_steps = 80

    @classmethod
    def _bodies_xml(cls) -> str:
        return _wheel_xml()

    def _bind(self) -> None:
        m = self.model
        self._wheel = m.body("wheel").id
        self._post = m.body("valve_post").id
        self._joint_qpos = int(m.jnt_qposadr[m.joint("valve").id])
        self._joint_dof = int(m.jnt_dofadr[m.joint("valve").id])
        self._wheel_geoms = [
            g
            for g in range(m.ngeom)
            if m.geom_bodyid[g] == self._wheel and m.geom(g).name not in ("hub", "knob")
        ]
        self.direction = 1
        self.goal = np.pi / 2
        self.start_angle = 0.0

    def _sample_episode(self, rng: np.random.Generator) -> str:
        m, d = self.model, self.data
        centre = np.array([rng.uniform(-0.13, 0.13), rng.uniform(0.0, 0.12)])
        m.body_pos[self._wheel, :2] = centre
        m.body_pos[self._post, :2] = centre
        colour = str(rng.choice(sorted(COLOURS)))
        for g in self._wheel_geoms:
            m.geom_rgba[g, :3] = COLOURS[colour]
        self.colour = colour
        self.direction = int(rng.choice([-1, 1]))
        amount = str(rng.choice(sorted(AMOUNTS)))
        self.goal, amount_words = AMOUNTS[amount]
        self.start_angle = float(rng.uniform(-np.pi, np.pi))
        d.qpos[self._joint_qpos] = self.start_angle
        verb = rng.choice(["turn", "rotate"])
        noun = rng.choice(["valve", "wheel", "handwheel", f"{colour} valve", f"{colour} wheel"])
        how_much = rng.choice(amount_words)
        which_way = rng.choice(DIRECTIONS[self.direction])
        return f"{verb} the {noun} {how_much} {which_way}"

    @property
    def centre(self) -> np.ndarray:
        """Wheel centre (world, m)."""
        return self.data.xpos[self._wheel].copy()

    @property
    def angle(self) -> float:
        """Wheel angle about +z (rad, counter-clockwise positive, not wrapped)."""
        return float(self.data.qpos[self._joint_qpos])

    @property
    def turned(self) -> float:
        """How far the wheel has turned in the asked direction since the start (rad)."""
        return self.direction * (self.angle - self.start_angle)

    def evaluate(self) -> tuple[bool, dict[str, float]]:
        """Success within ±TOLERANCE of the goal; progress is the signed angle still to go."""
        error = self.goal - self.turned
        return abs(error) <= TOLERANCE, {"angle_error": error, "turned": self.turned}


class ValveExpert(Expert):
    """Grip the knob with the jaws across the direction of travel, then carry it round."""

    env_class = ValveEnv
    STEP = 0.22
    """Knob advance per control step (rad)."""

    def next_action(self) -> np.ndarray:
        """Approach above the knob, descend, close, then follow the rim towards the goal."""
        env: ValveEnv = self.env  # type: ignore[assignment]
        self.phase_steps += 1
        centre, angle = env.centre, env.angle
        knob = centre + RADIUS * np.array([np.cos(angle), np.sin(angle), 0.0])
        grip_z = HEIGHT + 0.026
        if self.phase == "start":
            # Jaws close along the tangent, so the knob is pushed by a finger face, not friction.
            self.yaw_offset = (
                nearest_yaw([angle + np.pi / 2, angle - np.pi / 2], yaw_of(env.ee_quat)) - angle
            )
            self.goto_phase("approach")
        yaw = angle + self.yaw_offset
        if self.phase == "approach":
            action, dist = self.move(np.array([knob[0], knob[1], grip_z + 0.06]), yaw, OPEN)
            if dist < 0.01:
                self.goto_phase("descend")
            return action
        if self.phase == "descend":
            action, dist = self.move(np.array([knob[0], knob[1], grip_z]), yaw, OPEN, speed=0.5)
            if dist < 0.006:
                self.goto_phase("grip")
            return action
        if self.phase == "grip":
            action, _ = self.move(np.array([knob[0], knob[1], grip_z]), yaw, CLOSED)
            if self.phase_steps >= 3:
                self.goto_phase("turn")
            return action
        remaining = env.goal - env.turned
        step = float(np.clip(remaining, -self.STEP, self.STEP))
        target = angle + env.direction * step
        pos = centre + RADIUS * np.array([np.cos(target), np.sin(target), 0.0])
        pos[2] = grip_z
        action, _ = self.move(pos, target + self.yaw_offset, CLOSED, speed=1.0)
        return action


def make_task(
    image_size: int | str | tuple[int, int] = 224, shadows: bool | str = False
) -> ManipulationTask:
    """The ``valve`` task (``image_size`` and ``shadows`` configure both cameras)."""
    return ManipulationTask(
        ValveEnv,
        instruction="turn the valve wheel by the asked angle in the asked direction",
        description=(
            "A handwheel on a hinge (damping, friction) must be turned clockwise or "
            "counter-clockwise (seen from above) by a quarter or half turn, to within 8.6°."
        ),
        base_seed=31_000,
        image_size=image_size,
        shadows=shadows,
    )
