"""``bench import-handtracking``: logs synthesised from the expert plus tracking noise."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from training_kit import bench
from vla_bench_training.demos import load_task
from vla_bench_training.handtracking import (
    Calibration,
    HandLog,
    HandTrackingError,
    actions_from_poses,
    parse_calibration,
    parse_log,
    resample,
    synthesise_log,
    write_csv,
    write_json,
)

from harness.contract import PolicyConfig

# An ARKit-like world: y up, the table 0.9 m below the tracking origin, turned 90 degrees.
CALIBRATION = {"translate": [0.1, -0.2, 0.9], "rotate": [0.7071068, 0.7071068, 0, 0], "scale": 1.0}
SEEDS = (881_000, 881_001)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """One JSON and one CSV log of the expert's runs, in the tracking frame, with noise."""
    folder = tmp_path_factory.mktemp("logs")
    (folder / "calibration.json").write_text(json.dumps(CALIBRATION))
    task, expert = load_task("handle")
    calibration = parse_calibration(str(folder / "calibration.json"))
    rng = np.random.default_rng(0)
    paths = []
    for seed, write in zip(SEEDS, (write_json, write_csv), strict=True):
        log = synthesise_log(
            task, expert(PolicyConfig("scripted")), seed, calibration=calibration, rng=rng
        )
        paths.append(write(log, folder / f"demo-{seed}.{'json' if write is write_json else 'csv'}"))
    return paths


def test_import_replays_and_keeps_successful_demos(logs: list[Path], tmp_path: Path) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    out = tmp_path / "ds"
    calibration = logs[0].parent / "calibration.json"
    result = bench(
        "import-handtracking", *logs, "--task", "handle", "--calibration", calibration,
        "--image-size", 24, "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "replay check: 2/2 demos still succeed" in result.output
    data = LeRobotDataset("vla-bench/local", root=out, video_backend="pyav")
    assert data.num_episodes == 2
    assert tuple(data[0]["observation.images.front"].shape) == (3, 24, 24)
    assert data[0]["task"].startswith("press the")
    assert float(data[0]["action"][6]) == 1.0  # pinched the whole time -> gripper closed


def test_wrong_calibration_fails_the_replay_check(logs: list[Path], tmp_path: Path) -> None:
    """In the raw tracking frame (no calibration) the hand pushes nowhere near the handle."""
    result = bench("import-handtracking", *logs, "--task", "handle", "--image-size", 16,
                   "--keep-failed", "-o", tmp_path / "raw")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "replay check: 0/2 demos still succeed" in result.output
    assert "kept 2 episodes" in result.output


def test_inline_matrix_calibration_equals_the_file(logs: list[Path]) -> None:
    from scipy.spatial.transform import Rotation

    from_file = parse_calibration(str(logs[0].parent / "calibration.json"))
    m = np.eye(4)
    m[:3, :3] = Rotation.from_quat([0.7071068, 0, 0, 0.7071068]).as_matrix() * 2.0
    m[:3, 3] = [0.1, -0.2, 0.9]
    inline = parse_calibration("matrix=" + ",".join(map(str, m.reshape(-1))))
    np.testing.assert_allclose(inline.rotation, from_file.rotation, atol=1e-6)
    assert inline.scale == pytest.approx(2.0)
    log = parse_log(logs[0])
    back = inline.inverse().apply(inline.apply(log))
    np.testing.assert_allclose(back.position, log.position, atol=1e-9)


def test_resampling_and_actions_are_exact_on_known_motion() -> None:
    task, _ = load_task("handle")
    t = np.array([0.0, 0.05, 0.5, 1.0])
    yaw = np.array([0.0, 0.01, 0.1, 0.2])  # 0.2 rad/s about z
    from scipy.spatial.transform import Rotation

    quats = np.roll(Rotation.from_euler("z", yaw[:, None]).as_quat(), 1, axis=1)
    log = HandLog("known", t, np.outer(t, [0.2, 0.0, -0.1]), quats, np.array([0, 0, 1, 1], bool))
    sampled = resample(log, 10.0)
    assert len(sampled.t) == 11
    np.testing.assert_allclose(sampled.position[3], [0.06, 0.0, -0.03], atol=1e-12)
    actions, clipped = actions_from_poses(sampled, task.spec)
    assert clipped == 0
    np.testing.assert_allclose(actions[:, :3], np.tile([0.02, 0.0, -0.01], (10, 1)), atol=1e-12)
    np.testing.assert_allclose(actions[:, 5], 0.02, atol=1e-9)  # d(yaw) per 0.1 s
    assert list(actions[:, 6]) == [-1.0] * 4 + [1.0] * 6  # pinch held from t=0.5 on


def test_bad_logs_and_calibrations_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("t,x,y,z,pinch\n0,0,0,0,1\n")
    with pytest.raises(HandTrackingError, match="lacks columns"):
        parse_log(bad)
    with pytest.raises(HandTrackingError, match="rotation times a positive uniform scale"):
        parse_calibration("matrix=1,0,0,0, 0,1,0,0, 0,0,-1,0, 0,0,0,1")
    nojson = tmp_path / "x.json"
    nojson.write_text(json.dumps({"samples": [{"t": 0, "pinch": True}]}))
    result = bench("import-handtracking", nojson, "--task", "handle", "-o", tmp_path / "o")
    assert result.exit_code != 0
    assert "needs transform, or position and orientation" in result.output
    assert not (tmp_path / "o").exists()


def test_identity_is_default() -> None:
    assert np.array_equal(parse_calibration(None).rotation, Calibration().rotation)
