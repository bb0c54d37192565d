"""Fine-tuning a pretrained VLA (SmolVLA, π0-FAST; OpenVLA through :mod:`.lora`) on a
vla-bench dataset.

The pretrained checkpoint loads through the LeRobot plugin's own loader (policy, processors,
tokenizer/VLM options) with the *dataset's* statistics in its (un)normalisers, then trains with
the same LeRobot training step as the from-scratch policies. Without the pretrained weights
(no local directory, hub unreachable) it stops at once with a message saying what to download.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.contract import PolicyConfigError
from vla_bench_training.train import (
    ASSET_OPTIONS,
    FINETUNE,
    ResumeState,
    TrainSummary,
    fit,
    open_dataset,
)


def finetune(
    policy: str,
    dataset: Path,
    out: Path,
    *,
    steps: int,
    batch_size: int,
    overrides: dict[str, Any],
    device: str = "cpu",
    seed: int = 0,
    save_every: int = 0,
    resume: ResumeState | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrainSummary:
    """Fine-tune ``policy`` from ``overrides['pretrained']`` (or its default hub id), or
    continue the stopped fine-tune ``resume`` from its newest checkpoint."""
    from vla_bench_lerobot.backends import BACKENDS

    overrides = dict(overrides)
    if policy == "openvla":
        pretrained = overrides.pop("pretrained", None)
        if pretrained is None or not Path(str(pretrained)).expanduser().is_dir():
            raise PolicyConfigError(
                "fine-tuning OpenVLA needs its pretrained weights as a local directory "
                "(`hf download openvla/openvla-7b --local-dir DIR` where the hub is reachable), "
                "passed as --pretrained DIR"
            )
        if save_every:
            raise PolicyConfigError(
                "--save-every is not supported for openvla: each checkpoint is a full merged "
                "copy of the model; train for the steps you want and save once"
            )
        from vla_bench_training.lora import finetune_openvla

        return finetune_openvla(
            Path(str(pretrained)).expanduser(), dataset, out, steps=steps,
            batch_size=batch_size, overrides=overrides, device=device, seed=seed,
            progress=progress,
        )  # fmt: skip
    backend = BACKENDS[policy]
    reference = str(overrides.pop("pretrained", None) or backend.default_checkpoint)
    if resume is not None:
        reference = str(resume.directory)
    options = {k: str(overrides.pop(k)) for k in ASSET_OPTIONS if k in overrides}
    if overrides:
        raise PolicyConfigError(
            f"--config {sorted(overrides)}: fine-tuning keeps the pretrained architecture; "
            f"only {list(ASSET_OPTIONS)} (local copies of hub files) apply"
        )
    import torch
    from vla_bench_lerobot.loading import CheckpointError, load_pretrained

    torch.manual_seed(seed)
    meta = open_dataset(dataset)
    options["stats"] = str(dataset / "meta" / "stats.json")
    try:
        built = load_pretrained(backend, reference, device, None, options)
    except CheckpointError as exc:
        raise PolicyConfigError(
            f"fine-tuning {policy} needs its pretrained weights: {exc}. "
            f"Pass them with --pretrained DIR"
        ) from None
    _check_features(built.config, meta, reference)
    assert FINETUNE[policy] == built.config.type
    return fit(
        policy, built.policy, built.preprocessor, built.postprocessor, dataset, out,
        steps=steps, batch_size=batch_size, seed=seed, save_every=save_every,
        pretrained=resume.record.get("pretrained") if resume else reference, resume=resume,
        progress=progress,
    )  # fmt: skip


def _check_features(config: Any, meta: Any, reference: str) -> None:
    """The checkpoint must read the dataset's cameras and state and write its actions."""
    from lerobot.utils.feature_utils import dataset_to_policy_features

    data = {k: tuple(f.shape) for k, f in dataset_to_policy_features(meta.features).items()}
    model = {
        k: tuple(f.shape) for k, f in {**config.input_features, **config.output_features}.items()
    }
    if data != model:
        raise PolicyConfigError(
            f"{reference} has features {model}, the dataset {data}; fine-tuning here keeps the "
            f"checkpoint's inputs, so record the dataset with matching cameras and image size"
        )
