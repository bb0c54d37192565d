"""LIBERO test setup: headless EGL rendering and no hub access, before mujoco loads."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("MUJOCO_GL", "egl")
