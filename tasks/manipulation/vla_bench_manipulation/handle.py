"""``handle``: press a lever door handle down past its latch point.

A door stands on the table facing the front camera. Its lever handle turns on a hinge whose
axis points out of the door; a preloaded spring holds it horizontal against a stop and it
turns down to a limit of 1.2 rad. The lever points left or right, depending on the episode.
Success: the lever is turned down by at least 0.6 rad (34°), the angle at which a latch would
let go.
"""

from __future__ import annotations

import numpy as np

from vla_bench_manipulation.env import ManipulationEnv
from vla_bench_manipulation.expert import CLOSED, Expert
from vla_bench_manipulation.task import ManipulationTask

THRESHOLD = 0.6
"""Lever angle (rad, down positive) past which the latch lets go."""
LEVER_LENGTH = 0.1
LEVER_HALF_THICKNESS = 0.009
NECK = 0.04
"""Distance from the door's face to the lever's centre line (m)."""
DOOR_HALF = (0.13, 0.012, 0.14)
DOOR_COLOURS: dict[str, tuple[float, float, float]] = {
    "white": (0.92, 0.92, 0.9),
    "grey": (0.55, 0.56, 0.58),
    "brown": (0.5, 0.32, 0.18),
    "green": (0.2, 0.5, 0.3),
    "blue": (0.22, 0.35, 0.65),
    "red": (0.7, 0.18, 0.15),
}
"""Door colours named in instructions (the lever is always brass)."""


def _door_xml() -> str:
    hx, hy, hz = DOOR_HALF
    frame = "0.3 0.3 0.32 1"
    return f"""
    <body name="door" pos="0 0.17 0">
      <geom name="door_panel" type="box" pos="0 0 {hz}" size="{hx} {hy} {hz}" rgba="0.9 0.9 0.9 1"/>
      <geom type="box" pos="{-hx - 0.012} 0 {hz + 0.006}" size="0.012 {hy + 0.006} {hz + 0.006}"
            rgba="{frame}"/>
      <geom type="box" pos="{hx + 0.012} 0 {hz + 0.006}" size="0.012 {hy + 0.006} {hz + 0.006}"
            rgba="{frame}"/>
      <geom type="box" pos="0 0 {2 * hz + 0.006}" size="{hx + 0.024} {hy + 0.006} 0.006"
            rgba="{frame}"/>
      <geom name="rosette" type="cylinder" pos="0 {-hy - 0.004} 0.16" size="0.02 0.004"
            euler="1.5708 0 0" rgba="0.75 0.6 0.25 1"/>
      <body name="lever" pos="0 {-hy - NECK} 0.16">
        <joint name="lever" type="hinge" axis="0 1 0" range="0 1.2" stiffness="0.6"
               springref="-0.15" damping="0.05" armature="0.002"/>
        <inertial pos="0.04 0 0" mass="0.1" diaginertia="1e-4 1e-4 1e-5"/>
        <geom name="neck" type="cylinder" pos="0 {NECK / 2} 0" size="0.008 {NECK / 2}"
              euler="1.5708 0 0" rgba="0.75 0.6 0.25 1"/>
        <geom name="lever" type="box" pos="{LEVER_LENGTH / 2} 0 0"
              size="{LEVER_LENGTH / 2} {LEVER_HALF_THICKNESS} {LEVER_HALF_THICKNESS}"
              rgba="0.8 0.65 0.25 1" friction="1 0.01 0.001"/>
        <geom name="lever_end" type="sphere" pos="{LEVER_LENGTH} 0 0" size="0.012"
              rgba="0.8 0.65 0.25 1"/>
      </body>
    </body>
"""


