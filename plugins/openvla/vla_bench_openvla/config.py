"""The architecture an OpenVLA checkpoint describes, read from its ``config.json``.

A published checkpoint names its vision towers by timm model id and leaves most of its Llama
configuration to defaults (its ``text_config`` holds little more than the padded vocabulary).
Both are resolved here from data, never from whatever the installed timm or transformers
happen to default to today:

* :data:`TOWERS` holds the tower hyper-parameters of the timm ids OpenVLA uses, as timm 0.9.x
  (OpenVLA's training version) built them; a checkpoint with other towers (the tests' tiny
  ones) spells them out under ``vit_specs``.
* :data:`LLAMA_DEFAULTS` is ``LlamaConfig()`` of transformers 4.40.1, the version the published
  model code ran with, filling whatever ``text_config`` leaves out.

``architectures/openvla-7b.json`` (shipped) is a ``config.json`` of the same shape, without
statistics, for ``weights=random``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ViTSpec:
    """One vision tower, as far as its forward pass and weight shapes go.

    The tower is a pre-norm ViT: patch embedding (conv, stride = patch), optional class and
    register tokens, learned position embeddings (over patches only when ``no_embed_class``,
    else over all tokens), ``depth`` blocks of LayerNorm -> attention (fused qkv with bias)
    -> [LayerScale] -> residual, LayerNorm -> GELU MLP -> [LayerScale] -> residual.
    OpenVLA reads the output of the second-to-last block, so block ``depth - 1`` and
    everything after it (final norm, pooling head) never run.
    """

    patch_size: int
    embed_dim: int
    depth: int
    num_heads: int
    mlp_hidden: int
    image_size: int = 224
    class_token: bool = True
    reg_tokens: int = 0
    layer_scale: bool = False
    no_embed_class: bool = False
    norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise ValueError(
                f"image size {self.image_size} is not a multiple of the patch size "
                f"{self.patch_size}"
            )
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by {self.num_heads}")
        if self.depth < 2:
            raise ValueError("a tower needs depth >= 2 (features come from block depth - 2)")

    @property
    def num_patches(self) -> int:
        """Patch tokens per image, the number of image embeddings the LLM sees."""
        return (self.image_size // self.patch_size) ** 2

    @property
    def num_prefix_tokens(self) -> int:
        """Class and register tokens, dropped from the features."""
        return int(self.class_token) + self.reg_tokens

    @property
    def pos_tokens(self) -> int:
        """Rows of the position embedding."""
        return self.num_patches + (0 if self.no_embed_class else self.num_prefix_tokens)


TOWERS: dict[str, ViTSpec] = {
    # DINOv2 ViT-L/14 with 4 registers; LayerScale (timm init 1e-5); positions over patches only.
    "vit_large_patch14_reg4_dinov2.lvd142m": ViTSpec(
        patch_size=14,
        embed_dim=1024,
        depth=24,
        num_heads=16,
        mlp_hidden=4096,
        class_token=True,
        reg_tokens=4,
        layer_scale=True,
        no_embed_class=True,
    ),
    # SigLIP So400m/14: no class token; mlp_ratio 3.7362 -> int(1152 * 3.7362) = 4304. timm
    # 0.9.x built it with exact (erf) GELU, which is what OpenVLA trained with.
    "vit_so400m_patch14_siglip_224": ViTSpec(
        patch_size=14,
        embed_dim=1152,
        depth=27,
        num_heads=16,
        mlp_hidden=4304,
        class_token=False,
    ),
}
"""Tower hyper-parameters by the timm model id a checkpoint's ``timm_model_ids`` names."""

IMAGE_NORMALIZATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "vit_large_patch14_reg4_dinov2.lvd142m": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "vit_so400m_patch14_siglip_224": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}
"""Each tower's own (mean, std), used when a checkpoint ships no ``preprocessor_config.json``."""

LLAMA_DEFAULTS: dict[str, Any] = {
    "vocab_size": 32000,
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": None,
    "hidden_act": "silu",
    "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
    "rope_scaling": None,
    "attention_bias": False,
    "mlp_bias": False,
    "tie_word_embeddings": False,
    "pad_token_id": None,
    "bos_token_id": 1,
    "eos_token_id": 2,
}
"""``transformers.LlamaConfig()`` of 4.40.1, the defaults the published OpenVLA code filled in."""


