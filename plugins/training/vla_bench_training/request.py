"""What one ``bench train`` invocation asks for, handed to a training recipe as it is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vla_bench_training.progress import Progress


@dataclass(frozen=True)
class TrainRequest:
    """A training run: which recipe, on what data, where to, and how long."""

    policy: str
    """The recipe's name (``bench train --policy``)."""
    dataset: Path
    out: Path
    steps: int = 1000
    batch_size: int = 8
    options: Mapping[str, Any] = field(default_factory=dict)
    """Recipe settings (``--policy-args``): LeRobot config fields, LoRA settings, asset paths."""
    pretrained: str | None = None
    """Weights a fine-tune starts from (a local directory or a hub id)."""
    device: str = "cpu"
    seed: int = 0
    save_every: int = 0
    """Also save a checkpoint every N steps (0: only at the end)."""
    resume: bool = False
    """Continue the run already in ``out`` from its newest checkpoint."""
    progress: Progress = field(default_factory=Progress.quiet, compare=False)
