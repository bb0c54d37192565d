"""Meta-World v3 (MT50) for vla-bench, observed, acted on and seeded as LeRobot 0.6.1 does.

Rendering is headless: ``MUJOCO_GL`` must be chosen before ``mujoco`` is first imported, so
importing this package picks EGL unless the user chose a backend already.
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
