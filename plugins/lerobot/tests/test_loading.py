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
from vla_bench_lerobot.policy import LeRobotPolicy

from harness.contract import EpisodeSpec, PolicyConfig, PolicyConfigError


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
        LeRobotPolicy(PolicyConfig(name="act", checkpoint=str(ckpt)))
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
    policy = LeRobotPolicy(
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
        LeRobotPolicy(PolicyConfig(name="act", checkpoint=str(ckpt)))


def test_hub_id_offline_fails_fast_and_asks_for_a_local_path() -> None:
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match="checkpoint=DIR") as err:
        LeRobotPolicy(PolicyConfig(name="smolvla"))  # default: lerobot/smolvla_base
    assert time.perf_counter() - start < 10
    assert "lerobot/smolvla_base" in str(err.value)
    assert "unreachable" in str(err.value)


def test_missing_directory_is_named() -> None:
    with pytest.raises(CheckpointError, match="no such directory"):
        LeRobotPolicy(PolicyConfig(name="act", checkpoint="./does/not/exist"))


def test_checkpoint_of_another_type_names_the_right_policy(
    tiny_checkpoint: Callable[[str], Path],
) -> None:
    with pytest.raises(CheckpointError, match="use --policy diffusion"):
        LeRobotPolicy(PolicyConfig(name="act", checkpoint=str(tiny_checkpoint("diffusion"))))
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
        LeRobotPolicy(
            PolicyConfig(
                name="diffusion", checkpoint=str(tiny_checkpoint("diffusion")), device="cuda"
            )
        )


def test_float32_only_backends_refuse_bfloat16(tiny_checkpoint: Callable[[str], Path]) -> None:
    with pytest.raises(ValueError, match="float32 only"):
        LeRobotPolicy(
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


def test_training_record_labels_weights_and_a_corrupt_one_is_refused(
    tiny_checkpoint: Callable[[str], Path], tmp_path: Path
) -> None:
    """Weights ``bench train`` made say so; a ``training.json`` that cannot be read stops the
    load instead of letting fine-tuned weights pass as "pretrained"."""
    ckpt = copy_checkpoint(tiny_checkpoint("act"), tmp_path / "out")
    assert LeRobotPolicy(PolicyConfig(name="act", checkpoint=str(ckpt))).weights == "pretrained"
    # the unversioned record `bench train` wrote before version 1 still reads
    record = {"policy": "act", "steps": 2000, "batch_size": 16, "episodes": 60, "frames": 900,
              "seed": 0, "dataset": "/d", "pretrained": "/w/act"}  # fmt: skip
    (ckpt / "training.json").write_text(json.dumps(record))
    policy = LeRobotPolicy(PolicyConfig(name="act", checkpoint=str(ckpt)))
    assert policy.weights == "finetuned"
    assert policy.describe()["training"]["steps"] == 2000
    for corrupt in ("{not json", json.dumps({**record, "steps": "many"}), "[]"):
        (ckpt / "training.json").write_text(corrupt)
        with pytest.raises(PolicyConfigError, match=r"training\.json") as err:
            LeRobotPolicy(PolicyConfig(name="act", checkpoint=str(ckpt)))
        assert "restore" in str(err.value) and "\n" not in str(err.value)


def test_first_contact_errors_are_one_line_with_the_fix(
    tiny_checkpoint: Callable[[str], Path],
) -> None:
    """A typo in --policy-args, a missing directory and an uncached hub id: one line each,
    naming the fix, raised as PolicyConfigError (what the CLI prints without a traceback)."""
    cases = [
        (PolicyConfig.parse_args("act", f"checkpoint={tiny_checkpoint('act')},devcie=cpu"),
         "did you mean 'device'"),
        (PolicyConfig(name="act", checkpoint="./no/such/dir"), "pass checkpoint="),
        (PolicyConfig(name="smolvla"), "hf download lerobot/smolvla_base"),
        (PolicyConfig(name="act", checkpoint=str(tiny_checkpoint("act")),
                      options={"n_action_steps": "0"}), "must be a whole number >= 1"),
    ]  # fmt: skip
    for config, fix in cases:
        with pytest.raises(PolicyConfigError) as err:
            LeRobotPolicy(config)
        assert fix in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_weights_digest_tells_apart_checkpoints_written_to_one_path(
    tiny_checkpoint: Callable[[str], Path], tmp_path: Path
) -> None:
    """As ``bench train --resume`` does: new weights at the same path get a new digest."""
    import torch
    from lerobot_kit import TINY, dataset_stats
    from vla_bench_lerobot.backends import BACKENDS
    from vla_bench_lerobot.loading import build_random, save_checkpoint

    ckpt = copy_checkpoint(tiny_checkpoint("act"), tmp_path / "ckpt")
    first = LeRobotPolicy(PolicyConfig(name="act", checkpoint=str(ckpt))).describe()
    assert first["weights_digest"].startswith("sha256:")
    assert set(first["weights_digest_files"]) >= {
        "config.json", "model.safetensors", "policy_preprocessor.json",
        "policy_postprocessor.json",
    }  # fmt: skip
    same = LeRobotPolicy(PolicyConfig(name="act", checkpoint=str(tiny_checkpoint("act"))))
    assert same.describe()["weights_digest"] == first["weights_digest"]  # content, not path
    task = make_task()
    torch.manual_seed(123)
    other = build_random(BACKENDS["act"], task, "cpu", None, TINY["act"], stats=dataset_stats(task))
    save_checkpoint(other, ckpt)
    second = LeRobotPolicy(PolicyConfig(name="act", checkpoint=str(ckpt))).describe()
    assert second["checkpoint"] == first["checkpoint"]
    assert second["weights_digest"] != first["weights_digest"]


def test_vectors_of_equal_width_are_checked_by_name(
    tiny_checkpoint: Callable[[str], Path], tmp_path: Path
) -> None:
    """A checkpoint trained here records its dataset's element names: a task whose state has
    the same width but other fields in another order is refused until mapped."""
    from lerobot_kit import STATE_FIELDS
    from vla_bench_lerobot.adapter import FeatureMismatchError

    from harness.checkpoints import TrainingRecord

    ckpt = copy_checkpoint(tiny_checkpoint("act"), tmp_path / "trained")
    swapped = (*STATE_FIELDS[3:7], *STATE_FIELDS[:3], STATE_FIELDS[7])
    TrainingRecord(
        policy="act", origin="trained", dataset="/d", seed=0, batch_size=2, steps=1,
        steps_done=1, frames=10, episodes=1, features={"observation.state": swapped},
    ).write(ckpt)  # fmt: skip
    task = make_task()
    policy = LeRobotPolicy(PolicyConfig(name="act", checkpoint=str(ckpt)))
    with pytest.raises(FeatureMismatchError, match="state names do not match") as err:
        policy.reset(task, EpisodeSpec(0, 0), None)
    assert "state_map=0;1;2;3;4;5;6;7" in str(err.value)
    mapped = ";".join(swapped)
    policy = LeRobotPolicy(
        PolicyConfig(name="act", checkpoint=str(ckpt), options={"state_map": mapped})
    )
    policy.reset(task, EpisodeSpec(0, 0), None)
    assert np.isfinite(policy.act(make_observation(task)).actions).all()
