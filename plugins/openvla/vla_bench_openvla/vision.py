"""The fused DINOv2 + SigLIP featurizer and the projector into the LLM.

The towers are timm's VisionTransformer, created by the timm ids a checkpoint names, as
OpenVLA's own code creates them, with every hyper-parameter that shapes the forward pass
passed explicitly from the checkpoint's :class:`~vla_bench_openvla.config.ViTSpec` (so a
change of timm's defaults cannot change the model silently) and checked after creation.
OpenVLA reads each tower's second-to-last block: timm's ``prune_intermediate_layers`` drops the
last block, the final norm and the pooling head, which never run.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vla_bench_openvla.config import OpenVLAConfig, ViTSpec


class TowerMismatchError(ValueError):
    """The installed timm builds a tower other than the checkpoint's spec describes."""


def build_tower(spec: ViTSpec, timm_id: str) -> Any:
    """A timm VisionTransformer for ``spec`` (timm model ``timm_id``), cut after the block whose
    output OpenVLA reads (block ``depth - 2``)."""
    import timm

    if not timm.is_model(timm_id):
        raise TowerMismatchError(
            f"vision tower {timm_id!r} is not a timm model; OpenVLA checkpoints name their "
            f"towers by timm id (timm_model_ids in config.json)"
        )
    tower: Any = timm.create_model(
        timm_id,
        pretrained=False,
        num_classes=0,
        img_size=spec.image_size,
        patch_size=spec.patch_size,
        embed_dim=spec.embed_dim,
        depth=spec.depth,
        num_heads=spec.num_heads,
        # timm sizes the MLP as int(embed_dim * mlp_ratio): the half keeps float error out
        mlp_ratio=(spec.mlp_hidden + 0.5) / spec.embed_dim,
        qkv_bias=True,
        class_token=spec.class_token,
        reg_tokens=spec.reg_tokens,
        no_embed_class=spec.no_embed_class,
        init_values=1e-5 if spec.layer_scale else None,
        act_layer=nn.GELU,  # exact (erf) GELU, what OpenVLA trained with
    )
    tower.prune_intermediate_layers(indices=[spec.depth - 2], prune_norm=True, prune_head=True)
    block = tower.blocks[0]
    built = {
        "mlp_hidden": block.mlp.fc1.out_features,
        "num_prefix_tokens": tower.num_prefix_tokens,
        "pos_tokens": tower.pos_embed.shape[1],
        "norm_eps": block.norm1.eps,
        "layer_scale": hasattr(block.ls1, "gamma"),
        "exact_gelu": isinstance(block.mlp.act, nn.GELU) and block.mlp.act.approximate == "none",
    }
    wanted = {
        "mlp_hidden": spec.mlp_hidden,
        "num_prefix_tokens": spec.num_prefix_tokens,
        "pos_tokens": spec.pos_tokens,
        "norm_eps": spec.norm_eps,
        "layer_scale": spec.layer_scale,
        "exact_gelu": True,
    }
    if built != wanted:
        raise TowerMismatchError(
            f"timm {timm.__version__} builds {timm_id!r} as {built}, the checkpoint needs "
            f"{wanted}; install a timm release that builds it as specified"
        )
    return tower


def tower_features(tower: Any, images: torch.Tensor) -> torch.Tensor:
    """A tower's patch tokens at the block it was cut after (prefix tokens dropped), through
    timm's own ``get_intermediate_layers``: (B, 3, S, S) -> (B, num_patches, embed_dim)."""
    (patches,) = tower.get_intermediate_layers(images, n=[len(tower.blocks) - 1])
    out: torch.Tensor = patches
    return out


class FusedFeaturizer(nn.Module):
    """DINOv2 on channels 0-2 and SigLIP on channels 3-5, patch features concatenated."""

    def __init__(self, config: OpenVLAConfig) -> None:
        super().__init__()
        self.dino = build_tower(config.towers[0], config.timm_model_ids[0])
        self.siglip = build_tower(config.towers[1], config.timm_model_ids[1])

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, 6, S, S), each tower's own normalisation -> (B, num_patches, vision_dim)."""
        dino, siglip = torch.split(pixel_values, [3, 3], dim=1)
        return torch.cat([tower_features(self.dino, dino), tower_features(self.siglip, siglip)], 2)


class Projector(nn.Module):
    """The fused GELU MLP: vision_dim -> 4 x vision_dim -> LLM width -> LLM width."""

    def __init__(self, vision_dim: int, llm_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(vision_dim, 4 * vision_dim)
        self.fc2 = nn.Linear(4 * vision_dim, llm_dim)
        self.fc3 = nn.Linear(llm_dim, llm_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, P, vision_dim) -> (B, P, llm_dim)."""
        return self.fc3(F.gelu(self.fc2(F.gelu(self.fc1(features)))))
