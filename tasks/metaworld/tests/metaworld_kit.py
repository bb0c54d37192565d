"""Shared helpers for the Meta-World tests: LeRobot's own env and a tiny LeRobot checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# A tiny ACT (deterministic at inference, so two runs can agree to the last bit). It acts on
# the features LeRobot's Meta-World env gives (``observation.image`` 3x480x480 and
# ``observation.state`` (4,)) and outputs its 4-d action; a chunk of 100 keeps model calls few.
TINY_ACT: dict[str, Any] = {
    "dim_model": 32,
    "n_heads": 2,
    "dim_feedforward": 64,
    "n_encoder_layers": 1,
    "n_decoder_layers": 1,
    "n_vae_encoder_layers": 1,
    "latent_dim": 4,
    "chunk_size": 100,
    "n_action_steps": 100,
    "pretrained_backbone_weights": None,
}


def lerobot_env(task: str, render: str = "canonical") -> Any:
    """LeRobot 0.6.1's own Meta-World env (``pixels_agent_pos``, as lerobot-eval builds it)."""
    from lerobot.envs.metaworld import MetaworldEnv
    from vla_bench_metaworld.sim import set_render_mode

    env = MetaworldEnv(task=task, obs_type="pixels_agent_pos")
    env._ensure_env()  # LeRobot builds its simulation lazily; the render mode must precede a frame
    set_render_mode(env._env, render)
    return env


def tiny_act_checkpoint(directory: Path) -> Path:
    """Save a randomly initialised tiny ACT with non-trivial normalisation statistics."""
    import torch
    from lerobot.configs import FeatureType, PolicyFeature
    from lerobot.policies.factory import (
        get_policy_class,
        make_policy_config,
        make_pre_post_processors,
    )

    config = make_policy_config(
        "act",
        device="cpu",
        input_features={
            "observation.image": PolicyFeature(FeatureType.VISUAL, (3, 480, 480)),
            "observation.state": PolicyFeature(FeatureType.STATE, (4,)),
        },
        output_features={"action": PolicyFeature(FeatureType.ACTION, (4,))},
        **TINY_ACT,
    )
    torch.manual_seed(0)
    policy = get_policy_class("act")(config)
    stats = {
        "observation.image": {
            "mean": torch.full((3, 1, 1), 0.4),
            "std": torch.full((3, 1, 1), 0.25),
        },
        "observation.state": {
            "mean": torch.tensor([0.0, 0.6, 0.2, 0.5]),
            "std": torch.tensor([0.1, 0.1, 0.1, 0.3]),
        },
        "action": {"mean": torch.zeros(4), "std": torch.tensor([0.8, 0.8, 0.8, 1.2])},
    }
    preprocessor, postprocessor = make_pre_post_processors(config, dataset_stats=stats)
    directory.mkdir(parents=True, exist_ok=True)
    policy.save_pretrained(directory)
    preprocessor.save_pretrained(directory)
    postprocessor.save_pretrained(directory)
    return directory
