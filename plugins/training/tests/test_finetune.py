"""``bench train --policy smolvla|pi0fast --pretrained DIR``: fine-tuning tiny local VLAs.

Each pretrained checkpoint is the real architecture at toy width (the LeRobot plugin's stand-in
SmolVLM; PaliGemma shrunk by the plugin's test kit, with a FAST tokenizer fitted locally), random
weights, saved as a LeRobot checkpoint with the handle task's features at 32 px; the hub is
offline, so everything comes from local files.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest
from training_kit import IMAGE_SIZE, bench

TINY_SMOLVLM = {
    "model_type": "smolvlm",
    "scale_factor": 2,
    "vocab_size": 600,
    "text_config": {
        "model_type": "llama", "vocab_size": 600, "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 16, "max_position_embeddings": 512,
    },
    "vision_config": {
        "model_type": "smolvlm_vision", "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 32, "patch_size": 8,
    },
}  # fmt: skip
TINY_SMOLVLA = {
    "num_vlm_layers": 2,
    "resize_imgs_with_padding": (32, 32),
    "chunk_size": 10,
    "n_action_steps": 5,
    "num_steps": 2,
}


@pytest.fixture(scope="module")
def standins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny SmolVLM as the local stand-in directory ``smolvlm`` (passed by path)."""
    from vla_bench_lerobot import standins

    root = tmp_path_factory.mktemp("standins")
    standins.smolvlm_dir(root / "smolvlm", TINY_SMOLVLM)
    return root


def test_finetune_tiny_smolvla_from_local_weights(
    standins: Path, handle_demos: Path, tmp_path: Path
) -> None:
    from vla_bench_lerobot.backends import BACKENDS
    from vla_bench_lerobot.loading import build_random, save_checkpoint

    from harness.plugins import registry

    spec = registry().get("task", "handle").load()().spec
    spec = dataclasses.replace(spec, cameras={c: (IMAGE_SIZE, IMAGE_SIZE) for c in spec.cameras})
    built = build_random(BACKENDS["smolvla"], spec, "cpu", None, TINY_SMOLVLA, standins=standins)
    pretrained = save_checkpoint(built, tmp_path / "pretrained")
    out = tmp_path / "ft"
    result = bench(
        "train", "--policy", "smolvla", "--dataset", handle_demos, "--pretrained", pretrained,
        "--steps", 2, "--batch-size", 2, "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    log = json.loads((out / "training.json").read_text())
    assert log["steps"] == 2 and len(log["losses"]) == 1
    # The fine-tuned checkpoint carries the dataset's statistics, not the pretrained ones.
    stats = json.loads((handle_demos / "meta" / "stats.json").read_text())
    saved = json.loads((out / "policy_postprocessor.json").read_text())
    assert saved["steps"]
    from vla_bench_lerobot.loading import load_pretrained

    loaded = load_pretrained(BACKENDS["smolvla"], str(out), "cpu", None, {})
    assert loaded.weights == "finetuned"
    assert loaded.notes["training"]["pretrained"] == str(pretrained)
    assert loaded.notes["training"]["steps"] == 2
    step = next(s for s in loaded.postprocessor.steps if hasattr(s, "stats"))
    assert [round(float(v), 5) for v in step.stats["action"]["mean"]] == [
        round(v, 5) for v in stats["action"]["mean"]
    ]


@pytest.fixture(scope="module")
def pi_standins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stand-in PaliGemma tokenizer and a locally fitted FAST one, as local directories."""
    return make_standins(tmp_path_factory.mktemp("pi-standins"))


# The LeRobot plugin's test kit shrinks PaliGemma inside LeRobot's π modules (toy width).
sys.path.insert(0, str(Path(__file__).parents[2] / "lerobot" / "tests"))
from lerobot_kit import TINY, make_standins, tiny_paligemma  # noqa: E402


def test_finetune_tiny_pi0fast_from_local_weights(
    pi_standins: Path, handle_demos: Path, tmp_path: Path
) -> None:
    import torch
    from vla_bench_lerobot.backends import BACKENDS
    from vla_bench_lerobot.loading import build_random, load_pretrained, save_checkpoint

    from harness.plugins import registry

    spec = registry().get("task", "handle").load()().spec
    spec = dataclasses.replace(spec, cameras={c: (IMAGE_SIZE, IMAGE_SIZE) for c in spec.cameras})
    # a saved π0-FAST processor names the PaliGemma tokenizer by hub id: the local copy is passed
    tokenizer = pi_standins / "paligemma"
    with tiny_paligemma():
        torch.manual_seed(0)
        built = build_random(BACKENDS["pi0fast"], spec, "cpu", None, TINY["pi0fast"], pi_standins)
        pretrained = save_checkpoint(built, tmp_path / "pretrained")
        before = {k: v.clone() for k, v in built.policy.state_dict().items()}
        out = tmp_path / "ft"
        result = bench(
            "train", "--policy", "pi0fast", "--dataset", handle_demos, "--pretrained",
            pretrained, "--steps", 2, "--batch-size", 2, "--policy-args", f"tokenizer={tokenizer}",
            "-o", out,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        loaded = load_pretrained(
            BACKENDS["pi0fast"], str(out), "cpu", None, {"tokenizer": str(tokenizer)}
        )
    log = json.loads((out / "training.json").read_text())
    assert log["steps"] == 2 and log["origin"] == "finetuned"
    assert all(v == v for _, v in log["losses"])  # finite, not NaN
    assert loaded.weights == "finetuned"
    after = loaded.policy.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed, "two optimizer steps changed no weight"
