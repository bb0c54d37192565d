"""``bench demos``: expert demonstrations written as a LeRobot dataset and read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from training_kit import DEMO_SEED_BASE, IMAGE_SIZE, bench

from harness.contract import EpisodeSpec
from harness.plugins import registry


def _read(root: Path):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    return LeRobotDataset("vla-bench/local", root=root, video_backend="pyav")


def test_round_trip_frames_actions_instructions(handle_demos: Path) -> None:
    data = _read(handle_demos)
    assert data.num_episodes == 2
    assert data.meta.info.fps == 10
    # Images are stored as PNG inside parquet, not as video.
    assert data.meta.video_keys == []
    assert not (handle_demos / "videos").exists()
    frame = data[0]
    assert tuple(frame["observation.images.front"].shape) == (3, IMAGE_SIZE, IMAGE_SIZE)
    assert tuple(frame["observation.images.wrist"].shape) == (3, IMAGE_SIZE, IMAGE_SIZE)
    assert tuple(frame["observation.state"].shape) == (8,)
    task = registry().get("task", "handle").load()()
    env = task.make_env(EpisodeSpec(0, DEMO_SEED_BASE), render=False)
    obs, _ = env.reset(seed=DEMO_SEED_BASE)
    env.close()
    assert frame["task"] == obs["instruction"]
    # The first state is the scene's start state for the demo's seed.
    np.testing.assert_allclose(frame["observation.state"].numpy(), obs["state"], atol=1e-6)
    actions = np.stack([data[i]["action"].numpy() for i in range(len(data))])
    space = task.spec.action_space
    assert np.all(actions >= np.asarray(space.low) - 1e-6)
    assert np.all(actions <= np.asarray(space.high) + 1e-6)
    assert np.all(actions[:, 6] == 1.0)  # the handle expert presses with closed jaws
    assert (handle_demos / "meta" / "stats.json").is_file()


def test_clean_labels_replay_to_success(tmp_path: Path) -> None:
    """Without noise the recorded actions are exactly what ran: replaying them succeeds."""
    out = tmp_path / "clean"
    result = bench(
        "demos", "--task", "handle", "--episodes", "1", "--seed-base", 4242,
        "--image-size", 16, "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1/1 expert episodes succeeded; kept 1 episodes" in result.output
    data = _read(out)
    actions = np.stack([data[i]["action"].numpy() for i in range(len(data))])
    task = registry().get("task", "handle").load()()
    env = task.make_env(EpisodeSpec(0, 4242), render=False)
    env.reset(seed=4242)
    for action in actions:
        _, _, _, _, info = env.step(action.astype(np.float64))
    env.close()
    assert info["success"]


def test_refuses_existing_directory_and_unknown_task(handle_demos: Path) -> None:
    result = bench("demos", "--task", "handle", "--episodes", "1", "-o", handle_demos)
    assert result.exit_code != 0
    assert "not empty" in result.output
    result = bench("demos", "--task", "handel", "--episodes", "1", "-o", "/tmp/never")
    assert result.exit_code != 0
    assert "handle" in result.output  # did you mean


@pytest.mark.parametrize("noise", ["-0.1"])
def test_rejects_negative_noise(tmp_path: Path, noise: str) -> None:
    result = bench(
        "demos", "--task", "handle", "--episodes", "1", "--noise", noise, "-o", tmp_path / "x"
    )
    assert result.exit_code != 0
    assert "noise" in result.output


def test_keep_failed_keeps_and_marks_the_failed_episodes(tmp_path: Path) -> None:
    """Heavy noise (1x each bound) makes the expert fail 3 of these 4 episodes."""
    from vla_bench_training.dataset import DatasetWriter

    out = tmp_path / "failed"
    result = bench(
        "demos", "--task", "handle", "--episodes", 4, "--noise", 1.0, "--seed-base", 4242,
        "--image-size", 16, "--keep-failed", "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1/4 expert episodes succeeded; kept 4 episodes" in result.output
    lines = DatasetWriter.read_episodes(out)
    assert [line["seed"] for line in lines] == [4242, 4243, 4244, 4245]
    assert [line["success"] for line in lines] == [False, False, False, True]
    data = _read(out)
    assert data.num_episodes == 4
    # A failure runs to the task's step limit; every frame of it is in the dataset.
    assert [line["frames"] for line in lines][:3] == [60, 60, 60]
    assert data.num_frames == sum(line["frames"] for line in lines)


def test_episode_lines_of_a_success_only_recording(handle_demos: Path) -> None:
    from vla_bench_training.dataset import DatasetWriter

    lines = DatasetWriter.read_episodes(handle_demos)
    assert [line["episode_index"] for line in lines] == [0, 1]
    assert all(line["success"] for line in lines)
    assert lines[0]["seed"] == DEMO_SEED_BASE
