"""The featurizer (timm towers cut after the block OpenVLA reads) against whole timm towers
read as OpenVLA reads them, and the image transform against the published processor's
torchvision calls."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import timm
import torch
import torchvision.transforms.functional as TVF
from openvla_kit import DINO_ID, DINO_KWARGS, SIGLIP_ID, SIGLIP_KWARGS, VIT_SPECS, randomize
from PIL import Image
from vla_bench_openvla.checkpoint import native_name
from vla_bench_openvla.config import ImageSpec, OpenVLAConfig, ViTSpec, parse_config
from vla_bench_openvla.inputs import ImageTransform
from vla_bench_openvla.vision import FusedFeaturizer, build_tower, tower_features

TEXT = {"vocab_size": 320, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1}


def _config(size: int = 224) -> OpenVLAConfig:
    return parse_config(
        {
            "timm_model_ids": [DINO_ID, SIGLIP_ID],
            "image_sizes": [size, size],
            "vit_specs": VIT_SPECS,
            "text_config": TEXT,
        }
    )


def _timm_tower(timm_id: str, kwargs: dict[str, Any], size: int, seed: int) -> Any:
    tower = timm.create_model(timm_id, pretrained=False, num_classes=0, img_size=size, **kwargs)
    randomize(tower, seed)
    return tower.eval()


def _load_tower(native: Any, tower: Any, which: str, config: OpenVLAConfig) -> None:
    state = {}
    for key, value in tower.state_dict().items():
        name = native_name(f"vision_backbone.{which}.{key}", config)
        if name is not None:
            state[name.split(".", 2)[2]] = value
    native.load_state_dict(state, strict=True)


@pytest.mark.parametrize("size", [224, 112])
def test_towers_match_timm_second_to_last_block(size: int) -> None:
    config = _config(size)
    pixels = torch.randn(2, 6, size, size, generator=torch.Generator().manual_seed(1))
    for i, (timm_id, kwargs, which) in enumerate(
        [(DINO_ID, DINO_KWARGS, "featurizer"), (SIGLIP_ID, SIGLIP_KWARGS, "fused_featurizer")]
    ):
        reference = _timm_tower(timm_id, kwargs, size, seed=10 + i)
        native = build_tower(config.towers[i], timm_id).eval()
        assert len(native.blocks) == len(reference.blocks) - 1  # the last block is not built
        _load_tower(native, reference, which, config)
        x = pixels[:, 3 * i : 3 * i + 3]
        with torch.no_grad():
            (expected,) = reference.get_intermediate_layers(x, n=[len(reference.blocks) - 2])
            got = tower_features(native, x)
            last = reference.get_intermediate_layers(x, n=[len(reference.blocks) - 1])[0]
        assert got.shape == (2, (size // 14) ** 2, kwargs["embed_dim"])
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
        # the choice of block matters: the last block's output is far from it
        assert (last - expected).abs().max() > 1e-2


def test_fused_featurizer_concatenates_dino_then_siglip() -> None:
    config = _config()
    dino = _timm_tower(DINO_ID, DINO_KWARGS, 224, seed=3)
    siglip = _timm_tower(SIGLIP_ID, SIGLIP_KWARGS, 224, seed=4)
    fused = FusedFeaturizer(config).eval()
    _load_tower(fused.dino, dino, "featurizer", config)
    _load_tower(fused.siglip, siglip, "fused_featurizer", config)
    pixels = torch.randn(1, 6, 224, 224)
    with torch.no_grad():
        out = fused(pixels)
        a = dino.get_intermediate_layers(pixels[:, :3], n=[1])[0]
        b = siglip.get_intermediate_layers(pixels[:, 3:], n=[1])[0]
    torch.testing.assert_close(out, torch.cat([a, b], dim=2), rtol=0, atol=0)


def test_tower_specs_of_the_real_timm_ids_match_timm() -> None:
    """The shipped hyper-parameters of OpenVLA's two towers are what timm builds by id."""
    from vla_bench_openvla.config import TOWERS

    for timm_id, spec in TOWERS.items():
        model: Any
        with torch.device("meta"):
            model = timm.create_model(timm_id, pretrained=False, num_classes=0, img_size=224)
        assert spec.embed_dim == model.embed_dim
        assert spec.depth == len(model.blocks)
        assert spec.num_heads == model.blocks[0].attn.num_heads
        assert spec.mlp_hidden == model.blocks[0].mlp.fc1.out_features
        assert spec.num_prefix_tokens == model.num_prefix_tokens
        assert spec.reg_tokens == model.num_reg_tokens
        assert spec.pos_tokens == model.pos_embed.shape[1]
        assert spec.layer_scale == hasattr(model.blocks[0].ls1, "gamma")
        assert isinstance(model.blocks[0].mlp.act, torch.nn.GELU)
        assert model.blocks[0].mlp.act.approximate == "none"
        assert spec.norm_eps == model.blocks[0].norm1.eps
        with torch.device("meta"):
            tower = build_tower(spec, timm_id)  # built from the spec, checked against it
        assert len(tower.blocks) == spec.depth - 1
        assert tower.attn_pool is None and isinstance(tower.norm, torch.nn.Identity)


def test_image_transform_matches_the_published_processor() -> None:
    """PrismaticImageProcessor with resize-naive: TVF.resize (PIL bicubic) -> to_tensor ->
    normalize, per tower, channel-stacked."""
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, size=(180, 240, 3), dtype=np.uint8)
    specs = (
        ImageSpec(224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ImageSpec(224, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    )
    got = ImageTransform(specs)(frame)
    image = Image.fromarray(frame)
    expected = []
    for spec in specs:
        resized = TVF.resize(
            image, [224, 224], interpolation=TVF.InterpolationMode.BICUBIC, antialias=True
        )
        tensor = TVF.normalize(TVF.to_tensor(resized), spec.mean, spec.std)
        expected.append(tensor)
    np.testing.assert_allclose(got, torch.cat(expected).numpy(), rtol=0, atol=1e-6)
    assert got.shape == (6, 224, 224) and got.dtype == np.float32


def test_image_transform_rejects_bad_frames_and_crops_the_centre() -> None:
    specs = (ImageSpec(28, (0.5,) * 3, (0.5,) * 3), ImageSpec(28, (0.5,) * 3, (0.5,) * 3))
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        ImageTransform(specs)(np.zeros((28, 28), dtype=np.uint8))
    with pytest.raises(ValueError, match="area fraction"):
        ImageTransform(specs, center_crop=1.5)
    frame = np.zeros((100, 100, 3), dtype=np.uint8)
    frame[:3] = 255  # bright top rows; the 0.81-area centre crop drops the outer 5 px
    plain = ImageTransform(specs)(frame)
    cropped = ImageTransform(specs, center_crop=0.81)(frame)
    assert plain[:, 0].max() > 0.0 and cropped[:, 0].max() < -0.9


def test_spec_validation() -> None:
    with pytest.raises(ValueError, match="not a multiple of the patch size"):
        ViTSpec(patch_size=14, embed_dim=32, depth=3, num_heads=2, mlp_hidden=64, image_size=100)
