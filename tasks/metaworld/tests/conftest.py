"""Meta-World test setup: headless EGL rendering and no hub access, before mujoco loads."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="vla-bench-metaworld-tests-"))
os.environ.setdefault("MUJOCO_GL", "egl")
# pytest runs with --import-mode=importlib, so the helpers module beside the tests needs a path.
sys.path.insert(0, str(Path(__file__).resolve().parent))
