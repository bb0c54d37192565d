"""LoRA fine-tuning of OpenVLA on a vla-bench dataset (``bench train --policy openvla``).

The recipe is the one of OpenVLA's own ``vla-scripts/finetune.py``, run on the openvla
plugin's native model instead of the published remote code:

* the pretrained checkpoint (a local directory) loads through the plugin's loader, float32 on
  a CPU and bfloat16 on a GPU, and stays frozen; peft adds LoRA adapters (rank 32, alpha
  ``min(rank, 16)``, no dropout, Gaussian init) to every linear layer except the LLM's output
  head, which is what ``target_modules="all-linear"`` selects on OpenVLA's ``PreTrainedModel``
  (on a plain ``nn.Module`` peft would adapt the head too, so the names are listed here);
* one example per frame: the image of the camera the policy will see (default the first, as
  the policy's ``camera`` option), transformed as the policy transforms it; the prompt built
  from the episode's instruction as the policy builds it; then the action as 7 action tokens
  and ``</s>``. The loss is cross-entropy on those 8 tokens only;
* actions in OpenVLA's convention: the six motion dimensions scaled to [-1, 1] by the
  dataset's 1st/99th percentiles (``BOUNDS_Q99``, clipped), the gripper mapped from
  ``ee_delta_7d``'s -1 open / +1 closed to 1 open / 0 closed and left unscaled (its ``mask``
  entry is false), so the policy's default ``gripper=open1_close0`` maps it back exactly;
* AdamW at a constant 5e-4 (OpenVLA's default), gradient clipping; loss and action-token
  accuracy logged every ``log_every`` steps;
* the checkpoint: the adapters merged into the weights (``merge_and_unload``) and written in
  the published layout with ``config.json``, the tokenizer files and
  ``dataset_statistics.json`` (one key, so ``bench run`` needs no ``unnorm_key``); the
  unmerged adapter under ``lora_adapter/``; ``training.json`` with ``origin: finetuned``.

``--config`` keys: see :data:`CONFIG_KEYS`.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.contract import PolicyConfigError
from vla_bench_training.train import TrainSummary, open_dataset

if TYPE_CHECKING:
    import torch
    from vla_bench_openvla.model import OpenVLAModel

IGNORE = -100
"""Label of a position the loss skips (``torch.nn.functional.cross_entropy``'s default)."""
GRIPPER = 6
"""Index of the gripper in ``ee_delta_7d``."""


@dataclass(frozen=True)
class LoraSettings:
    """The fine-tuning hyper-parameters; defaults are OpenVLA's."""

    lora_rank: int = 32
    lora_alpha: int | None = None
    """None: ``min(lora_rank, 16)``, as OpenVLA sets it."""
    lora_dropout: float = 0.0
    lr: float = 5e-4
    grad_clip: float = 1.0
    camera: str | None = None
    """Dataset camera to train on (default: the first, the policy's default camera)."""
    unnorm_key: str | None = None
    """Key of the statistics in ``dataset_statistics.json`` (default ``vla_bench_<dataset>``)."""
    log_every: int = 10

    @property
    def alpha(self) -> int:
        """The LoRA alpha in effect."""
        return min(self.lora_rank, 16) if self.lora_alpha is None else self.lora_alpha

    def __post_init__(self) -> None:
        checks = {
            "lora_rank": self.lora_rank >= 1,
            "lora_alpha": self.alpha > 0,
            "lora_dropout": 0.0 <= self.lora_dropout < 1.0,
            "lr": self.lr > 0,
            "grad_clip": self.grad_clip > 0,
            "log_every": self.log_every >= 1,
        }
        bad = [key for key, ok in checks.items() if not ok]
        if bad:
            raise PolicyConfigError(
                f"--config {', '.join(f'{k}={getattr(self, k)}' for k in bad)} out of range "
                f"(lora_rank >= 1, lora_alpha > 0, 0 <= lora_dropout < 1, lr > 0, "
                f"grad_clip > 0, log_every >= 1)"
            )


CONFIG_KEYS = tuple(f.name for f in fields(LoraSettings))
"""The ``--config key=value`` keys ``bench train --policy openvla`` accepts."""


def settings_from_config(overrides: dict[str, Any]) -> LoraSettings:
    """:class:`LoraSettings` from ``--config`` values; unknown keys are an error naming them."""
    unknown = sorted(set(overrides) - set(CONFIG_KEYS))
    if unknown:
        raise PolicyConfigError(
            f"--config {', '.join(unknown)}: not a setting of OpenVLA LoRA fine-tuning; "
            f"known: {', '.join(CONFIG_KEYS)}"
        )
    kinds: dict[str, type] = {
        "lora_rank": int,
        "lora_alpha": int,
        "lora_dropout": float,
        "lr": float,
        "grad_clip": float,
        "camera": str,
        "unnorm_key": str,
        "log_every": int,
    }
    values: dict[str, Any] = {}
    for key, raw in overrides.items():
        kind = kinds[key]
        if raw is None:
            if key not in ("lora_alpha", "camera", "unnorm_key"):
                raise PolicyConfigError(f"--config {key} needs a value")
            values[key] = None
            continue
        try:
            value = kind(raw)
        except (TypeError, ValueError):
            raise PolicyConfigError(
                f"--config {key}={raw!r} must be {'a number' if kind is not str else 'text'}"
            ) from None
        if kind is int and float(raw) != value:
            raise PolicyConfigError(f"--config {key}={raw!r} must be a whole number")
        values[key] = value
    return LoraSettings(**values)


# -- actions and statistics --------------------------------------------------------------------


def to_openvla_actions(actions: np.ndarray) -> np.ndarray:
    """``ee_delta_7d`` actions with the gripper in OpenVLA's convention: 1 open, 0 closed.

    ``g01 = (1 - g) / 2``; the policy's ``gripper=open1_close0`` maps back with ``1 - 2 g01``.
    """
    out = np.array(actions, dtype=np.float64)
    out[:, GRIPPER] = (1.0 - out[:, GRIPPER]) / 2.0
    return out


def _summary(values: np.ndarray) -> dict[str, list[float]]:
    return {
        "mean": values.mean(axis=0).tolist(),
        "std": values.std(axis=0).tolist(),
        "max": values.max(axis=0).tolist(),
        "min": values.min(axis=0).tolist(),
        "q01": np.quantile(values, 0.01, axis=0).tolist(),
        "q99": np.quantile(values, 0.99, axis=0).tolist(),
    }


def dataset_statistics(actions: np.ndarray, states: np.ndarray, episodes: int) -> dict[str, Any]:
    """One dataset's entry of ``dataset_statistics.json``, in OpenVLA's form.

    ``actions`` are already in OpenVLA's convention (:func:`to_openvla_actions`); ``mask`` is
    true for the six motion dimensions and false for the gripper, which is not scaled.
    """
    mask = [True] * actions.shape[1]
    mask[GRIPPER] = False
    return {
        "action": {**_summary(actions), "mask": mask},
        "proprio": _summary(states),
        "num_transitions": len(actions),
        "num_trajectories": int(episodes),
    }


def normalize(actions: np.ndarray, stats: dict[str, Any]) -> np.ndarray:
    """OpenVLA's ``BOUNDS_Q99``: ``2 (a - q01) / (q99 - q01) - 1`` clipped to [-1, 1] where
    ``mask`` is true; other dimensions as they are.

    A masked dimension that never varies (min == max) becomes 0, as in OpenVLA, and decodes
    back to its constant value. Unlike OpenVLA that rule is not applied to unmasked
    dimensions: there the raw value is what the policy decodes, so it must stay.
    """
    q01 = np.asarray(stats["q01"], dtype=np.float64)
    q99 = np.asarray(stats["q99"], dtype=np.float64)
    mask = np.asarray(stats["mask"], dtype=bool)
    constant = mask & (np.asarray(stats["min"]) == np.asarray(stats["max"]))
    scaled = np.clip(2.0 * (actions - q01) / (q99 - q01 + 1e-8) - 1.0, -1.0, 1.0)
    return np.where(constant, 0.0, np.where(mask, scaled, actions))


def statistics_key(dataset: Path, settings: LoraSettings) -> str:
    """The ``dataset_statistics.json`` key: ``--config unnorm_key`` or ``vla_bench_<dir name>``."""
    if settings.unnorm_key:
        return settings.unnorm_key
    return "vla_bench_" + re.sub(r"\W+", "_", dataset.resolve().name).strip("_").lower()


# -- examples ----------------------------------------------------------------------------------


class FrameExamples:
    """A map-style dataset: frame ``i`` -> pixel values, prompt + action token ids, labels."""

    def __init__(
        self,
        data: Any,
        camera_key: str,
        transform: Callable[[np.ndarray], np.ndarray],
        prompt_ids: Callable[[str], list[int]],
        action_ids: np.ndarray,
        eos_id: int,
    ) -> None:
        self.data = data
        self.camera_key = camera_key
        self.transform = transform
        self.prompt_ids = prompt_ids
        self.action_ids = action_ids
        self.eos_id = eos_id

    def __len__(self) -> int:
        return len(self.action_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        frame = self.data[index]
        # LeRobot hands PNG frames back as float k/255: rounding restores the stored uint8
        image = (frame[self.camera_key].permute(1, 2, 0).numpy() * 255.0).round()
        prompt = self.prompt_ids(frame["task"])
        target = [*self.action_ids[index].tolist(), self.eos_id]
        return {
            "pixel_values": torch.from_numpy(self.transform(image.astype(np.uint8))),
            "input_ids": prompt + target,
            "labels": [IGNORE] * len(prompt) + target,
            "n_actions": len(target) - 1,
        }


def collate(examples: Sequence[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    """Stack images; right-pad ids and labels; mark the action-token label positions.

    With right padding and causal attention no real token attends to a pad, so no attention
    mask is needed; pads carry ``IGNORE`` labels.
    """
    import torch

    length = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), length), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), length), IGNORE, dtype=torch.long)
    actions = torch.zeros((len(examples), length), dtype=torch.bool)
    for row, example in enumerate(examples):
        n = len(example["input_ids"])
        ids[row, :n] = torch.tensor(example["input_ids"])
        labels[row, :n] = torch.tensor(example["labels"])
        end = n - 1  # the EOS label; the action tokens come right before it
        actions[row, end - example["n_actions"] : end] = True
    return {
        "pixel_values": torch.stack([e["pixel_values"] for e in examples]),
        "input_ids": ids,
        "labels": labels,
        "action_mask": actions,
    }


