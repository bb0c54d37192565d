"""The ``openvla`` policy: one OpenVLA action (7 greedy tokens) per ``act`` call.

``--policy-args`` (fields ``checkpoint``, ``device``, ``dtype`` plus these options):

``checkpoint=<dir or hub id>``
    An OpenVLA checkpoint: ``openvla/openvla-7b``, a fine-tune such as
    ``openvla/openvla-7b-finetuned-libero-spatial``, or a local directory with the same files.
``weights=pretrained|random``
    ``random`` builds the full architecture (``arch=openvla-7b``, shipped with the plugin; or
    the one a ``checkpoint``'s config.json describes) with random weights, for latency and
    memory profiling; its actions mean nothing and results say ``weights: random``.
``unnorm_key=<dataset>``
    Which dataset's action statistics un-normalise the outputs (``bridge_orig``,
    ``libero_spatial_no_noops``, ...); required when the checkpoint has several.
``gripper=open1_close0|close1_open0|signed|signed_inverted``
    How the model's gripper value maps into ``ee_delta_7d`` (-1 open, +1 closed); see
    :data:`vla_bench_openvla.actions.GRIPPER_CONVENTIONS`. Default ``open1_close0``, the
    convention of OpenVLA's training data. ``binarize_gripper=true`` takes its sign.
``camera=<name>``
    The task camera OpenVLA sees (default: the task's first camera).
``center_crop=<area fraction>``
    Centre-crop before resizing (``0.9`` for checkpoints fine-tuned with random crops, e.g. the
    LIBERO ones); default off.
``revision=<git revision>``
    Hub revision of ``checkpoint``.

``device`` is ``cpu`` (default), ``cuda[:N]`` or ``auto``; ``dtype`` defaults to bfloat16 on
a GPU (as OpenVLA is run) and float32 on a CPU.

A generated token that is not an action token is a decode failure: it is counted in the
results and that dimension gets its no-op (no motion; the previous gripper command).

A checkpoint written by ``bench train --policy openvla`` (its ``training.json`` says
``"origin": "finetuned"``) is described as ``weights: finetuned``; a ``training.json`` that
cannot be read is an error, not "pretrained". ``describe()`` identifies the weights by content:
``weights_digest`` is a SHA-256 over the weight files, ``config.json``,
``dataset_statistics.json`` and ``preprocessor_config.json`` (those present; listed in
``weights_digest_files``).
"""

from __future__ import annotations

import difflib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from harness.checkpoints import ContentDigest, TrainingRecord, content_digest, find_training_record
from harness.contract import (
    ActionChunk,
    EpisodeSpec,
    Observation,
    PolicyBase,
    PolicyConfig,
    PolicyConfigError,
)
from vla_bench_openvla import checkpoint as ckpt
from vla_bench_openvla.action_tokenizer import ActionTokenizer
from vla_bench_openvla.actions import (
    DEFAULT_GRIPPER,
    ActionDecoder,
    UnnormKeyError,
    gripper_convention,
    identity_stats,
    select_stats,
)
from vla_bench_openvla.config import OpenVLAConfig, load_config, shipped_architecture
from vla_bench_openvla.inputs import ImageTransform, PromptTokenizer, WordTokenizer
from vla_bench_openvla.model import OpenVLAModel, allocate, init_random

if TYPE_CHECKING:
    import gymnasium

    from harness.contract import TaskSpec

OPTIONS = (
    "weights",
    "arch",
    "unnorm_key",
    "gripper",
    "binarize_gripper",
    "camera",
    "center_crop",
    "revision",
)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _flag(options: dict[str, str], key: str) -> bool:
    value = options.get(key, "false").lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"{key}={value!r} must be true or false")
    return value in ("true", "1", "yes")


