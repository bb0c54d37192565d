"""Training a LeRobot policy from scratch (``bench train --policy act|diffusion``).

LeRobot 0.6.1's own objects build it: ``make_policy_config`` + ``make_policy`` make the model
from the dataset's features and ``make_pre_post_processors`` the normalisers from the dataset's
``meta/stats.json``; :func:`vla_bench_training.loop.fit` trains it.
"""

from __future__ import annotations

from typing import Any

from harness.checkpoints import TrainingRecord
from vla_bench_training.dataset import open_dataset
from vla_bench_training.errors import TrainingInputError
from vla_bench_training.loop import ResumeState, fit
from vla_bench_training.request import TrainRequest

PRESETS: dict[str, dict[str, Any]] = {
    "act": {
        # Our episodes are 10-120 steps at 10 Hz: a 10-step chunk re-plans once a second.
        "chunk_size": 10,
        "n_action_steps": 10,
        "dim_model": 256,
        "n_heads": 8,
        "dim_feedforward": 1024,
        "n_encoder_layers": 2,
        "n_decoder_layers": 1,
        "use_vae": True,
        "latent_dim": 32,
        # No ImageNet download: the backbone trains from scratch with the rest.
        "pretrained_backbone_weights": None,
        "optimizer_lr_backbone": 1e-4,
    },
    "diffusion": {
        "n_obs_steps": 2,
        "horizon": 16,
        "n_action_steps": 8,
        "down_dims": (128, 256, 512),
        "use_group_norm": True,
        "pretrained_backbone_weights": None,
        "spatial_softmax_num_keypoints": 32,
        "noise_scheduler_type": "DDIM",
        "num_train_timesteps": 100,
        "num_inference_steps": 10,
    },
}
"""Policies small enough to train from scratch on a CPU in minutes to hours; every value is a
LeRobot config field and can be overridden with ``--policy-args key=value``."""


def build_config(policy: str, meta: Any, options: dict[str, Any], device: str) -> Any:
    """A LeRobot policy config for ``policy`` with features from the dataset metadata."""
    from lerobot.configs import FeatureType
    from lerobot.policies.factory import make_policy_config
    from lerobot.utils.feature_utils import dataset_to_policy_features

    features = dataset_to_policy_features(meta.features)
    kwargs = {**PRESETS[policy], **options}
    try:
        return make_policy_config(
            policy,
            device=device,
            input_features={k: f for k, f in features.items() if f.type is not FeatureType.ACTION},
            output_features={k: f for k, f in features.items() if f.type is FeatureType.ACTION},
            **kwargs,
        )
    except TypeError as exc:
        raise TrainingInputError(f"--policy-args for {policy}: {exc}") from None


def train_from_scratch(request: TrainRequest, resume: ResumeState | None) -> TrainingRecord:
    """Build the policy (or load the checkpoint ``resume`` continues) and fit it."""
    import torch
    from lerobot.policies.factory import get_policy_class, make_policy, make_pre_post_processors

    if request.pretrained is not None:
        raise TrainingInputError(
            f"--pretrained: {request.policy} trains from scratch here; drop --pretrained"
        )
    torch.manual_seed(request.seed)
    meta = open_dataset(request.dataset)
    request.progress.phase(f"building {request.policy}")
    if resume is None:
        config = build_config(request.policy, meta, dict(request.options), request.device)
        model = make_policy(config, ds_meta=meta)
    else:
        from lerobot.configs import PreTrainedConfig

        config = PreTrainedConfig.from_pretrained(resume.directory)
        config.device = request.device
        model = get_policy_class(config.type).from_pretrained(resume.directory, config=config)
    preprocessor, postprocessor = make_pre_post_processors(config, dataset_stats=meta.stats)
    return fit(model, preprocessor, postprocessor, request, resume=resume)
