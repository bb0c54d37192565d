"""Fixtures: an offline hub, a manipulation-like task spec and tiny LeRobot checkpoints.

The hub is unreachable in tests (``HF_HUB_OFFLINE=1``, ``HF_HOME`` in a temporary directory, set
before anything imports ``huggingface_hub``). Every architecture is built small and randomly
initialised here, saved as a real LeRobot checkpoint and loaded back through the plugin.
"""

from __future__ import annotations

import contextlib
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

from lerobot_kit import (  # noqa: E402
    PI_FAMILY,
    TINY,
    TINY_SMOLVLM,
    TINY_VOCAB,
    dataset_stats,
    make_task,
    tiny_paligemma,
)

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
        root = Path(tmp)
        standins.install_in_hub_cache(
            standins.SMOLVLM_REPO, standins.smolvlm_dir(root / "vlm", TINY_SMOLVLM), HUB
        )
        standins.install_in_hub_cache(
            standins.PALIGEMMA_REPO, standins.paligemma_tokenizer_dir(root / "pg", TINY_VOCAB), HUB
        )
        fast = standins.fast_tokenizer_dir(
            root / "fast", action_dim=7, horizon=5, vocab_size=256, samples=128
        )
        standins.install_in_hub_cache(standins.FAST_REPO, fast, HUB)
    return HUB


@pytest.fixture
def tiny_pi() -> Iterator[None]:
    """LeRobot's π models build at toy size during the test (lerobot_kit.tiny_paligemma)."""
    with tiny_paligemma():
        yield


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
            with tiny_paligemma() if name in PI_FAMILY else contextlib.nullcontext():
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