def resolve_device(name: str) -> torch.device:
    """``auto`` -> the first GPU if there is one, else the CPU; otherwise as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name} but torch sees no CUDA GPU; pass device=cpu or auto")
    return device


def resolve_dtype(name: str | None, device: torch.device) -> torch.dtype:
    """The named dtype, or bfloat16 on a GPU and float32 on a CPU."""
    if name is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if name not in DTYPES:
        raise ValueError(f"dtype={name!r} is not one of {', '.join(DTYPES)}")
    return DTYPES[name]


WEIGHT_METADATA = ("config.json", "dataset_statistics.json", "preprocessor_config.json")
"""Files besides the weights that decide a checkpoint's actions (architecture, statistics,
image normalisation): hashed into ``weights_digest`` with the weight files."""


def weights_digest(directory: Path) -> ContentDigest:
    """The content digest of an OpenVLA checkpoint: its weight files and :data:`WEIGHT_METADATA`."""
    files = [*ckpt.weight_files(directory)]
    files += [directory / name for name in WEIGHT_METADATA if (directory / name).is_file()]
    return content_digest(directory, files)


class OpenVLAPolicy(PolicyBase):
    """OpenVLA driving ``ee_delta_7d`` tasks (see the module docstring for options)."""

    action_spaces: ClassVar[tuple[str, ...]] = ("ee_delta_7d",)
    n_action_steps = 1
    warmup_calls = 1

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__(config)
        self.options = dict(config.options)
        try:
            self._setup()
        except (ckpt.CheckpointError, FileNotFoundError, UnnormKeyError, ValueError) as exc:
            # all user-fixable (options, checkpoint files, statistics): one clean CLI error
            raise PolicyConfigError(str(exc)) from exc
        self.camera: str | None = None
        self._prompts: dict[str, torch.Tensor] = {}

    def _setup(self) -> None:
        config = self.config
        known = ["checkpoint", "device", "dtype", *OPTIONS]
        for key in sorted(set(self.options) - set(OPTIONS)):
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" — did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"unknown --policy-args {key!r} for openvla{hint} (known: {', '.join(known)})"
            )
        self.weights = self.options.get("weights", "pretrained")
        if self.weights not in ("pretrained", "random"):
            raise ValueError(f"weights={self.weights!r} is not one of pretrained, random")
        self.device = resolve_device(config.device)
        self.dtype = resolve_dtype(config.dtype, self.device)
        directory = (
            ckpt.resolve(config.checkpoint, self.options.get("revision"))
            if config.checkpoint
            else None
        )
        self.training: TrainingRecord | None = (
            find_training_record(directory)
            if self.weights == "pretrained" and directory is not None
            else None
        )
        self.digest = (
            weights_digest(directory) if self.weights == "pretrained" and directory else None
        )
        self.model_config = self._architecture(directory)
        self.model = self._build(directory)
        self.tokenizer: PromptTokenizer | WordTokenizer = (
            PromptTokenizer.from_dir(directory)
            if directory is not None and (directory / "tokenizer.json").is_file()
            else self._word_tokenizer()
        )
        # Random weights un-normalise with the identity unless a dataset is asked for.
        stats = (
            identity_stats()
            if self.weights == "random" and "unnorm_key" not in self.options
            else select_stats(self.model_config.norm_stats, self.options.get("unnorm_key"))
        )
        self.decoder = ActionDecoder(
            ActionTokenizer(self.model_config.action_vocab_size, self.model_config.n_action_bins),
            stats,
            gripper_convention(self.options.get("gripper", DEFAULT_GRIPPER)),
            binarize=_flag(self.options, "binarize_gripper"),
        )
        crop = self.options.get("center_crop")
        self.transform = ImageTransform(
            self.model_config.images, float(crop) if crop is not None else None
        )

    def _architecture(self, directory: Path | None) -> OpenVLAConfig:
        if directory is not None:
            if "arch" in self.options:
                raise ValueError(
                    "pass either checkpoint= (its config.json is the architecture) or arch=, "
                    "not both"
                )
            return load_config(directory)
        if self.weights == "pretrained":
            raise ValueError(
                "openvla needs checkpoint=<dir or hub id, e.g. openvla/openvla-7b>, or "
                "weights=random for profiling"
            )
        return shipped_architecture(self.options.get("arch", "openvla-7b"))

    def _build(self, directory: Path | None) -> OpenVLAModel:
        model = allocate(self.model_config, self.device, self.dtype)
        if self.weights == "random":
            init_random(model, seed=self.config.seed)
        else:
            assert directory is not None
            ckpt.load_weights(model, directory)
        return model

    def _word_tokenizer(self) -> WordTokenizer:
        if self.weights == "pretrained":
            raise FileNotFoundError(
                f"checkpoint {self.config.checkpoint!r} has no tokenizer.json; OpenVLA "
                f"checkpoints ship the fast Llama tokenizer beside the weights"
            )
        return WordTokenizer(self.model_config.action_vocab_size - self.model_config.n_action_bins)

    # -- the Policy protocol ------------------------------------------------------------------
    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: gymnasium.Env | None) -> None:
        """Pick the camera, check the action space, open the gripper."""
        if task.action_space.name != "ee_delta_7d" or task.action_space.dim != 7:
            raise ValueError(
                f"openvla drives ee_delta_7d; task {task.name!r} has {task.action_space.name!r}"
            )
        cameras = list(task.cameras)
        wanted = self.options.get("camera")
        if wanted is None:
            if not cameras:
                raise ValueError(f"task {task.name!r} has no camera; OpenVLA needs an image")
            self.camera = cameras[0]
        elif cameras and wanted not in cameras:
            raise ValueError(
                f"camera={wanted!r} is not a camera of task {task.name!r} "
                f"(it has: {', '.join(cameras)})"
            )
        else:
            self.camera = wanted
        self.decoder.reset()

    def _prompt_ids(self, instruction: str) -> torch.Tensor:
        if instruction not in self._prompts:
            ids = self.tokenizer.encode(instruction)
            self._prompts[instruction] = torch.tensor([ids], dtype=torch.long, device=self.device)
        return self._prompts[instruction]

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def act(self, observation: Observation) -> ActionChunk:
        """One action: the frame and instruction in, 7 greedy tokens out, decoded."""
        if self.camera is None:
            raise RuntimeError("reset() must come before act()")
        images = observation.get("images") or {}
        if self.camera not in images:
            raise KeyError(
                f"observation has no image from camera {self.camera!r} "
                f"(has: {', '.join(images) or 'none'})"
            )
        pixels = torch.from_numpy(self.transform(images[self.camera]))[None]
        input_ids = self._prompt_ids(str(observation.get("instruction", "")))
        self._sync()
        start = time.perf_counter()
        tokens = self.model.generate(
            pixels.to(self.device, self.dtype), input_ids, self.decoder.stats.dim
        )
        token_ids = tokens[0].cpu().numpy()  # the copy waits for the GPU
        model_time = time.perf_counter() - start
        decoded = self.decoder(token_ids)
        peak = (
            int(torch.cuda.max_memory_allocated(self.device))
            if self.device.type == "cuda"
            else None
        )
        return ActionChunk(
            decoded.action[None, :],
            model_time_s=model_time,
            input_tokens=int(input_ids.shape[1]) + self.model_config.num_patches,
            output_tokens=len(token_ids),
            decode_failures=decoded.failures,
            peak_memory_bytes=peak,
            info={
                "token_ids": token_ids.tolist(),
                "normalized": np.nan_to_num(decoded.normalized, nan=0.0).tolist(),
            },
        )

    def describe(self) -> dict[str, Any]:
        """Checkpoint, weights kind, parameters and the decoding choices that shape actions."""
        out: dict[str, Any] = {
            "checkpoint": self.config.checkpoint,
            "weights": self.training.origin if self.training else self.weights,
            "arch": self.options.get("arch", "openvla-7b") if not self.config.checkpoint else None,
            "parameters": self.model.num_parameters(),
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "unnorm_key": self.decoder.stats.key,
            "gripper": self.decoder.gripper.name,
            "binarize_gripper": self.decoder.binarize,
            "camera": self.camera or self.options.get("camera"),
            "center_crop": self.transform.center_crop,
        }
        if self.digest is not None:
            out.update(self.digest.describe())
        if self.training is not None:
            out["training"] = self.training.summary()
        return out

    def close(self) -> None:
        """Drop the model and return GPU memory."""
        del self.model
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
