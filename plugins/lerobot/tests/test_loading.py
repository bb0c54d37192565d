"""Refusals a user relies on: missing stats, unreachable hub, wrong policy type, bad options."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from lerobot_kit import make_observation, make_task
from vla_bench_lerobot.loading import CheckpointError
from vla_bench_lerobot.policy import ACTPolicy, DiffusionPolicy, LeRobotPolicy, SmolVLAPolicy

from harness.contract import EpisodeSpec, PolicyConfig


def copy_checkpoint(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest)
    return dest


def test_checkpoint_without_stats_is_refused_with_the_features_named(
    tiny_checkpoint: Callable[[str], Path], tmp_path: Path
) -> None:
    ckpt = copy_checkpoint(tiny_checkpoint("act"), tmp_path / "nostats")
    for stats_file in ckpt.glob("*normalizer_processor.safetensors"):
        stats_file.unlink()
    for name in ("policy_preprocessor.json", "policy_postprocessor.json"):
        config = json.loads((ckpt / name).read_text())
        for step in config["steps"]:
            step.pop("state_file", None)
        (ckpt / name).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="no normalisation statistics") as err:
        ACTPolicy(PolicyConfig(name="act", checkpoint=str(ckpt)))
    message = str(err.value)
    assert "observation.state (MEAN_STD needs mean, std)" in message
    assert "action (MEAN_STD needs mean, std)" in message
    assert "stats=" in message  # says how to fix it


def test_stats_option_supplies_missing_stats(
    tiny_checkpoint: Callable[[str], Path], tmp_path: Path
) -> None:
    ckpt = copy_checkpoint(tiny_checkpoint("act"), tmp_path / "nostats")
    for stats_file in ckpt.glob("*normalizer_processor.safetensors"):
        stats_file.unlink()
    for name in ("policy_preprocessor.json", "policy_postprocessor.json"):
        config = json.loads((ckpt / name).read_text())
        for step in config["steps"]:
            step.pop("state_file", None)
        (ckpt / name).write_text(json.dumps(config))
    stats = {
        "observation.images.front": {"mean": [[[0.5]]] * 3, "std": [[[0.25]]] * 3},
        "observation.images.wrist": {"mean": [[[0.5]]] * 3, "std": [[[0.25]]] * 3},
        "observation.state": {"mean": [0.0] * 8, "std": [1.0] * 8},
        "action": {"mean": [0.3] * 7, "std": [0.01] * 7},
    }
    (tmp_path / "stats.json").write_text(json.dumps(stats))
    policy = ACTPolicy(
        PolicyConfig(
            name="act", checkpoint=str(ckpt), options={"stats": str(tmp_path / "stats.json")}
        )
    )
    task = make_task()
    policy.reset(task, EpisodeSpec(0, 0), None)
    actions = policy.act(make_observation(task)).actions
    assert np.all(np.abs(actions - 0.3) < 0.2)  # unnormalised with the supplied mean/std


def test_checkpoint_without_saved_processors_is_refused(
    tiny_checkpoint: Callable[[str], Path], tmp_path: Path
) -> None:
    ckpt = copy_checkpoint(tiny_checkpoint("act"), tmp_path / "old")
    (ckpt / "policy_preprocessor.json").unlink()
    with pytest.raises(CheckpointError, match="migrate_policy_normalization"):
        ACTPolicy(PolicyConfig(name="act", checkpoint=str(ckpt)))


def test_hub_id_offline_fails_fast_and_asks_for_a_local_path() -> None:
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match="checkpoint=DIR") as err:
        SmolVLAPolicy(PolicyConfig(name="smolvla"))  # default: lerobot/smolvla_base
    assert time.perf_counter() - start < 10
    assert "lerobot/smolvla_base" in str(err.value)
    assert "unreachable" in str(err.value)


def test_missing_directory_is_named() -> None:
    with pytest.raises(CheckpointError, match="no such directory"):
        ACTPolicy(PolicyConfig(name="act", checkpoint="./does/not/exist"))


def test_checkpoint_of_another_type_names_the_right_policy(
    tiny_checkpoint: Callable[[str], Path],
) -> None:
    with pytest.raises(CheckpointError, match="use --policy diffusion"):
        ACTPolicy(PolicyConfig(name="act", checkpoint=str(tiny_checkpoint("diffusion"))))
    # the generic backend takes any type
    assert (
        LeRobotPolicy(
            PolicyConfig(name="lerobot", checkpoint=str(tiny_checkpoint("diffusion")))
        ).describe()["lerobot_type"]
        == "diffusion"
    )


def test_generic_backend_needs_a_checkpoint() -> None:
    with pytest.raises(ValueError, match="needs checkpoint="):
        LeRobotPolicy(PolicyConfig(name="lerobot"))


def test_unavailable_device_is_refused_not_silently_switched(
    tiny_checkpoint: Callable[[str], Path],
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="pass device=cpu"):
        DiffusionPolicy(
            PolicyConfig(
                name="diffusion", checkpoint=str(tiny_checkpoint("diffusion")), device="cuda"
            )
        )


def test_float32_only_backends_refuse_bfloat16(tiny_checkpoint: Callable[[str], Path]) -> None:
    with pytest.raises(ValueError, match="float32 only"):
        ACTPolicy(
            PolicyConfig(name="act", checkpoint=str(tiny_checkpoint("act")), dtype="bfloat16")
        )


def test_plugin_registers_every_name_without_importing_torch() -> None:
    code = (
        "import sys; from harness.plugins import load_plugins; loaded = load_plugins();"
        "info = [p for p in loaded.plugins if p.name == 'lerobot'][0];"
        "print(info.error, sorted(info.registered['policy']));"
        "print(sorted(m for m in ('torch', 'lerobot', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, second = out.stdout.strip().splitlines()
    assert first == "None ['act', 'diffusion', 'lerobot', 'pi0', 'pi05', 'pi0fast', 'smolvla']"
    assert second == "[]"


def test_training_record_labels_weights_made_by_bench_train(tmp_path: Path) -> None:
    from vla_bench_lerobot.loading import training_record

    # A checkpoint from anywhere else has no record: its weights stay "pretrained".
    assert training_record(tmp_path) is None
    out = tmp_path / "out"
    middle = out / "checkpoints" / "000400"
    middle.mkdir(parents=True)
    record = {"policy": "act", "steps": 2000, "batch_size": 16, "episodes": 60}
    (out / "training.json").write_text(json.dumps(record))
    # Intermediate checkpoints of older runs have the record only in OUT; the step is the name.
    assert training_record(middle) == {
        "policy": "act", "batch_size": 16, "episodes": 60, "origin": "trained", "steps": 400,
    }  # fmt: skip
    (out / "training.json").write_text(json.dumps({**record, "pretrained": "/w/smolvla"}))
    assert training_record(out) == {
        "policy": "act", "batch_size": 16, "episodes": 60, "pretrained": "/w/smolvla",
        "origin": "finetuned", "steps": 2000,
    }  # fmt: skip
    (out / "training.json").write_text("{not json")
    assert training_record(out) is None