def loss_and_accuracy(
    model: Any, batch: dict[str, torch.Tensor], num_patches: int
) -> tuple[torch.Tensor, float]:
    """Cross-entropy over the labelled tokens, and greedy accuracy on the action tokens.

    The model's sequence is ``[BOS, patches, text[1:]]``: text token ``j >= 1`` sits at
    ``num_patches + j`` and is predicted at the position before, so ``logits[:, P:-1]``
    line up with ``text[1:]`` (as OpenVLA slices them).
    """
    import torch.nn.functional as F

    device = next(model.parameters()).device
    logits = model(batch["pixel_values"].to(device), batch["input_ids"].to(device))
    logits = logits[:, num_patches:-1].float()
    targets = batch["labels"][:, 1:].to(device)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    actions = batch["action_mask"][:, 1:].to(device)
    accuracy = (logits.argmax(-1)[actions] == targets[actions]).float().mean().item()
    return loss, accuracy


# -- the model -----------------------------------------------------------------------------------


def lora_targets(model: OpenVLAModel) -> list[str]:
    """Every linear layer except the LLM's output head (``all-linear`` on OpenVLA)."""
    from torch import nn

    head = model.llm.get_output_embeddings()
    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and module is not head
    ]


def add_lora(model: OpenVLAModel, settings: LoraSettings) -> Any:
    """``model`` wrapped by peft with frozen base weights and trainable LoRA adapters."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=settings.lora_rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=lora_targets(model),
        init_lora_weights="gaussian",
    )
    return get_peft_model(model, config)


def save_adapter(peft_model: Any, directory: Path) -> None:
    """peft's ``save_pretrained``, with module names rewritten to the published layout so the
    adapter applies to the published ``OpenVLAForActionPrediction`` as well."""
    from safetensors.torch import load_file, save_file
    from vla_bench_openvla.checkpoint import published_name

    peft_model.save_pretrained(str(directory))
    prefix = "base_model.model."
    weights = directory / "adapter_model.safetensors"
    renamed, modules = {}, set()
    for key, tensor in load_file(str(weights)).items():
        native, sep, tail = key.removeprefix(prefix).partition(".lora_")
        module = published_name(native + ".weight").removesuffix(".weight")
        renamed[f"{prefix}{module}{sep}{tail}"] = tensor
        modules.add(module)
    save_file(renamed, str(weights), metadata={"format": "pt"})
    config_path = directory / "adapter_config.json"
    config = json.loads(config_path.read_text())
    # peft may have shortened the list to name suffixes; full published names are exact
    config["target_modules"] = sorted(modules)
    config_path.write_text(json.dumps(config, indent=2))


# -- the run -------------------------------------------------------------------------------------


@dataclass
class LoraSummary(TrainSummary):
    """:class:`TrainSummary` plus the LoRA setup, the statistics key and camera, accuracy."""

    unnorm_key: str = ""
    camera: str = ""
    lora: dict[str, Any] = field(default_factory=dict)
    trainable_parameters: int = 0
    action_accuracy: list[tuple[int, float]] = field(default_factory=list)


METADATA_FILES = re.compile(r".*\.(json|model|txt|py)")
"""Files copied from the pretrained directory: tokenizer, processor, model code."""
NOT_COPIED = {
    "model.safetensors.index.json",
    "dataset_statistics.json",
    "training.json",
    "config.json",
}


def finetune_openvla(
    pretrained: Path,
    dataset: Path,
    out: Path,
    *,
    steps: int,
    batch_size: int,
    overrides: dict[str, Any],
    device: str = "cpu",
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> LoraSummary:
    """LoRA-tune the OpenVLA checkpoint in ``pretrained`` on ``dataset``; save to ``out``."""
    import torch
    from vla_bench_openvla import checkpoint as ckpt

    settings = settings_from_config(overrides)
    if steps < 1 or batch_size < 1:
        raise ValueError("--steps and --batch-size must be at least 1")
    if out.exists() and any(out.iterdir()):
        raise PolicyConfigError(f"{out} exists and is not empty; pass a new -o directory")
    meta = open_dataset(dataset)
    camera_key = _camera_key(meta, settings.camera)
    torch.manual_seed(seed)
    model, examples, statistics = _prepare(pretrained, dataset, camera_key, device)
    key = statistics_key(dataset, settings)
    peft_model = add_lora(model, settings)
    loader: torch.utils.data.DataLoader[dict[str, torch.Tensor]] = torch.utils.data.DataLoader(
        examples,  # type: ignore[arg-type]  # a map-style dataset by protocol
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
        collate_fn=lambda batch: collate(batch, examples.eos_id),
        drop_last=len(examples) > batch_size,
    )
    summary = LoraSummary(
        "openvla", steps, batch_size, len(examples), int(meta.total_episodes), 0.0, str(out),
        parameters=sum(p.numel() for p in model.parameters()),
        origin="finetuned", pretrained=str(pretrained), dataset=str(dataset), seed=seed,
        unnorm_key=key,
        camera=camera_key.rsplit(".", 1)[-1],
        lora={
            "rank": settings.lora_rank, "alpha": settings.alpha,
            "dropout": settings.lora_dropout, "lr": settings.lr,
            "grad_clip": settings.grad_clip, "target_modules": "all-linear (but lm_head)",
        },
        trainable_parameters=sum(p.numel() for p in peft_model.parameters() if p.requires_grad),
    )  # fmt: skip
    start = time.perf_counter()
    summary.losses, summary.action_accuracy = optimize(
        peft_model, lambda: iter(loader), steps, settings, model.config.num_patches, progress
    )
    summary.wall_s = time.perf_counter() - start
    summary.steps_done = steps
    save_adapter(peft_model, out / "lora_adapter")
    merged = peft_model.merge_and_unload()
    source_dtype = next(ckpt.iter_weights(pretrained))[1].dtype
    ckpt.save_weights(merged, out, source=pretrained, dtype=source_dtype)
    _write_metadata(pretrained, out, key, statistics)
    summary.write(out)
    if progress:
        hint = (
            ""
            if camera_key == meta.camera_keys[0]
            else f" (run it with --policy-args camera={summary.camera})"
        )
        progress(
            f"saved the merged model, dataset_statistics.json ({key}) and lora_adapter/ in "
            f"{out}; trained on camera {summary.camera}{hint}"
        )
    return summary


def optimize(
    peft_model: Any,
    epoch: Callable[[], Iterator[dict[str, torch.Tensor]]],
    steps: int,
    settings: LoraSettings,
    num_patches: int,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """``steps`` AdamW steps on the trainable (LoRA) parameters over batches from ``epoch()``
    (called again whenever it runs out); returns the (step, mean) loss and action-accuracy
    histories, one entry per ``settings.log_every`` steps."""
    import torch

    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=settings.lr)  # constant, as OpenVLA's
    losses: list[tuple[int, float]] = []
    accuracies: list[tuple[int, float]] = []
    window: list[tuple[float, float]] = []
    start = time.perf_counter()
    step = 0
    peft_model.train()
    while step < steps:
        for batch in epoch():
            loss, accuracy = loss_and_accuracy(peft_model, batch, num_patches)
            if not math.isfinite(loss.item()):
                raise RuntimeError(f"loss became {loss.item()} at step {step}; lower --config lr")
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, settings.grad_clip)
            optimizer.step()
            step += 1
            window.append((loss.item(), accuracy))
            if step % settings.log_every == 0 or step == steps:
                mean = sum(w[0] for w in window) / len(window)
                acc = sum(w[1] for w in window) / len(window)
                losses.append((step, mean))
                accuracies.append((step, acc))
                window = []
                if progress:
                    elapsed = time.perf_counter() - start
                    progress(
                        f"step {step}/{steps} loss {mean:.4f} action accuracy {acc:.3f} "
                        f"({elapsed:.0f} s)"
                    )
            if step >= steps:
                break
    peft_model.eval()
    return losses, accuracies


def _camera_key(meta: Any, camera: str | None) -> str:
    keys = list(meta.camera_keys)
    if not keys:
        raise PolicyConfigError("the dataset has no camera images; OpenVLA needs one")
    if camera is None:
        return str(keys[0])
    for key in keys:
        if key == camera or key.rsplit(".", 1)[-1] == camera:
            return str(key)
    names = ", ".join(k.rsplit(".", 1)[-1] for k in keys)
    raise PolicyConfigError(f"--config camera={camera!r} is not in the dataset (it has: {names})")


def _prepare(
    pretrained: Path, dataset: Path, camera_key: str, device: str
) -> tuple[OpenVLAModel, FrameExamples, dict[str, Any]]:
    """The frozen base model on its device, the examples and the dataset's statistics."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from vla_bench_openvla import checkpoint as ckpt
    from vla_bench_openvla.action_tokenizer import ActionTokenizer
    from vla_bench_openvla.config import load_config
    from vla_bench_openvla.inputs import ImageTransform, PromptTokenizer
    from vla_bench_openvla.model import allocate
    from vla_bench_openvla.policy import resolve_device, resolve_dtype

    from vla_bench_training.dataset import VIDEO_BACKEND

    config = load_config(pretrained)
    tokenizer = PromptTokenizer.from_dir(pretrained)
    if tokenizer.eos_id is None:
        raise PolicyConfigError(
            f"the tokenizer in {pretrained} has no end-of-sequence token; OpenVLA's training "
            f"targets end with </s>"
        )
    target = resolve_device(device)
    model = allocate(config, target, resolve_dtype(None, target))
    ckpt.load_weights(model, pretrained)

    data = LeRobotDataset("vla-bench/local", root=dataset, video_backend=VIDEO_BACKEND)
    table = data.hf_dataset.with_format("numpy")
    actions = to_openvla_actions(np.stack(table["action"]))
    if actions.shape[1] != 7:
        raise PolicyConfigError(
            f"the dataset's actions have {actions.shape[1]} dimensions; OpenVLA drives "
            f"ee_delta_7d (7)"
        )
    statistics = dataset_statistics(
        actions, np.stack(table["observation.state"]), data.num_episodes
    )
    normalized = normalize(actions, statistics["action"])
    action_ids = ActionTokenizer(config.action_vocab_size, config.n_action_bins).encode(normalized)
    prompts: dict[str, list[int]] = {}

    def prompt_ids(instruction: str) -> list[int]:
        if instruction not in prompts:
            prompts[instruction] = tokenizer.encode(instruction)
        return prompts[instruction]

    examples = FrameExamples(
        data, camera_key, ImageTransform(config.images), prompt_ids, action_ids, tokenizer.eos_id
    )
    return model, examples, statistics


def _write_metadata(pretrained: Path, out: Path, key: str, statistics: dict[str, Any]) -> None:
    """config.json (statistics: this dataset only), tokenizer files, dataset_statistics.json."""
    for path in pretrained.iterdir():
        if path.is_file() and METADATA_FILES.fullmatch(path.name) and path.name not in NOT_COPIED:
            shutil.copy2(path, out / path.name)
    config = json.loads((pretrained / "config.json").read_text())
    # The merged model predicts in this dataset's normalisation only: the pretrained datasets'
    # statistics no longer apply, and one key means `bench run` needs no unnorm_key.
    config["norm_stats"] = {key: statistics}
    (out / "config.json").write_text(json.dumps(config, indent=2))
    (out / "dataset_statistics.json").write_text(json.dumps({key: statistics}, indent=2))
