"""``pick_place``: put the named object in the bowl or on the plate.

Two objects (a target and a distractor of another colour) and two receptacles (a bowl and a
plate) lie on the table; the instruction names the object by colour and shape and the
receptacle by kind. Each object body carries one geom per shape and an episode enables one
(the rest are hidden and collide with nothing). Success: the target object rests inside the
receptacle's rim, low (not perched on the wall) and released by the gripper.
"""

from __future__ import annotations

import numpy as np

from vla_bench_manipulation.env import ManipulationEnv
from vla_bench_manipulation.expert import CLOSED, OPEN, Expert, nearest_yaw
from vla_bench_manipulation.geometry import yaw_of
from vla_bench_manipulation.scene import COLOURS, HIDDEN_GROUP
from vla_bench_manipulation.task import ManipulationTask

MASS = 0.06
SHAPES: dict[str, tuple[str, tuple[float, ...], tuple[str, ...]]] = {
    "cube": ("box", (0.02, 0.02, 0.02), ("cube",)),
    "cylinder": ("cylinder", (0.02, 0.02), ("cylinder", "can")),
    "brick": ("box", (0.03, 0.018, 0.02), ("brick", "rectangular block")),
}
"""Shape name -> (MuJoCo geom type, size, words used in instructions). All stand 4 cm tall."""
HALF_HEIGHT = 0.02
BOWL_INNER = 0.074
"""Inner radius of the bowl wall (m)."""
BOWL_FLOOR = 0.006
PLATE_RADIUS = 0.085
PLATE_TOP = 0.01
RECEPTACLES = {
    "bowl": (BOWL_INNER - 0.012, BOWL_FLOOR, ("in", "into")),
    "plate": (PLATE_RADIUS - 0.012, PLATE_TOP, ("on", "onto")),
}
"""Kind -> (success radius for the object's centre, surface height, prepositions)."""
_WALL_SEGMENTS = 12


def _object_xml(slot: int) -> str:
    geoms = "\n".join(
        f'<geom name="obj{slot}_{shape}" type="{kind}" size="{" ".join(map(str, size))}" '
        f'friction="1 0.01 0.001" condim="4" rgba="0.5 0.5 0.5 1"/>'
        for shape, (kind, size, _) in SHAPES.items()
    )
    return f"""
    <body name="obj{slot}" pos="{0.1 * slot} 0.5 {HALF_HEIGHT}">
      <freejoint name="obj{slot}"/>
      <inertial pos="0 0 0" mass="{MASS}" diaginertia="1.6e-5 1.6e-5 1.6e-5"/>
      {geoms}
    </body>"""


def _bowl_xml() -> str:
    ring = 0.08
    walls = []
    for k in range(_WALL_SEGMENTS):
        a = 2 * np.pi * k / _WALL_SEGMENTS
        walls.append(
            f'<geom type="box" pos="{ring * np.cos(a):.5f} {ring * np.sin(a):.5f} 0.027" '
            f'size="0.006 0.0225 0.023" euler="0 0 {a:.5f}" rgba="0.55 0.75 0.85 1"/>'
        )
    return f"""
    <body name="bowl" pos="0.15 0.1 0">
      <geom name="bowl_floor" type="cylinder" pos="0 0 {BOWL_FLOOR / 2}"
            size="0.086 {BOWL_FLOOR / 2}" rgba="0.85 0.9 0.93 1"/>
      {"".join(walls)}
    </body>"""


def _plate_xml() -> str:
    # A grey rim disc under a white centre disc 1 mm higher: reads as a plate from any camera.
    rim, centre = PLATE_TOP / 2 - 0.001, PLATE_TOP / 2
    return f"""
    <body name="plate" pos="-0.15 0.1 0">
      <geom name="plate" type="cylinder" pos="0 0 {rim}" size="{PLATE_RADIUS} {rim}"
            rgba="0.78 0.78 0.8 1"/>
      <geom name="plate_centre" type="cylinder" pos="0 0 {centre}"
            size="{PLATE_RADIUS - 0.022} {centre}" rgba="0.97 0.97 0.97 1"/>
    </body>"""


