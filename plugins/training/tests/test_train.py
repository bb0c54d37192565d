"""``bench train``: a few LeRobot training steps, a checkpoint ``bench run`` loads, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from training_kit import bench

# Small architectures (LeRobot config fields) so a step takes well under a second on a CPU.
TINY = {
    "act": [
        "dim_model=32", "n_heads=2", "dim_feedforward=64", "n_encoder_layers=1",
        "n_decoder_layers=1", "n_vae_encoder_layers=1", "latent_dim=4", "chunk_size=5",
        "n_action_steps=5", "vision_backbone=resnet18",
    ],
    "diffusion": [
        "down_dims=[16,32]", "horizon=8", "n_action_steps=4", "num_inference_steps=3",
        "diffusion_step_embed_dim=16", "spatial_softmax_num_keypoints=4", "n_groups=4",
    ],
}  # fmt: skip


@pytest.mark.parametrize("policy", ["act", "diffusion"])
def test_train_then_bench_run_loads_the_checkpoint(
    policy: str, handle_demos: Path, tmp_path: Path
) -> None:
    ckpt = tmp_path / "ckpt"
    config = [arg for item in TINY[policy] for arg in ("--config", item)]
    result = bench(
        "train", "--policy", policy, "--dataset", handle_demos, "--steps", 3,
        "--batch-size", 2, "--save-every", 2, *config, "-o", ckpt,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    log = json.loads((ckpt / "training.json").read_text())
    assert log["steps"] == 3 and log["steps_done"] == 3 and log["episodes"] == 2
    assert log["origin"] == "trained" and log["dataset"] == str(handle_demos)
    assert all(np.isfinite(loss) for _, loss in log["losses"])
    middle = json.loads((ckpt / "checkpoints" / "000002" / "training.json").read_text())
    assert middle["steps_done"] == 2 and middle["origin"] == "trained"

    # The checkpoint carries the dataset's statistics in its normalisers.
    from vla_bench_lerobot.backends import BACKENDS
    from vla_bench_lerobot.loading import load_pretrained

    built = load_pretrained(BACKENDS[policy], str(ckpt), "cpu", None, {})
    stats = json.loads((handle_demos / "meta" / "stats.json").read_text())
    step = next(s for s in built.postprocessor.steps if hasattr(s, "stats"))
    key = "mean" if "mean" in step.stats["action"] else "min"
    np.testing.assert_allclose(
        np.asarray(step.stats["action"][key]), np.asarray(stats["action"][key]), rtol=1e-5
    )

    run = tmp_path / "run"
    result = bench(
        "run", "--policy", policy, "--policy-args", f"checkpoint={ckpt}", "--task", "handle",
        "--episodes", 1, "--out", run, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    from harness.results import load_run

    loaded = load_run(run)
    assert loaded.complete and len(loaded.episodes) == 1
    assert loaded.meta["policy"]["config"]["checkpoint"] == str(ckpt)
    # Trained here from scratch: the leaderboard must not call these weights "pretrained".
    described = loaded.meta["policy"]["describe"]
    assert described["weights"] == "trained"
    assert described["training"]["steps"] == 3
    assert described["training"]["dataset"] == str(handle_demos)


@pytest.mark.parametrize(
    ("policy", "needle"),
    [("smolvla", "lerobot/smolvla_base"), ("pi0fast", "lerobot/pi0fast-base"), ("openvla", "")],
)
def test_finetuning_without_weights_offline_says_so(
    policy: str, needle: str, handle_demos: Path, tmp_path: Path
) -> None:
    result = bench(
        "train", "--policy", policy, "--dataset", handle_demos, "--steps", 1, "-o",
        tmp_path / "ckpt",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "needs its pretrained weights" in result.output
    assert needle in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "ckpt").exists()


def test_not_a_dataset_and_bad_config(tmp_path: Path, handle_demos: Path) -> None:
    result = bench("train", "--policy", "act", "--dataset", tmp_path, "-o", tmp_path / "c")
    assert result.exit_code == 1
    assert "not a LeRobot dataset" in result.output
    result = bench(
        "train", "--policy", "act", "--dataset", handle_demos, "--config", "no_such_field=1",
        "-o", tmp_path / "c",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "no_such_field" in result.output
