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
* actions in OpenVLA's convention, encoded by the openvla plugin (the inverse of what its
  policy decodes; :mod:`vla_bench_openvla.actions`): the six motion dimensions scaled to
  [-1, 1] by the dataset's 1st/99th percentiles (``BOUNDS_Q99``, clipped), the gripper mapped
  from ``ee_delta_7d``'s -1 open / +1 closed to 1 open / 0 closed and left unscaled;
* AdamW at a constant 5e-4 (OpenVLA's default), gradient clipping; loss and action-token
  accuracy logged every ``log_every`` steps;
* the checkpoint: the adapters merged into the weights (``merge_and_unload``) and written in
  the published layout with ``config.json``, the tokenizer files and
  ``dataset_statistics.json`` (one key, so ``bench run`` needs no ``unnorm_key``); the
  unmerged adapter under ``lora_adapter/``; ``training.json`` with ``origin: finetuned`` and
  the LoRA setup under ``details``.

Everything OpenVLA-specific comes from the openvla plugin's public API,
:mod:`vla_bench_openvla.finetuning`. ``--policy-args`` keys: see :data:`CONFIG_KEYS`.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.checkpoints import TrainingRecord
from vla_bench_training.dataset import VIDEO_BACKEND, open_dataset, vector_names
from vla_bench_training.errors import TrainingInputError
from vla_bench_training.loop import ResumeState
from vla_bench_training.progress import Progress
from vla_bench_training.request import TrainRequest

if TYPE_CHECKING:
    import torch
    from vla_bench_openvla.finetuning import BaseModel

IGNORE = -100
"""Label of a position the loss skips (``torch.nn.functional.cross_entropy``'s default)."""


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
            raise TrainingInputError(
                f"--policy-args {', '.join(f'{k}={getattr(self, k)}' for k in bad)} out of range "
                f"(lora_rank >= 1, lora_alpha > 0, 0 <= lora_dropout < 1, lr > 0, "
                f"grad_clip > 0, log_every >= 1)"
            )


CONFIG_KEYS = tuple(f.name for f in fields(LoraSettings))
"""The ``--policy-args key=value`` keys ``bench train --policy openvla`` accepts."""


def settings_from_config(overrides: dict[str, Any]) -> LoraSettings:
    """:class:`LoraSettings` from ``--policy-args`` values; unknown keys are an error naming
    them."""
    unknown = sorted(set(overrides) - set(CONFIG_KEYS))
    if unknown:
        raise TrainingInputError(
            f"--policy-args {', '.join(unknown)}: not a setting of OpenVLA LoRA fine-tuning; "
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
                raise TrainingInputError(f"--policy-args {key} needs a value")
            values[key] = None
            continue
        try:
            value = kind(raw)
        except (TypeError, ValueError):
            raise TrainingInputError(
                f"--policy-args {key}={raw!r} must be {'a number' if kind is not str else 'text'}"
            ) from None
        if kind is int and float(raw) != value:
            raise TrainingInputError(f"--policy-args {key}={raw!r} must be a whole number")
        values[key] = value
    return LoraSettings(**values)


# -- statistics ------------------------------------------------------------------------------


def statistics_key(dataset: Path, settings: LoraSettings) -> str:
    """The ``dataset_statistics.json`` key: ``--policy-args unnorm_key`` or
    ``vla_bench_<dataset directory name>``."""
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


def add_lora(model: Any, settings: LoraSettings) -> Any:
    """``model`` wrapped by peft with frozen base weights and trainable LoRA adapters on every
    linear layer but the LLM's output head (``all-linear`` on OpenVLA)."""
    from peft import LoraConfig, get_peft_model
    from vla_bench_openvla.finetuning import linear_layers

    config = LoraConfig(
        r=settings.lora_rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=linear_layers(model),
        init_lora_weights="gaussian",
    )
    return get_peft_model(model, config)


def save_adapter(peft_model: Any, directory: Path) -> None:
    """peft's ``save_pretrained``, with module names rewritten to the published layout so the
    adapter applies to the published ``OpenVLAForActionPrediction`` as well."""
    from safetensors.torch import load_file, save_file
    from vla_bench_openvla.finetuning import published_parameter_name

    peft_model.save_pretrained(str(directory))
    prefix = "base_model.model."
    weights = directory / "adapter_model.safetensors"
    renamed, modules = {}, set()
    for key, tensor in load_file(str(weights)).items():
        native, sep, tail = key.removeprefix(prefix).partition(".lora_")
        module = published_parameter_name(native + ".weight").removesuffix(".weight")
        renamed[f"{prefix}{module}{sep}{tail}"] = tensor
        modules.add(module)
    save_file(renamed, str(weights), metadata={"format": "pt"})
    config_path = directory / "adapter_config.json"
    config = json.loads(config_path.read_text())
    # peft may have shortened the list to name suffixes; full published names are exact
    config["target_modules"] = sorted(modules)
    config_path.write_text(json.dumps(config, indent=2))


# -- the run -------------------------------------------------------------------------------------


def finetune_openvla(request: TrainRequest, resume: ResumeState | None = None) -> TrainingRecord:
    """LoRA-tune the OpenVLA checkpoint ``request.pretrained`` (a local directory) on the
    dataset; save to ``request.out``. (Not resumable: the recipe table never passes
    ``resume``.)"""
    import torch
    from vla_bench_openvla.finetuning import save_finetuned

    settings = settings_from_config(dict(request.options))
    pretrained = _pretrained_directory(request)
    out, progress = request.out, request.progress
    if out.exists() and any(out.iterdir()):
        raise TrainingInputError(f"{out} exists and is not empty; pass a new -o directory")
    meta = open_dataset(request.dataset)
    camera_key = _camera_key(meta, settings.camera)
    torch.manual_seed(request.seed)
    progress.phase(f"loading {pretrained}")
    base, examples, statistics = prepare(pretrained, request.dataset, camera_key, request.device)
    key = statistics_key(request.dataset, settings)
    parameters = sum(p.numel() for p in base.model.parameters())
    peft_model = add_lora(base.model, settings)
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    loader: torch.utils.data.DataLoader[dict[str, torch.Tensor]] = torch.utils.data.DataLoader(
        examples,  # type: ignore[arg-type]  # a map-style dataset by protocol
        batch_size=request.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(request.seed),
        collate_fn=lambda batch: collate(batch, examples.eos_id),
        drop_last=len(examples) > request.batch_size,
    )
    start = time.perf_counter()
    losses, accuracies = optimize(
        peft_model, lambda: iter(loader), request.steps, settings, base.config.num_patches,
        progress,
    )  # fmt: skip
    wall_s = time.perf_counter() - start
    progress.phase(f"saving the merged model in {out}")
    save_adapter(peft_model, out / "lora_adapter")
    save_finetuned(
        peft_model.merge_and_unload(), out, pretrained=pretrained, key=key, statistics=statistics
    )
    camera = camera_key.rsplit(".", 1)[-1]
    record = TrainingRecord(
        policy=request.policy,
        origin="finetuned",
        dataset=str(request.dataset),
        seed=request.seed,
        batch_size=request.batch_size,
        steps=request.steps,
        steps_done=request.steps,
        frames=len(examples),
        episodes=int(meta.total_episodes),
        parameters=parameters,
        wall_s=wall_s,
        pretrained=str(pretrained),
        losses=tuple(losses),
        features=vector_names(meta),
        details={
            "unnorm_key": key,
            "camera": camera,
            "lora": {
                "rank": settings.lora_rank, "alpha": settings.alpha,
                "dropout": settings.lora_dropout, "lr": settings.lr,
                "grad_clip": settings.grad_clip, "target_modules": "all-linear (but lm_head)",
            },
            "trainable_parameters": trainable,
            "action_accuracy": [list(pair) for pair in accuracies],
        },
    )  # fmt: skip
    record.write(out)
    hint = (
        "" if camera_key == meta.camera_keys[0] else f" (run it with --policy-args camera={camera})"
    )
    progress.line(
        f"saved the merged model, dataset_statistics.json ({key}) and lora_adapter/ in {out}; "
        f"trained on camera {camera}{hint}"
    )
    return record


def _pretrained_directory(request: TrainRequest) -> Path:
    if request.save_every:
        raise TrainingInputError(
            "--save-every is not supported for openvla: each checkpoint is a full merged "
            "copy of the model; train for the steps you want and save once"
        )
    path = Path(request.pretrained).expanduser() if request.pretrained else None
    if path is None or not path.is_dir():
        raise TrainingInputError(
            "fine-tuning OpenVLA needs its pretrained weights as a local directory "
            "(`hf download openvla/openvla-7b --local-dir DIR` where the hub is reachable), "
            "passed as --pretrained DIR"
        )
    return path


def optimize(
    peft_model: Any,
    epoch: Callable[[], Iterator[dict[str, torch.Tensor]]],
    steps: int,
    settings: LoraSettings,
    num_patches: int,
    progress: Progress | None = None,
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
    step = 0
    peft_model.train()
    with (progress or Progress.quiet()).counter("step", steps) as counter:
        while step < steps:
            for batch in epoch():
                loss, accuracy = loss_and_accuracy(peft_model, batch, num_patches)
                if not math.isfinite(loss.item()):
                    raise TrainingInputError(
                        f"the loss became {loss.item()} at step {step}; lower --policy-args lr"
                    )
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trainable, settings.grad_clip)
                optimizer.step()
                step += 1
                window.append((loss.item(), accuracy))
                if step % settings.log_every == 0 or step == steps:
                    losses.append((step, sum(w[0] for w in window) / len(window)))
                    accuracies.append((step, sum(w[1] for w in window) / len(window)))
                    window = []
                counter.update(
                    step,
                    f"loss {losses[-1][1]:.4f} action accuracy {accuracies[-1][1]:.3f}"
                    if losses
                    else "",
                )
                if step >= steps:
                    break
    peft_model.eval()
    return losses, accuracies


def _camera_key(meta: Any, camera: str | None) -> str:
    keys = list(meta.camera_keys)
    if not keys:
        raise TrainingInputError("the dataset has no camera images; OpenVLA needs one")
    if camera is None:
        return str(keys[0])
    for key in keys:
        if key == camera or key.rsplit(".", 1)[-1] == camera:
            return str(key)
    names = ", ".join(k.rsplit(".", 1)[-1] for k in keys)
    raise TrainingInputError(
        f"--policy-args camera={camera!r} is not in the dataset (it has: {names})"
    )


def prepare(
    pretrained: Path, dataset: Path, camera_key: str, device: str
) -> tuple[BaseModel, FrameExamples, dict[str, Any]]:
    """The frozen base model on its device, the examples and the dataset's statistics."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from vla_bench_openvla.finetuning import dataset_statistics, load_base

    base = load_base(pretrained, device)
    data = LeRobotDataset("vla-bench/local", root=dataset, video_backend=VIDEO_BACKEND)
    table = data.hf_dataset.with_format("numpy")
    actions = np.stack(table["action"]).astype(np.float64)
    if actions.shape[1] != 7:
        raise TrainingInputError(
            f"the dataset's actions have {actions.shape[1]} dimensions; OpenVLA drives "
            f"ee_delta_7d (7)"
        )
    statistics = dataset_statistics(
        actions, np.stack(table["observation.state"]), data.num_episodes
    )
    action_ids = base.encode_actions(actions, statistics)
    prompts: dict[str, list[int]] = {}

    def prompt_ids(instruction: str) -> list[int]:
        if instruction not in prompts:
            prompts[instruction] = base.prompts.encode(instruction)
        return prompts[instruction]

    examples = FrameExamples(data, camera_key, base.images, prompt_ids, action_ids, base.eos_id)
    return base, examples, statistics
