"""``bench train --policy openvla --pretrained DIR``: LoRA fine-tuning of a tiny OpenVLA.

The pretrained checkpoint is the openvla plugin's tiny test model written in the published
weight-name layout (``plugins/openvla/tests/openvla_kit.py``); the dataset is two ``handle``
expert demos. Everything runs through the real CLI, peft and the plugin's loader.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from training_kit import bench

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "openvla" / "tests"))

from openvla_kit import write_checkpoint
from safetensors.torch import load_file
from vla_bench_openvla.action_tokenizer import ActionTokenizer
from vla_bench_openvla.actions import (
    ActionDecoder,
    ActionEncoder,
    dataset_statistics,
    gripper_convention,
    select_stats,
    to_model_convention,
)
from vla_bench_training import lora


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny OpenVLA at 112 px (64 patches) in the published layout."""
    directory = tmp_path_factory.mktemp("openvla") / "tiny-openvla"
    write_checkpoint(directory, seed=3, outputs="actions", image_size=112)
    return directory


def _dataset_actions(dataset: Path) -> np.ndarray:
    import pandas as pd

    frames = pd.concat(pd.read_parquet(p) for p in sorted((dataset / "data").rglob("*.parquet")))
    return np.stack(frames["action"].to_numpy()).astype(np.float64)


