"""Shared helpers for the LeRobot plugin tests: task shape, observations, stats, tiny configs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.contract import EE_DELTA_7D, TaskSpec

if TYPE_CHECKING:
    from pathlib import Path

    from vla_bench_lerobot.policy import LeRobotPolicy

STATE_FIELDS = ("ee_x", "ee_y", "ee_z", "ee_qw", "ee_qx", "ee_qy", "ee_qz", "gripper")

# Small versions of each architecture (LeRobot config overrides on top of backends.py).
TINY: dict[str, dict[str, Any]] = {
    "act": {
        "dim_model": 32,
        "n_heads": 2,
        "dim_feedforward": 64,
        "n_encoder_layers": 1,
        "n_decoder_layers": 1,
        "n_vae_encoder_layers": 1,
        "latent_dim": 4,
        "chunk_size": 10,
        "n_action_steps": 5,
    },
    "diffusion": {
        "down_dims": (16, 32),
        "horizon": 8,
        "n_action_steps": 4,
        "num_inference_steps": 3,
        "resize_shape": (32, 32),
        "diffusion_step_embed_dim": 16,
        "spatial_softmax_num_keypoints": 4,
        "n_groups": 4,
    },
    # π family: also needs tiny_paligemma() (below) active while built or loaded
    "pi0": {"chunk_size": 10, "n_action_steps": 5, "num_inference_steps": 2},
    "pi05": {
        "chunk_size": 10,
        "n_action_steps": 5,
        "num_inference_steps": 2,
        "tokenizer_max_length": 64,
    },
    "pi0fast": {
        "chunk_size": 5,
        "n_action_steps": 5,
        "max_decoding_steps": 12,
        "tokenizer_max_length": 64,
        "max_action_tokens": 32,
    },
    "smolvla": {
        "num_vlm_layers": 2,
        "resize_imgs_with_padding": (32, 32),
        "chunk_size": 10,
        "n_action_steps": 5,
        "num_steps": 2,
    },
}

# A SmolVLM with the real structure (llama text model, SigLIP-style vision tower, pixel shuffle)
# at toy width; it stands in for HuggingFaceTB/SmolVLM2-500M-Video-Instruct in the offline hub.
TINY_SMOLVLM = {
    "model_type": "smolvlm",
    "scale_factor": 2,
    "vocab_size": 600,
    "text_config": {
        "model_type": "llama",
        "vocab_size": 600,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "max_position_embeddings": 512,
    },
    "vision_config": {
        "model_type": "smolvlm_vision",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "image_size": 32,
        "patch_size": 8,
    },
}


def make_task(
    cameras: dict[str, tuple[int, int]] | None = None,
    state_fields: tuple[str, ...] = STATE_FIELDS,
    name: str = "valve",
) -> TaskSpec:
    """The manipulation suite's shape: front + wrist cameras 224x224, ee pose + gripper state."""
    return TaskSpec(
        name=name,
        version="test",
        suite="manipulation",
        instruction="turn the valve clockwise",
        control_hz=10.0,
        max_steps=20,
        action_space=EE_DELTA_7D,
        state_fields=state_fields,
        cameras=cameras if cameras is not None else {"front": (224, 224), "wrist": (224, 224)},
        has_ee_pose=True,
    )


def make_observation(task: TaskSpec, seed: int = 0) -> dict[str, Any]:
    """A random observation of the right shape for ``task``."""
    rng = np.random.default_rng(seed)
    return {
        "images": {
            c: rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for c, (h, w) in task.cameras.items()
        },
        "state": rng.normal(size=len(task.state_fields)).astype(np.float32),
        "instruction": task.instruction,
    }


def dataset_stats(task: TaskSpec) -> dict[str, dict[str, Any]]:
    """Non-trivial statistics (as a dataset would give) for every feature of ``task``."""
    import torch
    from vla_bench_lerobot.adapter import task_features

    stats: dict[str, dict[str, Any]] = {}
    for key, (kind, shape_) in task_features(task).items():
        n = shape_[0]
        shape = (n, 1, 1) if kind == "VISUAL" else (n,)
        base = torch.linspace(0.1, 0.5, n).reshape(shape)
        stats[key] = {
            "mean": base,
            "std": base + 0.5,
            "min": base - 1.0,
            "max": base + 1.0,
            "q01": base - 0.9,
            "q99": base + 0.9,
            "q10": base - 0.5,
            "q90": base + 0.5,
        }
    return stats


