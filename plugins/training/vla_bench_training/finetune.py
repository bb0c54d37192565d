"""Fine-tuning a pretrained LeRobot VLA (SmolVLA, π0-FAST) on a vla-bench dataset.

The pretrained checkpoint loads through the LeRobot plugin's own loader (policy, processors,
tokenizer/VLM options) with the *dataset's* statistics in its (un)normalisers, then trains with
the same LeRobot training step as the from-scratch policies. Without the pretrained weights
(no local directory, hub unreachable) it stops at once with a message saying what to download.
"""

from __future__ import annotations

from typing import Any

from harness.checkpoints import TrainingRecord
from vla_bench_training.dataset import open_dataset
from vla_bench_training.errors import TrainingInputError
from vla_bench_training.loop import ResumeState, fit
from vla_bench_training.request import TrainRequest

ASSET_OPTIONS = ("vlm", "tokenizer", "action_tokenizer")
"""The settings a fine-tune takes: local copies of the hub files the LeRobot loader needs."""


def finetune_lerobot(request: TrainRequest, resume: ResumeState | None) -> TrainingRecord:
    """Fine-tune ``request.policy`` from ``request.pretrained`` (default: the backend's hub id),
    or continue the stopped fine-tune ``resume`` from its newest checkpoint."""
    from vla_bench_lerobot.backends import BACKENDS

    backend = BACKENDS[request.policy]
    unknown = sorted(set(request.options) - set(ASSET_OPTIONS))
    if unknown:
        raise TrainingInputError(
            f"--policy-args {', '.join(unknown)}: fine-tuning keeps the pretrained "
            f"architecture; only {', '.join(ASSET_OPTIONS)} (local copies of hub files) apply"
        )
    reference = str(request.pretrained or backend.default_checkpoint)
    started_from = reference
    if resume is not None:
        reference, started_from = str(resume.directory), str(resume.record.pretrained)
    options = {k: str(v) for k, v in request.options.items()}
    import torch
    from vla_bench_lerobot.loading import CheckpointError, load_pretrained

    torch.manual_seed(request.seed)
    meta = open_dataset(request.dataset)
    options["stats"] = str(request.dataset / "meta" / "stats.json")
    request.progress.phase(f"loading {reference}")
    try:
        built = load_pretrained(backend, reference, request.device, None, options)
    except CheckpointError as exc:
        raise TrainingInputError(
            f"fine-tuning {request.policy} needs its pretrained weights: {exc}. "
            f"Pass them with --pretrained DIR"
        ) from None
    _check_features(built.config, meta, reference)
    return fit(
        built.policy, built.preprocessor, built.postprocessor, request,
        pretrained=started_from, resume=resume,
    )  # fmt: skip


def _check_features(config: Any, meta: Any, reference: str) -> None:
    """The checkpoint must read the dataset's cameras and state and write its actions."""
    from lerobot.utils.feature_utils import dataset_to_policy_features

    data = {k: tuple(f.shape) for k, f in dataset_to_policy_features(meta.features).items()}
    model = {
        k: tuple(f.shape) for k, f in {**config.input_features, **config.output_features}.items()
    }
    if data != model:
        raise TrainingInputError(
            f"{reference} has features {model}, the dataset {data}; fine-tuning here keeps the "
            f"checkpoint's inputs, so record the dataset with matching cameras and image size"
        )
