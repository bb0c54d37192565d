"""``bench train``: a few LeRobot training steps, a checkpoint ``bench run`` loads, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from training_kit import bench

# Small architectures (LeRobot config fields) so a step takes well under a second on a CPU.
TINY = {
    "act": "dim_model=32,n_heads=2,dim_feedforward=64,n_encoder_layers=1,n_decoder_layers=1,"
    "n_vae_encoder_layers=1,latent_dim=4,chunk_size=5,n_action_steps=5,vision_backbone=resnet18",
    "diffusion": "down_dims=16;32,horizon=8,n_action_steps=4,num_inference_steps=3,"
    "diffusion_step_embed_dim=16,spatial_softmax_num_keypoints=4,n_groups=4",
}


@pytest.mark.parametrize("policy", ["act", "diffusion"])
def test_train_then_bench_run_loads_the_checkpoint(
    policy: str, handle_demos: Path, tmp_path: Path
) -> None:
    ckpt = tmp_path / "ckpt"
    config = ["--policy-args", TINY[policy]]
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
        "run", "--isolate", "none", "--policy", policy, "--policy-args", f"checkpoint={ckpt}",
        "--task", "handle", "--episodes", 1, "--out", run, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    from harness.results import load_run

    loaded = load_run(run)
    assert loaded.complete and len(loaded.episodes) == 1
    assert loaded.record.policy.config["checkpoint"] == str(ckpt)
    # Trained here from scratch: the leaderboard must not call these weights "pretrained".
    described = loaded.record.policy.describe
    assert described["weights"] == "trained"
    assert described["training"]["steps"] == 3
    assert described["training"]["dataset"] == str(handle_demos)


@pytest.mark.parametrize(
    ("policy", "needle"),
    [
        ("smolvla", "lerobot/smolvla_base"),
        ("pi0fast", "lerobot/pi0fast-base"),
        ("openvla", "hf download openvla/openvla-7b"),
    ],
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
    assert needle in result.output and "--pretrained DIR" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "ckpt").exists()


def test_not_a_dataset_and_bad_config(tmp_path: Path, handle_demos: Path) -> None:
    result = bench("train", "--policy", "act", "--dataset", tmp_path, "-o", tmp_path / "c")
    assert result.exit_code == 1
    assert "not a LeRobot dataset" in result.output
    for spelling in (["--policy-args", "no_such_field=1"], ["--config", "no_such_field=1"]):
        result = bench(
            "train", "--policy", "act", "--dataset", handle_demos, *spelling, "-o", tmp_path / "c"
        )
        assert result.exit_code == 1
        assert "no_such_field" in result.output
    assert "--config k=v is deprecated" in result.output  # the old spelling still works


def _weights(directory: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(directory / "model.safetensors")


def test_resume_continues_sample_exactly(handle_demos: Path, tmp_path: Path) -> None:
    """5 steps in one go == 3 steps, stopped, then resumed to 5: same weights, bit for bit.

    Batches of 8 over ~16 usable frames cross epochs, so the sampler's position, the RNG
    (diffusion noise and timesteps) and Adam's moments must all come back exactly.
    """
    config = ["--policy-args", TINY["diffusion"]]
    common = ["--policy", "diffusion", "--dataset", handle_demos, "--batch-size", 8]
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    result = bench("train", *common, *config, "--steps", 5, "--save-every", 3, "-o", whole)
    assert result.exit_code == 0, result.output
    # Only the newest checkpoint keeps the optimizer state.
    assert not (whole / "checkpoints" / "000003" / "training_state.pt").exists()
    assert (whole / "training_state.pt").is_file()

    result = bench("train", *common, *config, "--steps", 3, "-o", parts)
    assert result.exit_code == 0, result.output
    # The same command again would overwrite it: refused, with the way out named.
    result = bench("train", *common, *config, "--steps", 5, "-o", parts)
    assert result.exit_code == 1 and "--resume" in result.output
    result = bench("train", *common, "--steps", 5, "--resume", "-o", parts)
    assert result.exit_code == 0, result.output
    assert "resuming" in result.output
    # One optimizer state, the newest: the one resumed from was replaced.
    assert len(list(parts.rglob("training_state.pt"))) == 1

    a, b = _weights(whole), _weights(parts)
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a), "resumed weights differ"
    log = json.loads((parts / "training.json").read_text())
    assert log["steps_done"] == 5 and log["resumed"] == [3] and log["origin"] == "trained"


def test_resume_refuses_what_it_cannot_continue(handle_demos: Path, tmp_path: Path) -> None:
    result = bench(
        "train", "--policy", "act", "--dataset", handle_demos, "--steps", 2, "--resume",
        "-o", tmp_path / "empty",
    )  # fmt: skip
    assert result.exit_code == 1 and "nothing to resume" in result.output
