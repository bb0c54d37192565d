"""The MJCF shared by every task: table, floating parallel-jaw gripper, cameras and lights.

World frame: the table top is the plane ``z = 0``; the front camera stands at ``-y`` looking
towards ``+y``, so "left" in its image is ``-x``. The gripper's frame has its origin at the
pinch point between the fingertips; with the identity orientation the fingers point down
(``-z``) and open along ``x``. A task adds its own bodies with :func:`world_xml`.
"""

from __future__ import annotations

TIMESTEP = 0.002
"""Physics step (500 Hz): stiff finger contacts stay stable and a grasp holds by friction."""

FINGER_TRAVEL = 0.045
"""Each finger slides this far from the centre line: the jaws open to 2 x 4.5 cm."""

TABLE_HALF = (0.4, 0.32)
"""Half extents (x, y) of the table top, metres."""

COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.12, 0.10),
    "green": (0.15, 0.65, 0.20),
    "blue": (0.12, 0.30, 0.85),
    "yellow": (0.95, 0.80, 0.10),
    "orange": (0.95, 0.50, 0.08),
    "purple": (0.55, 0.20, 0.70),
}
"""Named colours a task may paint objects with; the names appear in instructions."""

HIDDEN_GROUP = 3
"""Geom group the renderer hides: a task parks the shapes an episode does not use there."""

_GRIPPER = f"""
    <body name="mocap" mocap="true" pos="0 0 0.25"/>
    <body name="hand" pos="0 0 0.25" gravcomp="1">
      <freejoint name="hand"/>
      <inertial pos="0 0 0.07" mass="0.4" diaginertia="0.002 0.002 0.002"/>
      <geom name="palm" type="box" pos="0 0 0.075" size="0.065 0.022 0.012"
            rgba="0.25 0.25 0.28 1"/>
      <geom name="wrist_link" type="cylinder" pos="0 0 0.11" size="0.025 0.025"
            rgba="0.6 0.6 0.62 1" contype="0" conaffinity="0"/>
      <site name="tcp" pos="0 0 0" size="0.004" rgba="1 0 0 0" group="4"/>
      <camera name="wrist" pos="0 -0.06 0.075" xyaxes="1 0 0 0 0.819 0.574" fovy="70"/>
      <body name="finger_l" gravcomp="1">
        <joint name="finger_l" type="slide" axis="1 0 0" range="0 {FINGER_TRAVEL}" damping="2"/>
        <inertial pos="0.006 0 0.025" mass="0.05" diaginertia="1e-5 1e-5 1e-5"/>
        <geom name="finger_l" type="box" pos="0.007 0 0.025" size="0.007 0.011 0.035"
              rgba="0.85 0.85 0.88 1" friction="1.5 0.02 0.002" condim="4" solref="0.004 1"/>
      </body>
      <body name="finger_r" gravcomp="1">
        <joint name="finger_r" type="slide" axis="-1 0 0" range="0 {FINGER_TRAVEL}" damping="2"/>
        <inertial pos="-0.006 0 0.025" mass="0.05" diaginertia="1e-5 1e-5 1e-5"/>
        <geom name="finger_r" type="box" pos="-0.007 0 0.025" size="0.007 0.011 0.035"
              rgba="0.85 0.85 0.88 1" friction="1.5 0.02 0.002" condim="4" solref="0.004 1"/>
      </body>
    </body>
"""


def world_xml(
    name: str,
    bodies: str,
    *,
    image_size: tuple[int, int],
    shadows: bool,
) -> str:
    """A complete MJCF model: the shared world plus a task's ``bodies``.

    ``image_size`` sizes the offscreen buffer; ``shadows`` turns on shadow maps, which cost
    ~10x render time on a CPU renderer (see DESIGN.md), so tasks leave them off by default.
    """
    height, width = image_size
    shadow = "true" if shadows else "false"
    shadowsize = 2048 if shadows else 0
    tx, ty = TABLE_HALF
    return f"""
<mujoco model="{name}">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{TIMESTEP}" integrator="implicitfast" cone="elliptic" impratio="10"/>
  <!-- znear/zfar are in units of the extent: fixing it keeps the wrist camera's near plane at
       1 cm whatever a task adds, so the fingers 6 cm away are never clipped. -->
  <statistic extent="1" center="0 0 0.1"/>
  <visual>
    <global offwidth="{width}" offheight="{height}"/>
    <quality shadowsize="{shadowsize}" offsamples="0" numslices="16" numstacks="8" numquads="1"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.35 0.35 0.35" specular="0.05 0.05 0.05"/>
    <map znear="0.01" zfar="6"/>
  </visual>
  <worldbody>
    <light name="key" pos="0.3 -0.4 1.2" dir="-0.25 0.33 -1" diffuse="0.6 0.6 0.6"
           specular="0.1 0.1 0.1" directional="true" castshadow="{shadow}"/>
    <geom name="floor" type="plane" pos="0 0 -0.75" size="3 3 0.1" rgba="0.32 0.3 0.28 1"/>
    <!-- A plain backdrop, not a skybox: a textured sky costs ~20% of a CPU-rendered frame. -->
    <geom name="backdrop" type="box" pos="0 1.5 0.5" size="3 0.01 1.5" rgba="0.55 0.6 0.66 1"
          contype="0" conaffinity="0"/>
    <geom name="table" type="box" pos="0 0 -0.025" size="{tx} {ty} 0.025"
          rgba="0.72 0.62 0.5 1" friction="1 0.01 0.001"/>
    <geom name="table_base" type="box" pos="0 0 -0.4" size="{tx - 0.05} {ty - 0.05} 0.35"
          rgba="0.45 0.38 0.3 1" contype="0" conaffinity="0"/>
    <camera name="front" pos="0 -0.45 0.5" xyaxes="1 0 0 0 0.62 0.785" fovy="50"/>
{_GRIPPER}
{bodies}
  </worldbody>
  <contact>
    <exclude body1="finger_l" body2="finger_r"/>
  </contact>
  <equality>
    <weld name="grip" body1="mocap" body2="hand" solref="0.01 1"/>
  </equality>
  <actuator>
    <position name="finger_l" joint="finger_l" kp="600" kv="20" ctrlrange="0 {FINGER_TRAVEL}"
              forcerange="-20 20"/>
    <position name="finger_r" joint="finger_r" kp="600" kv="20" ctrlrange="0 {FINGER_TRAVEL}"
              forcerange="-20 20"/>
  </actuator>
</mujoco>
"""
