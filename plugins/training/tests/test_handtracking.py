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


SAMPLE = Path(__file__).parent / "data" / "visionos_hand_anchors.json"
"""A hand-authored log in visionOS's own terms: HandAnchor updates with ARKit's joint names and
simd_float4x4 transforms (column-major, joints relative to the anchor). See data/README.md."""


def test_visionos_hand_anchors_are_read_as_arkit_defines_them() -> None:
    log = parse_log(SAMPLE)
    # 11 right-hand updates kept: the left hand, an untracked update and one whose fingertips
    # were not tracked are skipped (each of them sits far from the path).
    assert len(log.t) == 11 and log.seed == 4242 and log.instruction == "pick up the block"
    np.testing.assert_allclose(log.t - log.t[0], np.arange(11) / 10, atol=1e-9)
    # The anchor sits at (0.20, 1.00, -0.30) turned +90 degrees about y (columns x=(0,0,-1),
    # y=(0,1,0), z=(1,0,0)). The open hand's thumb tip (0.12, -0.03, -0.03) and index tip
    # (0.17, -0.01, 0.02) in the anchor frame meet at (0.145, -0.02, -0.005), i.e.
    # (0.20 - 0.005, 1.00 - 0.02, -0.30 - 0.145) in the world.
    np.testing.assert_allclose(log.position[0], [0.195, 0.98, -0.445], atol=1e-6)
    # pinched from update 5 on: tips at (0.145, -0.02, 0.015) and (0.155, -0.02, 0.02), 1.1 cm
    # apart, midpoint (0.15, -0.02, 0.0175); the anchor has come down to y = 0.95
    np.testing.assert_allclose(log.position[5], [0.2175, 0.93, -0.45], atol=1e-6)
    assert log.pinch.tolist() == [False] * 5 + [True] * 6
    # orientation: the anchor's rotation, +90 degrees about y, as (w, x, y, z)
    half = np.sqrt(0.5)
    np.testing.assert_allclose(np.abs(log.quat_wxyz), [[half, 0.0, half, 0.0]] * 11, atol=1e-6)
    assert np.all(log.quat_wxyz[:, 0] * log.quat_wxyz[:, 2] > 0)  # +90, not -90


def test_visionos_log_imports_end_to_end(tmp_path: Path) -> None:
    """visionOS is y-up: the calibration turns it onto the task's z-up frame; the gripper
    closes where the fingertips met and the hand moves down 1 cm per step, then up 1.6 cm."""
    import pandas as pd

    out = tmp_path / "ds"
    rotate = ",".join(map(str, CALIBRATION["rotate"]))
    result = bench(
        "import-handtracking", SAMPLE, "--task", "pick_place", "--calibration",
        f"rotate={rotate};translate=-0.2,-0.45,-0.7", "--keep-failed", "--image-size", 16,
        "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    frames = pd.concat(pd.read_parquet(p) for p in sorted((out / "data").rglob("*.parquet")))
    actions = np.stack(frames["action"].to_numpy())
    assert len(actions) >= 6
    assert actions[:4, 6].tolist() == [-1.0] * 4 and actions[4:, 6].min() == 1.0
    np.testing.assert_allclose(actions[:5, 2], -0.01, atol=1e-6)
    np.testing.assert_allclose(actions[5:, 2], 0.016, atol=1e-6)


def _csv(path: Path, rows: list[str]) -> Path:
    path.write_text("t,x,y,z,qx,qy,qz,qw,pinch,seed\n" + "\n".join(rows) + "\n")
    return path


def test_bad_values_are_named_by_file_and_row_at_parse_time(tmp_path: Path) -> None:
    good = "0.0,0.1,0.2,0.3,0,0,0,1,0,5"
    cases = {
        "nan position": ([good, "0.1,nan,0.2,0.3,0,0,0,1,0,5"], "line 3: position"),
        "inf position": ([good, "0.1,inf,0.2,0.3,0,0,0,1,0,5"], "line 3: position"),
        "huge position": ([good, "0.1,1e308,0.2,0.3,0,0,0,1,0,5"], "more than 100 m"),
        "nan time": (["nan,0.1,0.2,0.3,0,0,0,1,0,5", good], "line 2: time"),
        "nan quaternion": ([good, "0.1,0.1,0.2,0.3,nan,0,0,1,0,5"], "line 3: orientation"),
        "negative seed": ([good.replace(",5", ",-1"), good], "seed -1 is outside"),
        "outlier time": (
            [good, "100000000,0.1,0.2,0.3,0,0,0,1,0,5"],
            "line 3: time 100000000.0 is 1e+08 s after",
        ),
    }
    for name, (rows, problem) in cases.items():
        path = _csv(tmp_path / f"{name.replace(' ', '_')}.csv", rows)
        with pytest.raises(HandTrackingError) as err:
            parse_log(path)
        assert str(path) in str(err.value) and problem in str(err.value), (name, str(err.value))
    null_time = tmp_path / "null.json"
    sample = {"position": [0, 0, 0], "orientation": [0, 0, 0, 1], "pinch": False}
    null_time.write_text(json.dumps({"samples": [{**sample, "t": None}, {**sample, "t": 1}]}))
    with pytest.raises(HandTrackingError, match=r"sample 0: time None is not a number"):
        parse_log(null_time)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(HandTrackingError, match="nested too deeply"):
        parse_log(deep)
    result = bench("import-handtracking", SAMPLE, "--task", "handle", "--seed", "-3", "-o",
                   tmp_path / "o")  # fmt: skip
    assert result.exit_code == 2 and "--seed" in result.output


def test_a_failed_import_leaves_nothing_and_the_retry_works(
    logs: list[Path], tmp_path: Path
) -> None:
    """The second log is too short to resample: the import fails after the first was written."""
    short = tmp_path / "short.csv"
    _csv(short, ["0.0,0.1,0.2,0.3,0,0,0,1,0,881000", "0.05,0.1,0.2,0.3,0,0,0,1,0,881000"])
    out = tmp_path / "ds"
    calibration = logs[0].parent / "calibration.json"
    common = ["--task", "handle", "--calibration", calibration, "--image-size", 16, "-o", out]
    result = bench("import-handtracking", logs[0], short, *common)
    assert result.exit_code == 1 and "shorter than one control step" in result.output
    assert not out.exists() and not list(tmp_path.glob(".ds*"))
    result = bench("import-handtracking", logs[0], *common)
    assert result.exit_code == 0, result.output
    assert "kept 1 episodes" in result.output
