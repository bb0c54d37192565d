"""LIBERO and LIBERO-PRO for vla-bench, as openpi's and LeRobot's evaluations present them.

Rendering is headless through EGL: ``MUJOCO_GL`` must be chosen before ``mujoco`` is first
imported, so importing this package sets it to ``egl`` unless the user already chose. Nothing
here imports LIBERO or robosuite; building a task's env does.
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
