"""The training recipes ``bench train --policy NAME`` dispatches to, in one table.

Each recipe is a function ``(TrainRequest, ResumeState | None) -> TrainingRecord``; the CLI's
``--policy`` choices are this table's names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from harness.checkpoints import TrainingRecord
from vla_bench_training.errors import TrainingInputError
from vla_bench_training.finetune import ASSET_OPTIONS, finetune_lerobot
from vla_bench_training.loop import ResumeState, check_new_output, find_resume_state
from vla_bench_training.lora import finetune_openvla
from vla_bench_training.request import TrainRequest
from vla_bench_training.scratch import train_from_scratch


@dataclass(frozen=True)
class Recipe:
    """How one ``--policy`` is trained."""

    name: str
    description: str
    run: Callable[[TrainRequest, ResumeState | None], TrainingRecord]
    resumable: bool = True
    resume_options: tuple[str, ...] = ()
    """``--policy-args`` a resumed run may still pass (the rest would change the run)."""


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("diffusion", "Diffusion Policy from scratch (LeRobot)", train_from_scratch),
        Recipe("act", "ACT from scratch (LeRobot)", train_from_scratch),
        Recipe("smolvla", "fine-tune SmolVLA (LeRobot)", finetune_lerobot, True, ASSET_OPTIONS),
        Recipe("pi0fast", "fine-tune π0-FAST (LeRobot)", finetune_lerobot, True, ASSET_OPTIONS),
        Recipe("openvla", "LoRA fine-tune OpenVLA", finetune_openvla, resumable=False),
    )
}


def train(request: TrainRequest) -> TrainingRecord:
    """Check ``request`` against its recipe and run it; returns the final checkpoint's record."""
    recipe = RECIPES.get(request.policy)
    if recipe is None:
        raise TrainingInputError(f"--policy {request.policy!r} is not one of {list(RECIPES)}")
    if request.steps < 1 or request.batch_size < 1:
        raise TrainingInputError("--steps and --batch-size must be at least 1")
    if request.save_every < 0:
        raise TrainingInputError("--save-every must be 0 (off) or a positive number of steps")
    resume = None
    if request.resume:
        if not recipe.resumable:
            raise TrainingInputError(f"--resume is not supported for {recipe.name} runs yet")
        changed = sorted(set(request.options) - set(recipe.resume_options))
        if changed:
            raise TrainingInputError(
                f"--policy-args {', '.join(changed)} cannot change a run being resumed; drop it"
            )
        resume = find_resume_state(request)
        request = dataclasses.replace(request, seed=resume.record.seed)
    else:
        check_new_output(request.out)
    return recipe.run(request, resume)
