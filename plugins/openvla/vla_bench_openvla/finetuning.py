"""The openvla plugin's public API for fine-tuning OpenVLA in another plugin.

``bench train --policy openvla`` (vla-bench-training's LoRA recipe) needs four things from
here and nothing else: the pretrained model with the input pipeline the policy uses
(:func:`load_base`), training targets in the action convention the policy decodes
(:func:`dataset_statistics`, :meth:`BaseModel.encode_actions`), the names of the layers LoRA
adapts and of the parameters in the published layout, and a writer for the fine-tuned
checkpoint that ``bench run --policy openvla`` loads (:func:`save_finetuned`).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.contract import PolicyConfigError
from vla_bench_openvla import checkpoint as ckpt
from vla_bench_openvla.action_tokenizer import ActionTokenizer
from vla_bench_openvla.actions import (
    DEFAULT_GRIPPER,
    ActionEncoder,
    dataset_statistics,
    gripper_convention,
    select_stats,
)
from vla_bench_openvla.config import OpenVLAConfig, load_config
from vla_bench_openvla.inputs import ImageTransform, PromptTokenizer
from vla_bench_openvla.model import OpenVLAModel, allocate
from vla_bench_openvla.policy import resolve_device, resolve_dtype

__all__ = [
    "BaseModel",
    "dataset_statistics",
    "linear_layers",
    "load_base",
    "published_parameter_name",
    "save_finetuned",
]


@dataclass(frozen=True)
class BaseModel:
    """A pretrained OpenVLA and the input pipeline the ``openvla`` policy feeds it."""

    model: OpenVLAModel
    prompts: PromptTokenizer
    """Instruction -> prompt token ids, as the policy builds the prompt."""
    images: ImageTransform
    """Camera frame -> pixel values, as the policy transforms it."""
    actions: ActionTokenizer

    @property
    def config(self) -> OpenVLAConfig:
        """The architecture."""
        return self.model.config

    @property
    def eos_id(self) -> int:
        """The end-of-sequence token that follows the action tokens in a training target."""
        assert self.prompts.eos_id is not None  # checked by load_base
        return self.prompts.eos_id

    def encode_actions(self, actions: np.ndarray, statistics: dict[str, Any]) -> np.ndarray:
        """Token ids (N x 7) for ``ee_delta_7d`` ``actions`` under one dataset's
        ``statistics`` (:func:`dataset_statistics`), with the gripper convention the policy
        decodes by default: decoding them gives the actions back to within one bin."""
        stats = select_stats({"dataset": statistics}, "dataset")
        return ActionEncoder(self.actions, stats, gripper_convention(DEFAULT_GRIPPER))(actions)


def load_base(pretrained: Path, device: str) -> BaseModel:
    """The checkpoint in ``pretrained`` on ``device`` (float32 on a CPU, bfloat16 on a GPU)."""
    try:
        config = load_config(pretrained)
        prompts = PromptTokenizer.from_dir(pretrained)
        target = resolve_device(device)
        model = allocate(config, target, resolve_dtype(None, target))
        ckpt.load_weights(model, pretrained)
    except (ckpt.CheckpointError, FileNotFoundError, ValueError) as exc:
        raise PolicyConfigError(f"OpenVLA checkpoint {pretrained}: {exc}") from exc
    if prompts.eos_id is None:
        raise PolicyConfigError(
            f"the tokenizer in {pretrained} has no end-of-sequence token; OpenVLA's training "
            f"targets end with </s>"
        )
    return BaseModel(
        model,
        prompts,
        ImageTransform(config.images),
        ActionTokenizer(config.action_vocab_size, config.n_action_bins),
    )


def linear_layers(model: OpenVLAModel) -> list[str]:
    """Every linear layer but the LLM's output head: what ``target_modules="all-linear"``
    selects on OpenVLA's published model (on a plain module peft would take the head too)."""
    from torch import nn

    head = model.llm.get_output_embeddings()
    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and module is not head
    ]


def published_parameter_name(name: str) -> str:
    """The name a parameter of :class:`OpenVLAModel` has in the published checkpoints."""
    return ckpt.published_name(name)


METADATA_FILES = re.compile(r".*\.(json|model|txt|py)")
"""Files copied from the pretrained directory: tokenizer, processor, model code."""
NOT_COPIED = {
    "model.safetensors.index.json",
    "dataset_statistics.json",
    "training.json",
    "config.json",
}


def save_finetuned(
    model: OpenVLAModel, out: Path, *, pretrained: Path, key: str, statistics: dict[str, Any]
) -> None:
    """Write ``model`` as a checkpoint in the published layout: weights in the pretrained
    checkpoint's dtype (with the tensors the native model does not hold copied from it), its
    tokenizer and processor files, and this dataset's statistics under ``key`` as the only
    ones, so ``bench run`` needs no ``unnorm_key``."""
    source_dtype = next(ckpt.iter_weights(pretrained))[1].dtype
    ckpt.save_weights(model, out, source=pretrained, dtype=source_dtype)
    for path in pretrained.iterdir():
        if path.is_file() and METADATA_FILES.fullmatch(path.name) and path.name not in NOT_COPIED:
            shutil.copy2(path, out / path.name)
    config = json.loads((pretrained / "config.json").read_text())
    # The fine-tuned model predicts in this dataset's normalisation only: the pretrained
    # datasets' statistics no longer apply.
    config["norm_stats"] = {key: statistics}
    (out / "config.json").write_text(json.dumps(config, indent=2))
    (out / "dataset_statistics.json").write_text(json.dumps({key: statistics}, indent=2))
