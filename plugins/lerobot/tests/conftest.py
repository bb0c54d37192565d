"""Fixtures: local stand-ins for hub files, a manipulation-like task spec and tiny checkpoints.

The hub is unreachable in tests (``HF_HUB_OFFLINE=1``, set before anything imports
``huggingface_hub``). The files LeRobot would fetch besides a checkpoint (VLM config, tokenizers)
are tiny stand-ins in local directories, passed by path. Every architecture is built small and
randomly initialised here, saved as a real LeRobot checkpoint and loaded back through the plugin.
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
    dataset_stats,
    make_standins,
    make_task,
    tiny_paligemma,
)


@pytest.fixture(scope="session")
def standins() -> Path:
    """Tiny stand-ins for the hub files (``smolvlm``, ``paligemma``, ``fast`` directories)."""
    return make_standins(Path(_HOME) / "standins")


@pytest.fixture
def tiny_pi() -> Iterator[None]:
    """LeRobot's π models build at toy size during the test (lerobot_kit.tiny_paligemma)."""
    with tiny_paligemma():
        yield


@pytest.fixture(scope="session")
def tiny_checkpoint(
    standins: Path, tmp_path_factory: pytest.TempPathFactory
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
                    standins=standins,
                    stats=dataset_stats(task),
                )
            made[name] = save_checkpoint(built, tmp_path_factory.mktemp(f"ckpt-{name}"))
        return made[name]

    return make