@dataclass(frozen=True)
class ImageSpec:
    """How an RGB frame becomes one tower's input: resize to a square, then normalise."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize: str = "resize-naive"

    def __post_init__(self) -> None:
        if self.resize != "resize-naive":
            raise ValueError(
                f"image_resize_strategy {self.resize!r} is not supported; OpenVLA checkpoints "
                f"use 'resize-naive' (a bicubic resize of the whole frame to a square)"
            )


@dataclass(frozen=True)
class OpenVLAConfig:
    """Everything needed to build and drive one OpenVLA model."""

    towers: tuple[ViTSpec, ViTSpec]
    images: tuple[ImageSpec, ImageSpec]
    text: Mapping[str, Any]
    timm_model_ids: tuple[str, str] = ("", "")
    pad_to_multiple_of: int = 64
    n_action_bins: int = 256
    norm_stats: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.towers[0].num_patches != self.towers[1].num_patches:
            raise ValueError(
                f"the two vision towers yield {self.towers[0].num_patches} and "
                f"{self.towers[1].num_patches} patches; a fused featurizer needs equal counts"
            )

    @property
    def vision_dim(self) -> int:
        """Width of the fused patch features (DINOv2 + SigLIP channels)."""
        return self.towers[0].embed_dim + self.towers[1].embed_dim

    @property
    def hidden_size(self) -> int:
        """The LLM's embedding width, the projector's output."""
        return int(self.text["hidden_size"])

    @property
    def num_patches(self) -> int:
        """Image embeddings inserted after BOS."""
        return self.towers[0].num_patches

    @property
    def action_vocab_size(self) -> int:
        """The vocabulary before padding; its last ``n_action_bins`` ids are action tokens."""
        return int(self.text["vocab_size"]) - self.pad_to_multiple_of

    def llama_config(self) -> Any:
        """A ``transformers.LlamaConfig`` for the language model."""
        from transformers import LlamaConfig

        kwargs = dict(self.text)
        kwargs.pop("rope_scaling", None)  # checked to be None in _resolve_text
        return LlamaConfig(**kwargs)

    def to_json(self) -> dict[str, Any]:
        """The resolved architecture (for provenance)."""
        return {
            "towers": [asdict(t) for t in self.towers],
            "images": [asdict(i) for i in self.images],
            "text": dict(self.text),
            "pad_to_multiple_of": self.pad_to_multiple_of,
            "n_action_bins": self.n_action_bins,
        }


def _resolve_text(text_config: Mapping[str, Any]) -> dict[str, Any]:
    model_type = text_config.get("model_type", "llama")
    if model_type != "llama":
        raise ValueError(
            f"text_config.model_type is {model_type!r}; this backend implements OpenVLA's "
            f"Llama-2 language model only"
        )
    text = {k: text_config.get(k, default) for k, default in LLAMA_DEFAULTS.items()}
    if text["rope_scaling"] is not None:
        raise ValueError(
            f"text_config.rope_scaling is {text['rope_scaling']!r}; OpenVLA's Llama-2 uses none"
        )
    if text["num_key_value_heads"] is None:
        text["num_key_value_heads"] = text["num_attention_heads"]
    if text["hidden_act"] != "silu":
        raise ValueError(f"text_config.hidden_act {text['hidden_act']!r} is not Llama's 'silu'")
    return text


def _resolve_towers(config: Mapping[str, Any]) -> tuple[tuple[ViTSpec, ViTSpec], tuple[str, str]]:
    if not config.get("use_fused_vision_backbone", True):
        raise ValueError(
            "use_fused_vision_backbone is false; OpenVLA uses the fused DINOv2 + SigLIP "
            "featurizer and this backend implements only that"
        )
    ids = tuple(config.get("timm_model_ids", ()))
    sizes = tuple(config.get("image_sizes", (224, 224)))
    if len(ids) != 2 or len(sizes) != 2:
        raise ValueError(
            f"config.json must name two vision towers in timm_model_ids and image_sizes "
            f"(got {list(ids)} and {list(sizes)})"
        )
    overrides = config.get("timm_override_act_layers") or [None, None]
    if any(a is not None for a in overrides):
        raise ValueError(
            f"timm_override_act_layers {overrides} is not supported; OpenVLA's towers use "
            f"the default GELU"
        )
    explicit = config.get("vit_specs")
    specs: list[ViTSpec] = []
    for i, (timm_id, size) in enumerate(zip(ids, sizes, strict=True)):
        if explicit is not None:
            specs.append(ViTSpec(**{**explicit[i], "image_size": int(size)}))
        elif timm_id in TOWERS:
            specs.append(ViTSpec(**{**asdict(TOWERS[timm_id]), "image_size": int(size)}))
        else:
            raise ValueError(
                f"vision tower {timm_id!r} is not one this backend knows "
                f"({', '.join(TOWERS)}); spell its hyper-parameters out under 'vit_specs' "
                f"in config.json"
            )
    return (specs[0], specs[1]), (str(ids[0]), str(ids[1]))


def _resolve_images(
    config: Mapping[str, Any],
    towers: tuple[ViTSpec, ViTSpec],
    ids: tuple[str, str],
    preprocessor: Mapping[str, Any] | None,
) -> tuple[ImageSpec, ImageSpec]:
    resize = str(
        (preprocessor or {}).get("image_resize_strategy")
        or config.get("image_resize_strategy", "resize-naive")
    )
    out = []
    for i, (tower, timm_id) in enumerate(zip(towers, ids, strict=True)):
        if preprocessor and "means" in preprocessor:
            mean, std = preprocessor["means"][i], preprocessor["stds"][i]
            interpolation = (preprocessor.get("interpolations") or ["bicubic"] * 2)[i]
            if interpolation != "bicubic":
                raise ValueError(
                    f"preprocessor_config.json interpolation {interpolation!r} is not "
                    f"supported (OpenVLA uses 'bicubic')"
                )
        elif timm_id in IMAGE_NORMALIZATION:
            mean, std = IMAGE_NORMALIZATION[timm_id]
        else:
            raise ValueError(
                f"no image normalisation known for tower {timm_id!r}: ship a "
                f"preprocessor_config.json with 'means' and 'stds'"
            )
        out.append(ImageSpec(tower.image_size, _triple(mean), _triple(std), resize))
    return out[0], out[1]


def _triple(values: Any) -> tuple[float, float, float]:
    r, g, b = (float(v) for v in values)
    return (r, g, b)


def parse_config(
    config: Mapping[str, Any],
    preprocessor: Mapping[str, Any] | None = None,
    dataset_statistics: Mapping[str, Any] | None = None,
) -> OpenVLAConfig:
    """Resolve a checkpoint's ``config.json`` (and its optional companion files)."""
    towers, ids = _resolve_towers(config)
    text = _resolve_text(config.get("text_config") or {})
    norm_stats = {**(config.get("norm_stats") or {}), **(dataset_statistics or {})}
    parsed = OpenVLAConfig(
        towers=towers,
        images=_resolve_images(config, towers, ids, preprocessor),
        text=text,
        timm_model_ids=ids,
        pad_to_multiple_of=int(config.get("pad_to_multiple_of", 64)),
        n_action_bins=int(config.get("n_action_bins", 256)),
        norm_stats=norm_stats,
    )
    if parsed.action_vocab_size < parsed.n_action_bins:
        raise ValueError(
            f"text_config.vocab_size {text['vocab_size']} minus pad_to_multiple_of "
            f"{parsed.pad_to_multiple_of} leaves fewer ids than the {parsed.n_action_bins} "
            f"action bins"
        )
    return parsed


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    with path.open() as f:
        data: dict[str, Any] = json.load(f)
    return data