# -- tiny PaliGemma ------------------------------------------------------------------------
# LeRobot 0.6.1 builds π0, π0.5 and π0-FAST from a fixed table of two Gemma sizes (300M, 2B)
# and fixes the SigLIP tower and the 257k vocabulary in code, with no option to shrink them.
# For tests, `tiny_paligemma()` swaps that table and the two model classes for shrinking
# wrappers inside LeRobot's modeling modules: the same architecture code runs at toy width.

PI_MODULES = (
    "lerobot.policies.pi0.modeling_pi0",
    "lerobot.policies.pi05.modeling_pi05",
    "lerobot.policies.pi0_fast.modeling_pi0_fast",
)
TINY_VOCAB = 2048  # the stand-in PaliGemma tokenizer's size in tests
PI_FAMILY = ("pi0", "pi05", "pi0fast")


def _tiny_gemma(module: Any) -> Any:
    def get_gemma_config(variant: str) -> Any:
        width = 64 if variant == "gemma_2b" else 32
        return module.GemmaConfig(
            width=width, depth=2, mlp_dim=2 * width, num_heads=2, num_kv_heads=1, head_dim=16
        )

    return get_gemma_config


def _shrunk(cls: Any) -> Any:
    def build(config: Any) -> Any:
        text = getattr(config, "text_config", config)
        text.vocab_size = TINY_VOCAB
        if hasattr(config, "vision_config"):
            config._vocab_size = TINY_VOCAB
            config.image_token_index = TINY_VOCAB - 1
            vision = config.vision_config
            vision.hidden_size, vision.intermediate_size = 32, 64
            vision.num_hidden_layers, vision.num_attention_heads = 1, 2
            vision.patch_size = 32
            vision.projection_dim = text.hidden_size
        return cls(config=config)

    return build


@contextlib.contextmanager
def tiny_paligemma() -> Iterator[None]:
    """Build LeRobot's π models at toy size inside the block (see the note above)."""
    import importlib

    saved = []
    for name in PI_MODULES:
        module = importlib.import_module(name)
        for attr, new in (
            ("get_gemma_config", _tiny_gemma(module)),
            (
                "PaliGemmaForConditionalGenerationWithPiGemma",
                _shrunk(module.PaliGemmaForConditionalGenerationWithPiGemma),
            ),
            ("PiGemmaForCausalLM", _shrunk(getattr(module, "PiGemmaForCausalLM", None))),
        ):
            if hasattr(module, attr):
                saved.append((module, attr, getattr(module, attr)))
                setattr(module, attr, new)
    try:
        yield
    finally:
        for module, attr, old in saved:
            setattr(module, attr, old)


def make_standins(root: Path) -> Path:
    """Tiny stand-ins for the hub files LeRobot loads besides a checkpoint, as the local
    directories ``smolvlm``, ``paligemma`` and ``fast`` under ``root`` (built once)."""
    from vla_bench_lerobot import standins

    if not (root / "fast").is_dir():
        standins.smolvlm_dir(root / "smolvlm", TINY_SMOLVLM)
        standins.paligemma_tokenizer_dir(root / "paligemma", TINY_VOCAB)
        standins.fast_tokenizer_dir(
            root / "fast", action_dim=7, horizon=5, vocab_size=256, samples=128
        )
    return root


def load_options(name: str, standins: Path) -> dict[str, str]:
    """What loading a tiny ``name`` checkpoint needs besides it: the π family's saved
    processors name the PaliGemma tokenizer by hub id, so the stand-in is passed by path."""
    return {"tokenizer": str(standins / "paligemma")} if name in PI_FAMILY else {}


def load_policy(name: str, checkpoint: Path, standins: Path, **options: str) -> LeRobotPolicy:
    """The tiny ``name`` checkpoint as a vla-bench policy (``options`` on top of what it needs)."""
    from vla_bench_lerobot.policy import LeRobotPolicy

    from harness.contract import PolicyConfig

    merged = {**load_options(name, standins), **options}
    return LeRobotPolicy(PolicyConfig(name=name, checkpoint=str(checkpoint), options=merged))


def architecture(name: str, request: Any) -> None:
    """Activate what building ``name`` at toy size needs (the π family: the ``tiny_pi`` fixture)."""
    if name in PI_FAMILY:
        request.getfixturevalue("tiny_pi")