def test_finetune_through_the_cli_then_bench_run(
    pretrained: Path, handle_demos: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ft"
    result = bench(
        "train", "--policy", "openvla", "--dataset", handle_demos, "--pretrained", pretrained,
        "--steps", 4, "--batch-size", 4, "--policy-args", "log_every=2", "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "step 4/4 loss" in result.output and "action accuracy" in result.output

    log = json.loads((out / "training.json").read_text())
    assert log["origin"] == "finetuned" and log["policy"] == "openvla"
    assert log["steps_done"] == 4 and log["seed"] == 0
    assert log["pretrained"] == str(pretrained) and log["dataset"] == str(handle_demos)
    assert log["steps"] == 4 and log["episodes"] == 2 and len(log["losses"]) == 2
    assert log["details"]["lora"]["rank"] == 32 and log["details"]["lora"]["alpha"] == 16
    assert 0 < log["details"]["trainable_parameters"] < log["parameters"]

    # dataset_statistics.json: one key, the dataset's own quantiles, gripper as 1 open 0 closed
    stats = json.loads((out / "dataset_statistics.json").read_text())
    (key,) = stats
    assert key == "vla_bench_handle"
    actions = _dataset_actions(handle_demos)
    action = stats[key]["action"]
    np.testing.assert_allclose(action["q01"][:6], np.quantile(actions[:, :6], 0.01, axis=0))
    np.testing.assert_allclose(action["q99"][:6], np.quantile(actions[:, :6], 0.99, axis=0))
    gripper01 = (1.0 - actions[:, 6]) / 2.0
    assert action["min"][6] == gripper01.min() and action["max"][6] == gripper01.max()
    assert action["mask"] == [True] * 6 + [False]
    assert stats[key]["num_transitions"] == len(actions)
    assert set(json.loads((out / "config.json").read_text())["norm_stats"]) == {key}

    # merged weights: adapted layers moved, the rest (head, embeddings, unused tensors) did not
    before = load_file(str(pretrained / "model.safetensors"))
    after = load_file(str(out / "model.safetensors"))
    assert sorted(after) == sorted(before)
    for name in (
        "language_model.model.layers.0.self_attn.q_proj.weight",
        "language_model.model.layers.1.mlp.down_proj.weight",
        "projector.fc1.weight",
        "vision_backbone.featurizer.blocks.0.attn.qkv.weight",
        "vision_backbone.fused_featurizer.blocks.1.mlp.fc2.weight",
    ):
        assert not torch.equal(after[name], before[name]), name
    for name in (
        "language_model.lm_head.weight",
        "language_model.model.embed_tokens.weight",
        "language_model.model.norm.weight",
        "vision_backbone.featurizer.blocks.0.ls1.scale_factor",
        "vision_backbone.fused_featurizer.attn_pool.latent",
        "vision_backbone.featurizer.blocks.2.attn.qkv.weight",
    ):
        assert torch.equal(after[name], before[name]), name

    # the unmerged adapter, named after the published modules
    adapter = load_file(str(out / "lora_adapter" / "adapter_model.safetensors"))
    modules = {k.removeprefix("base_model.model.").partition(".lora_")[0] for k in adapter}
    assert "language_model.model.layers.0.self_attn.q_proj" in modules
    assert all(f"{m}.weight" in before for m in modules)
    assert "language_model.lm_head" not in modules

    run = tmp_path / "run"
    result = bench(
        "run", "--isolate", "none", "--policy", "openvla", "--policy-args", f"checkpoint={out}",
        "--task", "handle", "--episodes", 1, "--out", run, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    from harness.results import load_run

    loaded = load_run(run)
    assert loaded.complete and len(loaded.episodes) == 1
    described = loaded.record.policy.describe
    assert described["weights"] == "finetuned" and described["unnorm_key"] == key


def _batch(pretrained: Path, dataset: Path, size: int) -> tuple[Any, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    base, examples, _ = lora.prepare(pretrained, dataset, "observation.images.front", "cpu")
    batch = lora.collate([examples[i] for i in range(0, 2 * size, 2)], examples.eos_id)
    return base.model, batch


def test_only_lora_parameters_get_gradients(pretrained: Path, handle_demos: Path) -> None:
    model, batch = _batch(pretrained, handle_demos, 2)
    peft_model = lora.add_lora(model, lora.LoraSettings())
    loss, _ = lora.loss_and_accuracy(peft_model, batch, model.config.num_patches)
    loss.backward()
    grads = {n: p.grad for n, p in peft_model.named_parameters()}
    adapters = {n for n in grads if ".lora_" in n}
    assert adapters and len(adapters) < len(grads)
    for name, param in peft_model.named_parameters():
        assert param.requires_grad == (name in adapters), name
        assert (grads[name] is not None) == (name in adapters), name
    # Gaussian init: A random, B zero, so B gets the first non-zero gradients
    assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if "lora_B" in n)
    head = "base_model.model.llm.lm_head.weight"
    assert head in grads and grads[head] is None


def test_overfitting_one_batch_lowers_the_loss(pretrained: Path, handle_demos: Path) -> None:
    model, batch = _batch(pretrained, handle_demos, 2)
    settings = lora.LoraSettings(lr=5e-3, log_every=1)
    peft_model = lora.add_lora(model, settings)
    losses, accuracies = lora.optimize(
        peft_model, lambda: iter([batch]), 40, settings, model.config.num_patches
    )
    assert len(losses) == 40
    # the tiny model's head ties the EOS logit at 0, so the loss stops near 1.6, not 0
    assert losses[-1][1] < 0.35 * losses[0][1], losses
    assert accuracies[0][1] < 0.5 and accuracies[-1][1] == 1.0, accuracies
    # what the loss taught is what inference generates: the prompt alone, greedy, gives the
    # 7 action tokens (a label/logit misalignment would still overfit, but not this)
    for row in range(2):
        start = int((batch["labels"][row] != lora.IGNORE).nonzero()[0])
        prompt = batch["input_ids"][row : row + 1, :start]
        generated = peft_model.get_base_model().generate(
            batch["pixel_values"][row : row + 1], prompt, 7
        )
        assert torch.equal(generated[0], batch["input_ids"][row][batch["action_mask"][row]])


def test_gripper_and_normalisation_round_trip_through_the_policy_decoder(
    handle_demos: Path,
) -> None:
    actions = _dataset_actions(handle_demos)
    # the demos' gripper is constant: add both states and a mid value to exercise the map
    extra = np.array([[0.0] * 6 + [-1.0], [0.0] * 6 + [1.0], [0.0] * 6 + [0.3]])
    actions = np.concatenate([actions, extra])
    model_actions = to_model_convention(actions)
    np.testing.assert_allclose(model_actions[-3:, 6], [1.0, 0.0, 0.35])  # 1 open, 0 closed
    statistics = dataset_statistics(actions, np.zeros((len(actions), 8)), 2)
    tokenizer = ActionTokenizer(32000)
    encoder = ActionEncoder(
        tokenizer, select_stats({"k": statistics}, None), gripper_convention("open1_close0")
    )
    ids = encoder(actions)
    decoder = ActionDecoder(
        tokenizer, select_stats({"k": statistics}, None), gripper_convention("open1_close0")
    )
    decoded = np.stack([decoder(row).action for row in ids])
    q01 = np.asarray(statistics["action"]["q01"])
    q99 = np.asarray(statistics["action"]["q99"])
    width = np.append((q99 - q01)[:6] / 255, 2 / 255)  # one bin in action units
    inside = ((actions[:, :6] >= q01[:6]) & (actions[:, :6] <= q99[:6])).all(axis=1)
    assert inside.sum() > len(actions) // 2
    error = np.abs(decoded - actions)[inside]
    assert (error <= width + 1e-9).all(), error.max(axis=0)
    np.testing.assert_allclose(decoded[-3:, 6], [-1.0 + 2 / 255, 1.0, 0.3], atol=2 / 255)
    # outside the 1st/99th percentiles an action comes back clipped to them
    outside = ~inside
    assert (decoded[outside, :6] >= q01[:6] - width[:6]).all()
    assert (decoded[outside, :6] <= q99[:6] + width[:6]).all()
    # the gripper convention matters: the other map would open where the demo closes
    wrong = ActionDecoder(
        tokenizer, select_stats({"k": statistics}, None), gripper_convention("close1_open0")
    )
    assert wrong(ids[-2]).action[6] < 0 < decoded[-2, 6]


def test_bad_settings_and_output_are_refused(
    pretrained: Path, handle_demos: Path, tmp_path: Path
) -> None:
    def train(*config: str, out: Path = tmp_path / "o") -> Any:
        return bench(
            "train", "--policy", "openvla", "--dataset", handle_demos, "--pretrained",
            pretrained, "--steps", 1, *config, "-o", out,
        )  # fmt: skip

    result = train("--policy-args", "lora_rnak=8")
    assert result.exit_code == 1 and "lora_rnak" in result.output and "lora_rank" in result.output
    result = train("--policy-args", "lora_dropout=1.5")
    assert result.exit_code == 1 and "lora_dropout=1.5 out of range" in result.output
    result = train("--policy-args", "camera=top")
    assert result.exit_code == 1 and "it has: front, wrist" in result.output
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    result = train(out=tmp_path / "full")
    assert result.exit_code == 1 and "not empty" in result.output
    result = train("--save-every", "1")
    assert result.exit_code == 1 and "--save-every is not supported" in result.output
    assert lora.settings_from_config({"lora_rank": 8}).alpha == 8
    assert lora.settings_from_config({"lora_rank": 64}).alpha == 16
