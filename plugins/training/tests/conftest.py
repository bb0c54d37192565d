"""Fixtures: an offline hub and one tiny expert dataset of ``handle`` shared by the tests.

The hub is unreachable here (``HF_HUB_OFFLINE=1``, ``HF_HOME`` in a temporary directory, set
before anything imports ``huggingface_hub``). Datasets are written by the real ``bench demos``
command into real LeRobot dataset directories.
"""

from __future__ import annotations

import os
import tempfile

_HOME = tempfile.mkdtemp(prefix="vla-bench-training-tests-")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HOME"] = os.path.join(_HOME, "hf")
os.environ["HF_LEROBOT_HOME"] = os.path.join(_HOME, "lerobot")
os.environ.setdefault("MUJOCO_GL", "egl")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))  # training_kit (tests run in importlib mode)

from training_kit import DEMO_SEED_BASE, IMAGE_SIZE, bench  # noqa: E402


@pytest.fixture(scope="session")
def handle_demos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two noisy expert demonstrations of ``handle`` at 32 px."""
    out = tmp_path_factory.mktemp("data") / "handle"
    result = bench(
        "demos", "--task", "handle", "--episodes", "2", "--noise", "0.1",
        "--seed-base", DEMO_SEED_BASE, "--image-size", IMAGE_SIZE, "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out
