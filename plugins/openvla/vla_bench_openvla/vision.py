"""The fused DINOv2 + SigLIP featurizer and the projector into the LLM, in plain torch.

Written from the architecture (see :class:`~vla_bench_openvla.config.ViTSpec`) rather than by
instantiating timm models by name, so that the forward pass does not drift with timm's
defaults; ``tests/test_featurizer.py`` checks it against timm's own towers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vla_bench_openvla.config import OpenVLAConfig, ViTSpec


class Attention(nn.Module):
    """Multi-head self-attention with a fused, biased qkv projection."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, D) -> (B, N, D)."""
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, d // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    """Linear -> exact GELU -> Linear."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, D) -> (B, N, D)."""
        return self.fc2(F.gelu(self.fc1(x)))


class LayerScale(nn.Module):
    """Per-channel learned scale of a residual branch (DINOv2)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale the last dimension."""
        return x * self.scale


class Block(nn.Module):
    """A pre-norm transformer block, optionally with LayerScale on both branches."""

    def __init__(self, spec: ViTSpec) -> None:
        super().__init__()
        dim = spec.embed_dim
        self.norm1 = nn.LayerNorm(dim, eps=spec.norm_eps)
        self.attn = Attention(dim, spec.num_heads)
        self.ls1: nn.Module = LayerScale(dim) if spec.layer_scale else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=spec.norm_eps)
        self.mlp = Mlp(dim, spec.mlp_hidden)
        self.ls2: nn.Module = LayerScale(dim) if spec.layer_scale else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One residual attention step and one residual MLP step."""
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class ViTTower(nn.Module):
    """A ViT that returns the patch tokens of its second-to-last block (prefix tokens dropped).

    Only the ``depth - 1`` blocks that feed that output are built.
    """

    def __init__(self, spec: ViTSpec) -> None:
        super().__init__()
        self.spec = spec
        dim = spec.embed_dim
        self.patch_embed = nn.Conv2d(3, dim, kernel_size=spec.patch_size, stride=spec.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if spec.class_token else None
        self.reg_token = (
            nn.Parameter(torch.zeros(1, spec.reg_tokens, dim)) if spec.reg_tokens else None
        )
        self.pos_embed = nn.Parameter(torch.zeros(1, spec.pos_tokens, dim))
        self.blocks = nn.ModuleList(Block(spec) for _ in range(spec.depth - 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) normalised images -> (B, num_patches, embed_dim)."""
        x = self.patch_embed(images).flatten(2).transpose(1, 2)
        prefix = [
            t.expand(x.shape[0], -1, -1) for t in (self.cls_token, self.reg_token) if t is not None
        ]
        if self.spec.no_embed_class:
            x = torch.cat([*prefix, x + self.pos_embed], dim=1)
        else:
            x = torch.cat([*prefix, x], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return x[:, self.spec.num_prefix_tokens :]


class FusedFeaturizer(nn.Module):
    """DINOv2 on channels 0-2 and SigLIP on channels 3-5, patch features concatenated."""

    def __init__(self, config: OpenVLAConfig) -> None:
        super().__init__()
        self.dino = ViTTower(config.towers[0])
        self.siglip = ViTTower(config.towers[1])

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, 6, S, S), each tower's own normalisation -> (B, num_patches, vision_dim)."""
        dino, siglip = torch.split(pixel_values, [3, 3], dim=1)
        return torch.cat([self.dino(dino), self.siglip(siglip)], dim=2)


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