def _box_inertia(half: tuple[float, ...]) -> np.ndarray:
    a, b, c = (2 * h for h in half)
    return MASS / 12 * np.array([b * b + c * c, a * a + c * c, a * a + b * b])


def _cylinder_inertia(radius: float, half: float) -> np.ndarray:
    side = MASS / 12 * (3 * radius**2 + (2 * half) ** 2)
    return np.array([side, side, MASS * radius**2 / 2])


class PickPlaceEnv(ManipulationEnv):
    """Put the named object in or on the named receptacle (see the module docstring)."""

    task_name = "pick_place"
    max_steps = 120

    @classmethod
    def _bodies_xml(cls) -> str:
        return _object_xml(0) + _object_xml(1) + _bowl_xml() + _plate_xml()

    def _bind(self) -> None:
        m = self.model
        self._objects = [m.body(f"obj{i}").id for i in range(2)]
        self._object_qpos = [int(m.jnt_qposadr[m.joint(f"obj{i}").id]) for i in range(2)]
        self._shape_geoms = {
            (i, shape): m.geom(f"obj{i}_{shape}").id for i in range(2) for shape in SHAPES
        }
        self._receptacles = {k: m.body(k).id for k in RECEPTACLES}
        self._fingers = {m.geom("finger_l").id, m.geom("finger_r").id}
        self.shape = "cube"
        self.target = "bowl"

    def _sample_episode(self, rng: np.random.Generator) -> str:
        m, d = self.model, self.data
        # Receptacles first (they are big), then the objects, kept apart by rejection sampling.
        spots: list[tuple[np.ndarray, float]] = []

        def place(radius: float, low: tuple[float, float], high: tuple[float, float]) -> np.ndarray:
            for _ in range(1000):
                p = rng.uniform(low, high)
                if all(np.linalg.norm(p - q) > radius + r for q, r in spots):
                    spots.append((p, radius))
                    return p
            raise RuntimeError(
                "could not lay out the pick_place scene"
            )  # cannot happen: ample room

        for kind in ("bowl", "plate"):
            m.body_pos[self._receptacles[kind], :2] = place(0.1, (-0.22, -0.02), (0.22, 0.16))
        colours = rng.choice(sorted(COLOURS), size=2, replace=False)
        shapes = [str(rng.choice(sorted(SHAPES))) for _ in range(2)]
        for i in range(2):
            xy = place(0.05, (-0.2, -0.14), (0.2, 0.14))
            yaw = rng.uniform(-np.pi, np.pi)
            a = self._object_qpos[i]
            d.qpos[a : a + 3] = [xy[0], xy[1], HALF_HEIGHT]
            d.qpos[a + 3 : a + 7] = [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]
            for shape in SHAPES:
                g = self._shape_geoms[(i, shape)]
                used = shape == shapes[i]
                m.geom_contype[g] = m.geom_conaffinity[g] = int(used)
                m.geom_group[g] = 0 if used else HIDDEN_GROUP
                m.geom_rgba[g, :3] = COLOURS[str(colours[i])]
            kind, size, _ = SHAPES[shapes[i]]
            m.body_inertia[self._objects[i]] = (
                _cylinder_inertia(size[0], size[1]) if kind == "cylinder" else _box_inertia(size)
            )
        self.shape, self.colour = shapes[0], str(colours[0])
        self.target = str(rng.choice(sorted(RECEPTACLES)))
        noun = f"{self.colour} {rng.choice(SHAPES[self.shape][2])}"
        prep = rng.choice(RECEPTACLES[self.target][2])
        template = rng.choice(
            [
                "put the {o} {p} the {t}",
                "place the {o} {p} the {t}",
                "pick up the {o} and put it {p} the {t}",
                "move the {o} {p} the {t}",
            ]
        )
        return str(template).format(o=noun, p=prep, t=self.target)

    @property
    def object_pos(self) -> np.ndarray:
        """Centre of the target object (world, m)."""
        return self.data.xpos[self._objects[0]].copy()

    @property
    def object_yaw(self) -> float:
        """Heading of the target object about +z (rad)."""
        return yaw_of(self.data.xquat[self._objects[0]])

    @property
    def target_pos(self) -> np.ndarray:
        """Centre of the receptacle on its surface (world, m)."""
        p = self.data.xpos[self._receptacles[self.target]].copy()
        p[2] = RECEPTACLES[self.target][1]
        return p

    def held(self) -> bool:
        """Whether a finger touches the target object."""
        geoms = {self._shape_geoms[(0, s)] for s in SHAPES}
        for c in self.data.contact[: self.data.ncon]:
            pair = {int(c.geom1), int(c.geom2)}
            if pair & geoms and pair & self._fingers:
                return True
        return False

    def evaluate(self) -> tuple[bool, dict[str, float]]:
        """Resting inside the rim, low, and let go of; progress is the distance to the centre."""
        obj, target = self.object_pos, self.target_pos
        radius, surface, _ = RECEPTACLES[self.target]
        distance = float(np.linalg.norm(obj[:2] - target[:2]))
        low = obj[2] < surface + HALF_HEIGHT + 0.012
        success = distance < radius and bool(low) and not self.held()
        return success, {"distance": distance, "height": float(obj[2] - surface)}


