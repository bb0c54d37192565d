"""OpenVLA test setup: offline hub, CPU only, the test kit importable."""

from __future__ import annotations

import os
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("MUJOCO_GL", "egl")
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))


import pytest  # noqa: E402
from openvla_kit import ReferenceOpenVLA  # noqa: E402


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ReferenceOpenVLA]:
    """(directory, reference model) of a tiny OpenVLA whose greedy outputs are action tokens."""
    from openvla_kit import write_checkpoint

    directory = tmp_path_factory.mktemp("openvla") / "tiny-openvla"
    return directory, write_checkpoint(directory, seed=0, outputs="actions")
