"""The LeRobot backends vla-bench registers, and the architecture data for ``weights=random``.

Pure data (no torch, no lerobot): the plugin module reads it to register names quickly.

``weights=random`` builds the real architecture at full size from these public
hyper-parameters, so latency and memory can be profiled with nothing downloaded. Each entry
holds the keyword arguments of LeRobot's config class for that policy type (LeRobot's own
defaults fill the rest) and, where LeRobot builds the model from a hub config, that config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SMOLVLM2_500M_CONFIG: dict[str, Any] = {
    # HuggingFaceTB/SmolVLM2-500M-Video-Instruct config.json: SmolLM2-360M text model
    # (32 layers, width 960, 15 heads, 5 KV heads) and a SigLIP base/16 vision tower at
    # 512 px, pixel-shuffle factor 4 (64 visual tokens per 512 px image).
    "model_type": "smolvlm",
    "scale_factor": 4,
    "vocab_size": 49280,
    "tie_word_embeddings": False,
    "text_config": {
        "model_type": "llama",
        "vocab_size": 49280,
        "hidden_size": 960,
        "intermediate_size": 2560,
        "num_hidden_layers": 32,
        "num_attention_heads": 15,
        "num_key_value_heads": 5,
        "head_dim": 64,
        "max_position_embeddings": 8192,
        "rms_norm_eps": 1e-5,
        "rope_theta": 100000.0,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
    },
    "vision_config": {
        "model_type": "smolvlm_vision",
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "image_size": 512,
        "patch_size": 16,
        "layer_norm_eps": 1e-6,
    },
}


@dataclass(frozen=True)
class Backend:
    """One registered policy name and how to build it.

    ``policy_type`` is LeRobot's registered type (None: whatever the checkpoint says).
    ``default_checkpoint`` is the hub id used when ``checkpoint=`` is not given.
    ``random_config`` are LeRobot config overrides for ``weights=random`` (None: unsupported).
    """

    name: str
    policy_type: str | None
    description: str
    default_checkpoint: str | None
    random_config: dict[str, Any] | None = None
    reference: str = ""
    hub_assets: tuple[str, ...] = field(default=())


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend(
            "smolvla",
            "smolvla",
            "SmolVLA (SmolVLM2-500M + flow-matching action expert, 450M), LeRobot 0.6.1",
            "lerobot/smolvla_base",
            # lerobot/smolvla_base: first 16 of 32 VLM layers, expert at 0.75x width,
            # 50-step chunks, 10 flow-matching steps, 512 px padded resize.
            {
                "load_vlm_weights": False,
                "num_vlm_layers": 16,
                "chunk_size": 50,
                "n_action_steps": 50,
                "num_steps": 10,
            },
            "Shukor et al. 2025, arXiv:2506.01844",
            ("smolvlm",),
        ),
        Backend(
            "pi0",
            "pi0",
            "π0 (PaliGemma 3B + 300M flow-matching action expert), LeRobot 0.6.1 port of openpi",
            "lerobot/pi0_base",
            {
                "paligemma_variant": "gemma_2b",
                "action_expert_variant": "gemma_300m",
                "chunk_size": 50,
                "n_action_steps": 50,
                "num_inference_steps": 10,
            },
            "Black et al. 2024, arXiv:2410.24164",
            ("paligemma",),
        ),
        Backend(
            "pi05",
            "pi05",
            "π0.5 (PaliGemma 3B + adaRMS action expert, discrete state tokens), LeRobot 0.6.1",
            "lerobot/pi05_base",
            {
                "paligemma_variant": "gemma_2b",
                "action_expert_variant": "gemma_300m",
                "chunk_size": 50,
                "n_action_steps": 50,
                "num_inference_steps": 10,
            },
            "Physical Intelligence 2025, arXiv:2504.16054",
            ("paligemma",),
        ),
        Backend(
            "pi0fast",
            "pi0_fast",
            "π0-FAST (PaliGemma 3B, autoregressive FAST action tokens), LeRobot 0.6.1",
            "lerobot/pi0fast-base",
            # Random weights never emit the end-of-action marker, so decoding runs to
            # max_decoding_steps: the worst case, stated in results.
            {
                "paligemma_variant": "gemma_2b",
                "chunk_size": 10,
                "n_action_steps": 10,
                "max_decoding_steps": 256,
                "validate_action_token_prefix": False,
            },
            "Pertsch et al. 2025, arXiv:2501.09747",
            ("paligemma", "fast"),
        ),
        Backend(
            "diffusion",
            "diffusion",
            "Diffusion Policy (ResNet18 + 1D conv UNet, DDPM 100 steps), LeRobot 0.6.1",
            "lerobot/diffusion_pusht",
            # lerobot/diffusion_pusht (Chi et al.'s Push-T setup): 2 observations, 16-step
            # horizon, 8 executed, UNet 512/1024/2048, GroupNorm ResNet18 trained from scratch,
            # 96 px images cropped to 84.
            {
                "n_obs_steps": 2,
                "horizon": 16,
                "n_action_steps": 8,
                "down_dims": (512, 1024, 2048),
                "kernel_size": 5,
                "n_groups": 8,
                "diffusion_step_embed_dim": 128,
                "use_group_norm": True,
                "pretrained_backbone_weights": None,
                "resize_shape": (96, 96),
                "crop_ratio": 0.875,
                "spatial_softmax_num_keypoints": 32,
                "noise_scheduler_type": "DDPM",
                "num_train_timesteps": 100,
                "num_inference_steps": 100,
            },
            "Chi et al. 2023, arXiv:2303.04137",
        ),
        Backend(
            "act",
            "act",
            "ACT (ResNet18 + transformer encoder-decoder, CVAE), LeRobot 0.6.1",
            "lerobot/act_aloha_sim_transfer_cube_human",
            # Zhao et al.'s ALOHA setup as LeRobot ships it: 100-step chunks, width 512,
            # 4 encoder / 1 decoder layers, VAE latent 32; no ImageNet download.
            {
                "chunk_size": 100,
                "n_action_steps": 100,
                "dim_model": 512,
                "n_heads": 8,
                "dim_feedforward": 3200,
                "n_encoder_layers": 4,
                "n_decoder_layers": 1,
                "use_vae": True,
                "latent_dim": 32,
                "pretrained_backbone_weights": None,
            },
            "Zhao et al. 2023, arXiv:2304.13705",
        ),
        Backend(
            "lerobot",
            None,
            "any LeRobot policy checkpoint (checkpoint=<hub id or local dir>)",
            None,
        ),
    )
}
