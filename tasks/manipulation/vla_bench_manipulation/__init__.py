"""vla-bench's default task suite: valve, pick-and-place and door handle in MuJoCo.

Rendering is headless through EGL: ``MUJOCO_GL`` must be chosen before ``mujoco`` is first
imported, so importing this package sets it to ``egl`` unless the user already chose.
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
