"""Builds tiny OpenVLA checkpoints the way the published ones are laid out.

The reference model here is assembled from the same parts the published
``OpenVLAForActionPrediction`` is made of: timm towers created by their timm ids (with small
dimensions, ``pretrained=False``) read at the second-to-last block through timm's own
``get_intermediate_layers``, a 3-layer GELU projector named ``projector.fc1..fc3``, and a
``transformers`` ``LlamaForCausalLM`` as ``language_model``. Its ``state_dict`` therefore has
the published weight names; LayerScale ``gamma`` is renamed ``scale_factor`` as the published
conversion did. The checkpoint directory gets ``config.json`` (with ``norm_stats``),
``preprocessor_config.json``, ``model.safetensors`` and a Llama-style ``tokenizer.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, normalizers, processors, trainers
from tokenizers.models import BPE
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM

DINO_ID = "vit_large_patch14_reg4_dinov2.lvd142m"
SIGLIP_ID = "vit_so400m_patch14_siglip_224"
# Small dimensions over the real timm definitions (registers, LayerScale, no class token,
# SigLIP's odd mlp_ratio all kept): 3 blocks each, so block 1 is the "second-to-last".
DINO_KWARGS: dict[str, Any] = {"embed_dim": 32, "depth": 3, "num_heads": 2}
SIGLIP_KWARGS: dict[str, Any] = {"embed_dim": 48, "depth": 3, "num_heads": 2}
VIT_SPECS = [
    {
        "patch_size": 14,
        "embed_dim": 32,
        "depth": 3,
        "num_heads": 2,
        "mlp_hidden": 128,
        "class_token": True,
        "reg_tokens": 4,
        "layer_scale": True,
        "no_embed_class": True,
    },
    {
        "patch_size": 14,
        "embed_dim": 48,
        "depth": 3,
        "num_heads": 2,
        "mlp_hidden": int(48 * 3.7362),
        "class_token": False,
    },
]
PAD_MULTIPLE = 64
NORM_STATS = {
    "bridge_orig": {
        "action": {
            "q01": [-0.03, -0.04, -0.03, -0.1, -0.1, -0.2, 0.0],
            "q99": [0.03, 0.04, 0.04, 0.1, 0.1, 0.2, 1.0],
            "mask": [True, True, True, True, True, True, False],
        }
    },
    "fractal20220817_data": {
        "action": {
            "q01": [-0.2, -0.2, -0.2, -0.4, -0.4, -0.4, 0.0],
            "q99": [0.2, 0.2, 0.2, 0.4, 0.4, 0.4, 1.0],
            "mask": [True, True, True, True, True, True, False],
        }
    },
}
CORPUS = [
    "In: What action should the robot take to turn the valve?\nOut:",
    "In: What action should the robot take to reach the target?\nOut:",
    "In: What action should the robot take to pick up the red block and place it in the bowl?"
    "\nOut:",
    "put the spoon on the towel, open the drawer, close the gripper",
]


def build_tokenizer() -> Tokenizer:
    """A small Llama-style tokenizer: <unk>, <s>, </s>, 256 byte tokens, BPE merges, "▁"
    spaces prepended by the normaliser (Llama-2's tokenizer.json layout), BOS template."""
    tokenizer = Tokenizer(BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")]
    )
    specials = ["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256))]
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=specials, show_progress=False)
    tokenizer.train_from_iterator([t.lower() for t in CORPUS] + CORPUS, trainer)
    tokenizer.decoder = decoders.Sequence(
        [
            decoders.Replace("▁", " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(" ", 1, 0),
        ]
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", 1)]
    )
    return tokenizer


class ReferenceProjector(nn.Module):
    """The published fused projector's structure and names."""

    def __init__(self, vision_dim: int, llm_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(vision_dim, 4 * vision_dim)
        self.fc2 = nn.Linear(4 * vision_dim, llm_dim)
        self.fc3 = nn.Linear(llm_dim, llm_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(F.gelu(self.fc2(F.gelu(self.fc1(x)))))


class ReferenceOpenVLA(nn.Module):
    """The published model's composition (timm towers, projector, transformers Llama)."""

    def __init__(self, text_config: dict[str, Any], image_size: int = 224) -> None:
        super().__init__()
        self.vision_backbone = nn.Module()
        self.vision_backbone.featurizer = timm.create_model(
            DINO_ID, pretrained=False, num_classes=0, img_size=image_size, **DINO_KWARGS
        )
        self.vision_backbone.fused_featurizer = timm.create_model(
            SIGLIP_ID, pretrained=False, num_classes=0, img_size=image_size, **SIGLIP_KWARGS
        )
        vision_dim = DINO_KWARGS["embed_dim"] + SIGLIP_KWARGS["embed_dim"]
        self.projector = ReferenceProjector(vision_dim, text_config["hidden_size"])
        self.language_model = LlamaForCausalLM(LlamaConfig(**text_config))

    def features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """timm's own second-to-last-block patch features of both towers, concatenated."""
        out = []
        tower: Any
        for tower, px in zip(
            (self.vision_backbone.featurizer, self.vision_backbone.fused_featurizer),
            torch.split(pixel_values, [3, 3], dim=1),
            strict=True,
        ):
            (patches,) = tower.get_intermediate_layers(px, n=[len(tower.blocks) - 2])
            out.append(patches)
        return torch.cat(out, dim=2)

    def embeddings(self, pixel_values: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        patches = self.projector(self.features(pixel_values))
        text = self.language_model.get_input_embeddings()(input_ids)
        return torch.cat([text[:, :1], patches, text[:, 1:]], dim=1)

    def logits(self, pixel_values: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        return self.language_model(inputs_embeds=self.embeddings(pixel_values, input_ids)).logits

    @torch.no_grad()
    def generate(self, pixel_values: torch.Tensor, input_ids: torch.Tensor, n: int) -> torch.Tensor:
        """transformers' own greedy generate from the multimodal embeddings."""
        embeds = self.embeddings(pixel_values, input_ids)
        llm: Any = self.language_model
        generated: torch.Tensor = llm.generate(
            inputs_embeds=embeds,
            attention_mask=torch.ones(embeds.shape[:2], dtype=torch.long),
            max_new_tokens=n,
            min_new_tokens=n,
            do_sample=False,
            pad_token_id=0,
        )
        return generated

    def published_state_dict(self) -> dict[str, torch.Tensor]:
        """State dict with the published names (LayerScale ``gamma`` -> ``scale_factor``)."""
        return {
            k.replace(".gamma", ".scale_factor"): v.detach().clone().contiguous()
            for k, v in self.state_dict().items()
        }


def text_config(vocab: int) -> dict[str, Any]:
    """A tiny Llama with the padded vocabulary."""
    return {
        "vocab_size": vocab + PAD_MULTIPLE,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "max_position_embeddings": 512,
        "rms_norm_eps": 1e-6,
        "pad_token_id": vocab,
    }


@torch.no_grad()
def randomize(model: nn.Module, seed: int) -> None:
    """Weights far from their inits, so every part of the forward pass matters."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        noise = torch.randn(p.shape, generator=g)
        if p.ndim == 1 and ("norm" in name or "layernorm" in name):
            p.copy_(1.0 + 0.1 * noise)
        elif name.endswith(".gamma"):
            p.copy_(0.5 + 0.2 * noise)
        else:
            p.copy_(0.1 * noise)


@torch.no_grad()
def steer_outputs(
    model: ReferenceOpenVLA, action_vocab: int, toward: str, n_bins: int = 256
) -> None:
    """Zero the output-head rows of every id but the chosen kind, so greedy decoding picks
    that kind: the largest of many random logits beats the zeros with near certainty.
    ``toward="actions"`` keeps the 256 action ids; ``"text"`` keeps every other id."""
    head = model.language_model.lm_head.weight
    action = torch.zeros(head.shape[0], dtype=torch.bool)
    action[action_vocab - n_bins : action_vocab] = True
    head[~action if toward == "actions" else action] = 0.0


def write_checkpoint(
    directory: Path,
    seed: int = 0,
    outputs: str = "actions",
    norm_stats: dict[str, Any] | None = None,
    image_size: int = 224,
) -> ReferenceOpenVLA:
    """Write a tiny OpenVLA checkpoint in the published layout; return its reference model.

    ``outputs="actions"`` biases the output head toward action tokens (valid actions);
    ``"text"`` toward non-action tokens (every dimension a decode failure); ``"random"`` leaves
    the head as drawn. ``image_size`` below OpenVLA's 224 makes a faster model (fewer patches)
    for end-to-end runs.
    """
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    vocab = tokenizer.get_vocab_size(with_added_tokens=False)
    tokenizer.add_special_tokens(["<PAD>"])
    tokenizer.save(str(directory / "tokenizer.json"))
    torch.manual_seed(seed)
    model = ReferenceOpenVLA(text_config(vocab), image_size).eval()
    randomize(model, seed)
    if outputs != "random":
        steer_outputs(model, vocab, outputs)
    save_file(model.published_state_dict(), str(directory / "model.safetensors"))
    config = {
        "architectures": ["OpenVLAForActionPrediction"],
        "model_type": "openvla",
        "vision_backbone_id": "dinosiglip-vit-so-224px",
        "llm_backbone_id": "llama2-7b-pure",
        "arch_specifier": "no-align+fused-gelu-mlp",
        "use_fused_vision_backbone": True,
        "image_resize_strategy": "resize-naive",
        "timm_model_ids": [DINO_ID, SIGLIP_ID],
        "timm_override_act_layers": [None, None],
        "image_sizes": [image_size, image_size],
        "pad_token_id": vocab,
        "pad_to_multiple_of": PAD_MULTIPLE,
        "n_action_bins": 256,
        "norm_stats": NORM_STATS if norm_stats is None else norm_stats,
        "text_config": {"model_type": "llama", **text_config(vocab)},
        "vit_specs": VIT_SPECS,
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    (directory / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "image_processor_type": "PrismaticImageProcessor",
                "image_resize_strategy": "resize-naive",
                "input_sizes": [[3, image_size, image_size]] * 2,
                "interpolations": ["bicubic", "bicubic"],
                "means": [[0.485, 0.456, 0.406], [0.5, 0.5, 0.5]],
                "stds": [[0.229, 0.224, 0.225], [0.5, 0.5, 0.5]],
                "use_fused_vision_backbone": True,
            }
        )
    )
    (directory / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "LlamaTokenizer",
                "add_bos_token": True,
                "add_eos_token": False,
                "bos_token": {"content": "<s>", "lstrip": False, "rstrip": False},
                "eos_token": "</s>",
                "pad_token": "<PAD>",
                "unk_token": "<unk>",
            }
        )
    )
    return model
