"""Shared helpers for the LeRobot plugin tests: task shape, observations, stats, tiny configs."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.contract import EE_DELTA_7D, TaskSpec

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
