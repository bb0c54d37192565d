"""Fixtures: an offline hub, a manipulation-like task spec and tiny LeRobot checkpoints.

The hub is unreachable in tests (``HF_HUB_OFFLINE=1``, ``HF_HOME`` in a temporary directory, set
before anything imports ``huggingface_hub``). Every architecture is built small and randomly
initialised here, saved as a real LeRobot checkpoint and loaded back through the plugin.
"""

from __future__ import annotations

import os
import tempfile

_HOME = tempfile.mkdtemp(prefix="vla-bench-lerobot-tests-")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["VLA_BENCH_CACHE"] = os.path.join(_HOME, "vla-bench")  # random-weights stand-ins
os.environ.setdefault("HF_MODULES_CACHE", os.path.join(_HOME, "hf-modules"))  # remote code
os.environ.setdefault("MUJOCO_GL", "egl")

import sys  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

TESTS = str(Path(__file__).parent)
sys.path.insert(0, TESTS)  # lerobot_kit, lerobot_probe (tests run in importlib mode)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [TESTS, os.environ.get("PYTHONPATH")]))

from lerobot_kit import TINY, TINY_SMOLVLM, dataset_stats, make_task  # noqa: E402

HUB = Path(_HOME) / "hub"


@pytest.fixture(autouse=True)
def offline_hub() -> Iterator[Path]:
    """Every test sees only this offline hub cache (never the user's real one)."""
    from vla_bench_lerobot.standins import hub_cache

    HUB.mkdir(parents=True, exist_ok=True)
    with hub_cache(HUB):
        yield HUB


@pytest.fixture(scope="session")
def standin_hub() -> Path:
    """The offline hub cache, holding tiny stand-ins under the official repository ids."""
    from vla_bench_lerobot import standins

    with tempfile.TemporaryDirectory() as tmp:
        standins.install_in_hub_cache(
            standins.SMOLVLM_REPO, standins.smolvlm_dir(Path(tmp) / "vlm", TINY_SMOLVLM), HUB
        )
    return HUB


@pytest.fixture(scope="session")
def tiny_checkpoint(
    standin_hub: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Path]:
    """``tiny_checkpoint(name)``: a saved tiny LeRobot checkpoint of that backend (cached)."""
    from vla_bench_lerobot.backends import BACKENDS
    from vla_bench_lerobot.loading import build_random, save_checkpoint

    made: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name not in made:
            import torch

            task = make_task()
            torch.manual_seed(0)
            built = build_random(
                BACKENDS[name],
                task,
                "cpu",
                None,
                overrides=TINY[name],
                standins=standin_hub,
                stats=dataset_stats(task),
            )
            made[name] = save_checkpoint(built, tmp_path_factory.mktemp(f"ckpt-{name}"))
        return made[name]

    return make