def load_config(directory: Path) -> OpenVLAConfig:
    """Read ``config.json``, ``preprocessor_config.json`` and ``dataset_statistics.json``.

    Fine-tuned checkpoints keep their statistics in ``dataset_statistics.json``; its datasets
    are added to (and override) those in ``config.json``'s ``norm_stats``.
    """
    config = _read_json(directory / "config.json")
    if config is None:
        raise FileNotFoundError(
            f"{directory} has no config.json; point checkpoint= at an OpenVLA checkpoint "
            f"directory (config.json, model*.safetensors, tokenizer.json)"
        )
    return parse_config(
        config,
        _read_json(directory / "preprocessor_config.json"),
        _read_json(directory / "dataset_statistics.json"),
    )


ARCHITECTURES = ("openvla-7b",)
"""Architectures shipped with the plugin for ``weights=random``."""


def shipped_architecture(name: str = "openvla-7b") -> OpenVLAConfig:
    """A shipped architecture (a ``config.json`` without statistics) by name."""
    if name not in ARCHITECTURES:
        raise ValueError(f"arch={name!r} is not shipped; choose one of {', '.join(ARCHITECTURES)}")
    text = resources.files("vla_bench_openvla").joinpath(f"architectures/{name}.json").read_text()
    return parse_config(json.loads(text))
