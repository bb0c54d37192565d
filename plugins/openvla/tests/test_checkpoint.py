"""A checkpoint in the published weight-name layout loads into the native model and
reproduces the reference model's outputs; malformed checkpoints fail by name."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from openvla_kit import ReferenceOpenVLA
from safetensors.torch import load_file, save_file
from vla_bench_openvla import checkpoint as ckpt
from vla_bench_openvla.config import load_config
from vla_bench_openvla.inputs import PromptTokenizer
from vla_bench_openvla.model import OpenVLAModel, allocate


def _load(directory: Path) -> OpenVLAModel:
    model = allocate(load_config(directory), torch.device("cpu"), torch.float32)
    ckpt.load_weights(model, directory)
    return model


def test_published_layout_reproduces_the_reference(
    tiny_checkpoint: tuple[Path, ReferenceOpenVLA],
) -> None:
    directory, reference = tiny_checkpoint
    names = load_file(str(directory / "model.safetensors")).keys()
    # the file really is in the published layout, unused tensors included
    assert "vision_backbone.featurizer.blocks.0.ls1.scale_factor" in names
    assert "vision_backbone.featurizer.reg_token" in names
    assert "vision_backbone.fused_featurizer.attn_pool.latent" in names
    assert "vision_backbone.featurizer.norm.weight" in names
    assert "projector.fc3.weight" in names
    assert "language_model.model.layers.1.self_attn.q_proj.weight" in names
    assert "language_model.lm_head.weight" in names

    model = _load(directory)
    tokenizer = PromptTokenizer.from_dir(directory)
    input_ids = torch.tensor([tokenizer.encode("Turn the valve")])
    pixels = torch.randn(1, 6, 224, 224, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        torch.testing.assert_close(
            model.featurizer(pixels), reference.features(pixels), rtol=1e-5, atol=1e-5
        )
        logits = model(pixels, input_ids)
        torch.testing.assert_close(
            logits, reference.logits(pixels, input_ids), rtol=1e-5, atol=1e-5
        )
    assert logits.shape[1] == 1 + 256 + input_ids.shape[1] - 1
    generated = model.generate(pixels, input_ids, 7)
    assert torch.equal(generated, reference.generate(pixels, input_ids, 7))
    action_vocab = load_config(directory).action_vocab_size
    assert ((generated >= action_vocab - 256) & (generated < action_vocab)).all()


def test_sharded_checkpoint_loads(
    tiny_checkpoint: tuple[Path, ReferenceOpenVLA], tmp_path: Path
) -> None:
    source, reference = tiny_checkpoint
    directory = tmp_path / "sharded"
    shutil.copytree(source, directory)
    state = load_file(str(directory / "model.safetensors"))
    (directory / "model.safetensors").unlink()
    names = sorted(state)
    halves = {
        "model-00001-of-00002.safetensors": names[::2],
        "model-00002-of-00002.safetensors": names[1::2],
    }
    weight_map = {}
    for shard, keys in halves.items():
        save_file({k: state[k] for k in keys}, str(directory / shard))
        weight_map.update(dict.fromkeys(keys, shard))
    (directory / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map})
    )
    model = _load(directory)
    expected = reference.language_model.lm_head.weight
    torch.testing.assert_close(model.llm.lm_head.weight, expected)


def test_save_weights_writes_the_published_layout_back(
    tiny_checkpoint: tuple[Path, ReferenceOpenVLA], tmp_path: Path
) -> None:
    source, _ = tiny_checkpoint
    original = load_file(str(source / "model.safetensors"))
    model = _load(source)
    assert ckpt.published_name("featurizer.dino.blocks.0.ls1.gamma") == (
        "vision_backbone.featurizer.blocks.0.ls1.scale_factor"
    )
    assert ckpt.published_name("featurizer.siglip.patch_embed.proj.weight") == (
        "vision_backbone.fused_featurizer.patch_embed.proj.weight"
    )
    with pytest.raises(ckpt.CheckpointError, match="not part of the native"):
        ckpt.published_name("lora_A.weight")

    # with the source: every published tensor back, bit for bit, the unused heads included
    (path,) = ckpt.save_weights(model, tmp_path / "one", source=source)
    assert path.name == "model.safetensors"
    written = load_file(str(path))
    assert sorted(written) == sorted(original)
    for name, tensor in original.items():
        assert torch.equal(written[name], tensor), name

    # sharded, without the source, cast: an index the loader follows to the same model
    paths = ckpt.save_weights(model, tmp_path / "shards", dtype=torch.bfloat16, shard_bytes=200_000)
    assert len(paths) > 2 and paths[0].name == f"model-00001-of-{len(paths):05d}.safetensors"
    index = json.loads((tmp_path / "shards" / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == {p.name for p in paths}
    assert not any(n.startswith("vision_backbone.featurizer.norm") for n in index["weight_map"])
    reloaded = allocate(model.config, torch.device("cpu"), torch.float32)
    ckpt.load_weights(reloaded, tmp_path / "shards")
    for (name, a), (_, b) in zip(
        model.named_parameters(), reloaded.named_parameters(), strict=True
    ):
        torch.testing.assert_close(b, a.to(torch.bfloat16).float(), msg=name)


def _rewrite(source: Path, target: Path, edit: Callable[[dict[str, torch.Tensor]], object]) -> Path:
    shutil.copytree(source, target)
    state = load_file(str(target / "model.safetensors"))
    edit(state)
    save_file(state, str(target / "model.safetensors"))
    return target


def test_missing_unexpected_and_misshapen_weights_are_named(
    tiny_checkpoint: tuple[Path, ReferenceOpenVLA], tmp_path: Path
) -> None:
    source, _ = tiny_checkpoint
    missing = _rewrite(
        source, tmp_path / "a", lambda s: s.pop("language_model.model.layers.0.mlp.up_proj.weight")
    )
    with pytest.raises(
        ckpt.CheckpointError, match=r"lacks weights for llm\.model\.layers\.0\.mlp\.up_proj"
    ):
        _load(missing)
    extra = _rewrite(
        source,
        tmp_path / "b",
        lambda s: s.update({"vision_backbone.featurizer.blocks.7.norm1.weight": torch.ones(32)}),
    )
    with pytest.raises(
        ckpt.CheckpointError, match=r"unexpected weight 'vision_backbone\.featurizer\.blocks\.7"
    ):
        _load(extra)
    shape = _rewrite(
        source, tmp_path / "c", lambda s: s.update({"projector.fc3.bias": torch.zeros(65)})
    )
    with pytest.raises(ckpt.CheckpointError, match=r"'projector\.fc3\.bias' has shape \(65,\)"):
        _load(shape)


def test_resolve_gives_actionable_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="neither a directory nor a hub id"):
        ckpt.resolve(str(tmp_path / "nope" / "deeper"))
    with pytest.raises(
        FileNotFoundError,
        match=r"could not fetch 'openvla/openvla-7b'.*checkpoint=<that directory>",
    ):
        ckpt.resolve("openvla/openvla-7b")  # HF_HUB_OFFLINE=1 and nothing cached
    with pytest.raises(FileNotFoundError, match=r"no config\.json"):
        load_config(tmp_path)
    (tmp_path / "model.bin").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"only PyTorch \.bin weights"):
        ckpt.weight_files(tmp_path)


def test_dataset_statistics_json_adds_fine_tune_statistics(
    tiny_checkpoint: tuple[Path, ReferenceOpenVLA], tmp_path: Path
) -> None:
    directory = tmp_path / "finetune"
    shutil.copytree(tiny_checkpoint[0], directory)
    stats = {"libero_spatial_no_noops": {"action": {"q01": [0.0] * 7, "q99": [1.0] * 7}}}
    (directory / "dataset_statistics.json").write_text(json.dumps(stats))
    assert set(load_config(directory).norm_stats) == {
        "bridge_orig",
        "fractal20220817_data",
        "libero_spatial_no_noops",
    }