class PickPlaceExpert(Expert):
    """Grasp across the object's narrow side, carry it high, lower it in and let go."""

    env_class = PickPlaceEnv
    CARRY_Z = 0.13

    def next_action(self) -> np.ndarray:
        """Approach, descend, close, lift, carry, lower, open, retreat."""
        env: PickPlaceEnv = self.env  # type: ignore[assignment]
        self.phase_steps += 1
        obj = env.object_pos
        if self.phase == "start":
            kind = env.shape
            base = env.object_yaw
            # Jaws close along the hand's x axis: across a face of the cube, the brick's short side.
            turns = {"cube": 4, "brick": 2, "cylinder": 4}[kind]
            offset = np.pi / 2 if kind == "brick" else 0.0
            candidates = [base + offset + 2 * np.pi * k / turns for k in range(turns)]
            self.yaw = nearest_yaw(candidates, yaw_of(env.ee_quat))
            self.goto_phase("approach")
        if self.phase == "approach":
            action, dist = self.move(np.array([obj[0], obj[1], 0.1]), self.yaw, OPEN)
            if dist < 0.008:
                self.goto_phase("descend")
            return action
        if self.phase == "descend":
            action, dist = self.move(np.array([obj[0], obj[1], HALF_HEIGHT]), self.yaw, OPEN, 0.6)
            if dist < 0.005:
                self.goto_phase("grip")
            return action
        if self.phase == "grip":
            action, _ = self.move(env.ee_pos, self.yaw, CLOSED)
            if self.phase_steps >= 4:
                self.goto_phase("lift")
            return action
        target = env.target_pos
        if self.phase == "lift":
            action, dist = self.move(np.array([*env.ee_pos[:2], self.CARRY_Z]), self.yaw, CLOSED)
            if dist < 0.01:
                self.goto_phase("carry")
            return action
        if self.phase == "carry":
            action, dist = self.move(np.array([*target[:2], self.CARRY_Z]), self.yaw, CLOSED)
            if dist < 0.008:
                self.goto_phase("lower")
            return action
        if self.phase == "lower":
            goal = np.array([*target[:2], target[2] + HALF_HEIGHT + 0.012])
            action, dist = self.move(goal, self.yaw, CLOSED, 0.6)
            if dist < 0.006:
                self.goto_phase("release")
            return action
        if self.phase == "release":
            action, _ = self.move(env.ee_pos, self.yaw, OPEN)
            if self.phase_steps >= 3:
                self.goto_phase("retreat")
            return action
        action, _ = self.move(np.array([*env.ee_pos[:2], self.CARRY_Z]), self.yaw, OPEN)
        return action


def make_task(
    image_size: int | str | tuple[int, int] = 224, shadows: bool | str = False
) -> ManipulationTask:
    """The ``pick_place`` task (``image_size`` and ``shadows`` configure both cameras)."""
    return ManipulationTask(
        PickPlaceEnv,
        instruction="put the named object in the bowl or on the plate",
        description=(
            "Two coloured objects (cube, cylinder or brick) and two receptacles (a bowl and a "
            "plate): the named object must end up resting in or on the named receptacle, let go."
        ),
        base_seed=32_000,
        image_size=image_size,
        shadows=shadows,
    )
