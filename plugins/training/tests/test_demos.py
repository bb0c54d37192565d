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
