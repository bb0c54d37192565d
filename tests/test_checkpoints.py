"""``training.json`` as one typed, versioned record, and checkpoints identified by content."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import pytest

from harness.checkpoints import (
    CheckpointRecordError,
    TrainingRecord,
    content_digest,
    file_sha256,
    find_training_record,
)

RECORD = TrainingRecord(
    policy="act",
    origin="trained",
    dataset="/data/handle",
    seed=3,
    batch_size=16,
    steps=2000,
    steps_done=2000,
    frames=900,
    episodes=60,
    parameters=12_345,
    wall_s=81.5,
    losses=((10, 1.25), (20, 0.5)),
    checkpoints=("/ckpt/checkpoints/000400",),
    features={"action": ("dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper")},
    details={"lora": {"rank": 32}},
)


def test_a_record_reads_back_as_written_and_names_its_format(tmp_path: Path) -> None:
    path = RECORD.write(tmp_path)
    data = json.loads(path.read_text())
    assert (data["format"], data["version"]) == ("vla-bench-training", 1)
    assert TrainingRecord.read(path) == RECORD


def test_corrupt_or_foreign_records_are_refused_with_the_file_named(tmp_path: Path) -> None:
    path = tmp_path / "training.json"
    good = RECORD.to_json()
    cases = {
        "{not json": "cannot be read as JSON",
        "[]": "expected a JSON object",
        json.dumps({**good, "steps_done": "2000"}): "'steps_done' must be a whole number",
        json.dumps({**good, "origin": "pretrained"}): "'origin' is 'pretrained'",
        json.dumps({k: v for k, v in good.items() if k != "dataset"}): "'dataset' is missing",
        json.dumps({**good, "version": 2}): "version 2",
        json.dumps({**good, "losses": [[1, "x"]]}): "[step, loss] pairs",
        "[" * 100_000: "cannot be read as JSON",
    }
    for text, problem in cases.items():
        path.write_text(text)
        with pytest.raises(CheckpointRecordError) as err:
            TrainingRecord.read(path)
        message = str(err.value)
        assert str(path) in message and problem in message and "\n" not in message, message


def test_the_unversioned_record_of_earlier_releases_still_reads(tmp_path: Path) -> None:
    legacy = {
        "policy": "openvla", "steps": 4, "batch_size": 4, "frames": 30, "episodes": 2,
        "wall_s": 3.0, "checkpoint": "/o", "losses": [[2, 1.0]], "checkpoints": [],
        "parameters": 10, "origin": "finetuned", "dataset": "/d", "pretrained": "/w",
        "seed": 0, "steps_done": 4, "resumed": [], "unnorm_key": "vla_bench_d",
    }  # fmt: skip
    (tmp_path / "training.json").write_text(json.dumps(legacy))
    record = TrainingRecord.read(tmp_path / "training.json")
    assert (record.origin, record.pretrained, record.steps_done) == ("finetuned", "/w", 4)
    assert record.details == {"unnorm_key": "vla_bench_d"}
    del legacy["origin"], legacy["steps_done"]
    (tmp_path / "training.json").write_text(json.dumps(legacy))
    assert TrainingRecord.read(tmp_path / "training.json").origin == "finetuned"  # has pretrained


def test_an_intermediate_checkpoint_takes_its_step_from_its_name(tmp_path: Path) -> None:
    assert find_training_record(tmp_path) is None  # not made by bench train
    middle = tmp_path / "checkpoints" / "000400"
    middle.mkdir(parents=True)
    RECORD.write(tmp_path)
    assert find_training_record(middle) == dataclasses.replace(RECORD, steps_done=400)
    own = dataclasses.replace(RECORD, steps_done=400, losses=((10, 1.25),))
    own.write(middle)
    assert find_training_record(middle) == own


def test_the_digest_tells_apart_two_checkpoints_written_to_one_path(tmp_path: Path) -> None:
    """What ``bench train --resume`` does: new weights, same path, possibly the same size."""
    weights, config = tmp_path / "model.safetensors", tmp_path / "config.json"
    config.write_text('{"type": "act"}')
    weights.write_bytes(b"\x01" * 4096)
    first = content_digest(tmp_path, [weights, config])
    assert first.files == ("config.json", "model.safetensors") and first.bytes == 4096 + 15
    assert file_sha256(weights) == hashlib.sha256(b"\x01" * 4096).hexdigest()
    stat = weights.stat()
    weights.write_bytes(b"\x01" * 4095 + b"\x02")  # same size; a later mtime
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = content_digest(tmp_path, [weights, config])
    assert second.sha256 != first.sha256
    assert file_sha256(weights) == hashlib.sha256(b"\x01" * 4095 + b"\x02").hexdigest()
    # the same content gives the same digest, wherever it lives
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "model.safetensors").write_bytes(weights.read_bytes())
    (copy / "config.json").write_text(config.read_text())
    again = content_digest(copy, [copy / "model.safetensors", copy / "config.json"])
    assert again.sha256 == second.sha256
    assert again.describe()["weights_digest"] == f"sha256:{second.sha256}"
