"""Engine test setup: the toy plugin is importable here, in worker processes and subprocesses."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("MUJOCO_GL", "egl")
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))


@pytest.fixture(autouse=True)
def toy_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Load the toy plugin beside the installed ones, with a fresh registry per test."""
    from harness import plugins

    monkeypatch.setenv("VLA_BENCH_PLUGINS", "toyplugin")
    plugins.loaded.cache_clear()
    yield
    plugins.loaded.cache_clear()