class HandleEnv(ManipulationEnv):
    """Press the lever handle down past the latch angle (see the module docstring)."""

    task_name = "handle"
    max_steps = 60

    @classmethod
    def _bodies_xml(cls) -> str:
        return _door_xml()

    def _bind(self) -> None:
        m = self.model
        self._door = m.body("door").id
        self._lever = m.body("lever").id
        self._joint = m.joint("lever").id
        self._joint_qpos = int(m.jnt_qposadr[self._joint])
        self._panel = m.geom("door_panel").id
        self._lever_geoms = [m.geom("lever").id, m.geom("lever_end").id]
        self._lever_geom_pos = m.geom_pos[self._lever_geoms].copy()
        self._lever_ipos = m.body_ipos[self._lever].copy()
        self.side = 1

    def _sample_episode(self, rng: np.random.Generator) -> str:
        m = self.model
        m.body_pos[self._door, :2] = [rng.uniform(-0.12, 0.12), rng.uniform(0.12, 0.2)]
        height = rng.uniform(0.1, 0.17)
        m.body_pos[self._lever, 2] = height
        m.geom_pos[m.geom("rosette").id, 2] = height
        # Mirroring the lever: flip its geoms across the hinge and the hinge axis with them, so
        # that a positive angle always means "down".
        self.side = int(rng.choice([-1, 1]))
        m.geom_pos[self._lever_geoms] = self._lever_geom_pos * [self.side, 1, 1]
        m.jnt_axis[self._joint] = [0.0, float(self.side), 0.0]
        m.body_ipos[self._lever] = self._lever_ipos * [self.side, 1, 1]
        colour = str(rng.choice(sorted(DOOR_COLOURS)))
        m.geom_rgba[self._panel, :3] = DOOR_COLOURS[colour]
        self.colour = colour
        template = rng.choice(
            [
                "press the door handle down",
                "push down the handle of the {c} door",
                "turn the handle of the {c} door down to unlatch it",
                "press the lever handle down to open the latch",
                "pull the {c} door's handle down",
            ]
        )
        return str(template).format(c=colour)

    @property
    def angle(self) -> float:
        """Lever angle (rad): 0 horizontal, positive down."""
        return float(self.data.qpos[self._joint_qpos])

    @property
    def hinge_pos(self) -> np.ndarray:
        """Where the lever's hinge is (world, m)."""
        return self.data.xpos[self._lever].copy()

    def evaluate(self) -> tuple[bool, dict[str, float]]:
        """Success past THRESHOLD; progress is the angle still to go."""
        return self.angle >= THRESHOLD, {"angle_error": THRESHOLD - self.angle, "angle": self.angle}


class HandleExpert(Expert):
    """Close the jaws into a pusher, come down on the lever's outer half and press."""

    env_class = HandleEnv
    REACH = 0.07
    """Where along the lever the gripper presses (m from the hinge)."""

    def next_action(self) -> np.ndarray:
        """Approach above the lever, touch down, press until the latch angle is passed."""
        env: HandleEnv = self.env  # type: ignore[assignment]
        self.phase_steps += 1
        hinge = env.hinge_pos
        # Fixed heading: turned round, the wrist camera would sit inside the door.
        yaw = 0.0
        top = hinge[2] + LEVER_HALF_THICKNESS + 0.012
        above = np.array([hinge[0] + env.side * self.REACH, hinge[1], top + 0.05])
        if self.phase == "start":
            self.goto_phase("approach")
        if self.phase == "approach":
            action, dist = self.move(above, yaw, CLOSED)
            if dist < 0.008:
                self.goto_phase("press")
            return action
        goal = above.copy()
        goal[2] = top - np.tan(THRESHOLD + 0.25) * self.REACH
        action, _ = self.move(goal, yaw, CLOSED, speed=0.5)
        return action


def make_task(
    image_size: int | str | tuple[int, int] = 224, shadows: bool | str = False
) -> ManipulationTask:
    """The ``handle`` task (``image_size`` and ``shadows`` configure both cameras)."""
    return ManipulationTask(
        HandleEnv,
        instruction="press the door handle down past its latch point",
        description=(
            "A lever door handle on a spring-loaded, limited hinge (pointing left or right) "
            "must be pressed down by at least 0.6 rad (34°)."
        ),
        base_seed=33_000,
        image_size=image_size,
        shadows=shadows,
    )
