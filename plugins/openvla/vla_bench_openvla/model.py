"""The OpenVLA model: fused featurizer -> projector -> patch embeddings after BOS -> Llama-2.

Decoding is greedy over the whole (padded) vocabulary, one token per action dimension, with a
KV cache: one prefill pass over ``[BOS, patches..., prompt...]`` and ``n - 1`` single-token
steps, which is what ``generate(max_new_tokens=n, do_sample=False)`` did in the published code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn
from transformers import LlamaForCausalLM
from transformers.models.llama.modeling_llama import LlamaRMSNorm, LlamaRotaryEmbedding

from vla_bench_openvla.config import OpenVLAConfig
from vla_bench_openvla.vision import FusedFeaturizer, Projector


class OpenVLAModel(nn.Module):
    """Featurizer, projector and language model; parameter names are this package's own
    (``featurizer.dino.*``, ``featurizer.siglip.*``, ``projector.*``, ``llm.*``); see
    :mod:`vla_bench_openvla.checkpoint` for the published names they map from."""

    def __init__(self, config: OpenVLAConfig) -> None:
        super().__init__()
        self.config = config
        self.featurizer = FusedFeaturizer(config)
        self.projector = Projector(config.vision_dim, config.hidden_size)
        self.llm = LlamaForCausalLM(config.llama_config())

    def embed(self, pixel_values: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        """Input embeddings with the projected patches inserted after the BOS token."""
        patches = self.projector(self.featurizer(pixel_values.to(self.projector.fc1.weight.dtype)))
        text = self.llm.get_input_embeddings()(input_ids)
        return torch.cat([text[:, :1], patches, text[:, 1:]], dim=1)

    def forward(self, pixel_values: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        """Logits over the padded vocabulary for every position of the multimodal sequence."""
        out = self.llm(inputs_embeds=self.embed(pixel_values, input_ids), use_cache=False)
        logits: torch.Tensor = out.logits
        return logits

    @torch.inference_mode()
    def generate(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, n_tokens: int
    ) -> torch.Tensor:
        """Greedily generate ``n_tokens`` ids after the prompt: (B, n_tokens)."""
        out = self.llm(
            inputs_embeds=self.embed(pixel_values, input_ids), use_cache=True, logits_to_keep=1
        )
        token = out.logits[:, -1].argmax(-1, keepdim=True)
        tokens = [token]
        for _ in range(n_tokens - 1):
            out = self.llm(input_ids=token, past_key_values=out.past_key_values, use_cache=True)
            token = out.logits[:, -1].argmax(-1, keepdim=True)
            tokens.append(token)
        return torch.cat(tokens, dim=1)

    def num_parameters(self) -> int:
        """Parameters held (the unused last tower blocks and heads are not built)."""
        return sum(p.numel() for p in self.parameters())


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def allocate(config: OpenVLAConfig, device: torch.device, dtype: torch.dtype) -> OpenVLAModel:
    """An OpenVLA model with *uninitialised* storage on ``device`` in ``dtype``.

    Built on the meta device first so a 7B model never exists in float32 or on the wrong
    device; the caller fills it with :func:`init_random` or checkpoint weights.
    """
    with _default_dtype(dtype), torch.device("meta"):
        model = OpenVLAModel(config)
    model.to_empty(device=device)
    # Rotary frequencies are computed, not stored: rebuild them (in float32) on the device.
    model.llm.model.rotary_emb = LlamaRotaryEmbedding(model.llm.config, device=device)
    return model.eval()


@torch.no_grad()
def init_random(model: OpenVLAModel, seed: int = 0, std: float = 0.02) -> None:
    """Fill every parameter with a plausible random value (for latency and memory profiling).

    Weights and tokens ~ N(0, std), biases 0, norm scales 1, LayerScale 1e-5 (timm's DINOv2
    init). The outputs mean nothing.
    """
    from timm.layers import LayerScale
    from timm.models.vision_transformer import VisionTransformer

    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    for module in model.modules():
        weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
        if isinstance(module, nn.LayerNorm | LlamaRMSNorm) and weight is not None:
            weight.fill_(1.0)
        elif isinstance(module, LayerScale):
            module.gamma.fill_(1e-5)
        elif isinstance(module, nn.Linear | nn.Conv2d | nn.Embedding) and weight is not None:
            weight.normal_(0.0, std, generator=generator)
        if isinstance(bias, torch.Tensor):
            bias.zero_()
        if isinstance(module, VisionTransformer):
            for token in (module.cls_token, module.reg_token, module.pos_embed):
                if token is not None:
                    token.normal_(0.0, std, generator=generator)
