"""``bench run --record DIR``: evaluated rollouts written as a LeRobot dataset.

Every check reads the dataset back with LeRobot's own ``LeRobotDataset`` and compares it with
what is known independently of the recording: the run's ``steps.parquet`` and
``episodes.parquet`` (read with pandas), and a fresh env of the task, reset with the episode's
seed and driven with the executed actions.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from training_kit import IMAGE_SIZE, bench

from harness.contract import EpisodeSpec
from harness.plugins import registry

TASK = "handle"
TASK_ARGS = f"image_size={IMAGE_SIZE}"


@pytest.fixture(autouse=True)
def probe_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``wild`` policy of record_probe, loaded beside the installed plugins."""
    from harness import plugins

    monkeypatch.setenv("VLA_BENCH_PLUGINS", "record_probe")
    plugins.loaded.cache_clear()
    yield
    plugins.loaded.cache_clear()


def run(out: Path, record: Path, *args: object, policy: str = "scripted", code: int = 0) -> str:
    result = bench(
        "run", "--policy", policy, "--task", TASK, "--task-args", TASK_ARGS,
        "--out", out, "--record", record, *args,
    )  # fmt: skip
    assert result.exit_code == code, result.output
    return result.output


def read(root: Path):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    return LeRobotDataset("vla-bench/record", root=root, video_backend="pyav")


def ledger(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "meta/vla_bench_episodes.jsonl").open()]


def frames_of(data, episode: int) -> list[dict]:
    start = int(data.meta.episodes["dataset_from_index"][episode])
    end = int(data.meta.episodes["dataset_to_index"][episode])
    return [data[i] for i in range(start, end)]


def image(frame: dict, camera: str) -> np.ndarray:
    """A stored frame as the H x W x 3 uint8 image it was (LeRobot serves 3 x H x W floats)."""
    chw = frame[f"observation.images.{camera}"].numpy()
    return np.round(chw.transpose(1, 2, 0) * 255).astype(np.uint8)


def check_against_run(data, out: Path) -> None:
    """Frames per episode, actions, instruction and success equal the run's own tables; the
    states and images equal a fresh env replaying the executed actions from the same seed."""
    episodes = pd.read_parquet(out / "episodes.parquet").sort_values("episode")
    steps = pd.read_parquet(out / "steps.parquet")
    task = registry().build_task(TASK, {"image_size": str(IMAGE_SIZE)})
    kept = episodes[~episodes["outcome"].isin(["policy_error", "bad_action", "sim_error"])]
    assert data.num_episodes == len(kept)
    for k, (_, row) in enumerate(kept.iterrows()):
        frames = frames_of(data, k)
        assert len(frames) == row["steps"]
        executed = np.stack(steps[steps["episode"] == row["episode"]].sort_values("step")["action"])
        stored = np.stack([f["action"].numpy() for f in frames])
        np.testing.assert_allclose(stored, executed, rtol=0, atol=1e-7)
        assert {f["task"] for f in frames} == {row["instruction"]}
        env = task.make_env(EpisodeSpec(int(row["episode"]), int(row["seed"])), render=True)
        obs, _ = env.reset(seed=int(row["seed"]))
        assert frames[0]["task"] == obs["instruction"]
        for frame, action in zip(frames, executed, strict=True):
            np.testing.assert_allclose(frame["observation.state"].numpy(), obs["state"], atol=1e-6)
            for camera in task.spec.cameras:
                np.testing.assert_array_equal(image(frame, camera), obs["images"][camera])
            obs, *_ = env.step(action)
        env.close()
    lines = ledger(data.root)
    assert [(line["task"], line["episode"]) for line in lines] == [
        (TASK, int(e)) for e in kept["episode"]
    ]
    assert [line["success"] for line in lines] == kept["success"].tolist()


def test_rollouts_become_a_lerobot_dataset(tmp_path: Path) -> None:
    out, record = tmp_path / "run", tmp_path / "data"
    output = run(out, record, "--episodes", 2, "--isolate", "none")
    assert f"recorded episodes: {record} +2" in output
    data = read(record)
    assert data.meta.info.fps == 10
    assert data.meta.info.robot_type == "vla-bench-floating-gripper"  # the task's embodiment
    assert data.num_frames == pd.read_parquet(out / "steps.parquet").shape[0]
    check_against_run(data, out)
    settings = json.loads((out / "run.json").read_text())["settings"]
    assert settings["record"] == str(record.absolute())


@pytest.mark.parametrize(
    ("task", "robot"),
    [("handle", "vla-bench-floating-gripper"), ("push-v3", "sawyer"), ("libero_10-0", "panda")],
)
def test_each_suite_names_its_embodiment_for_datasets(task: str, robot: str) -> None:
    from vla_bench_training.dataset import robot_type

    assert robot_type(registry().build_task(task)) == robot


def test_frames_from_worker_processes(tmp_path: Path) -> None:
    """Two workers (the default isolation): frames made in the workers reach the dataset."""
    out, record = tmp_path / "run", tmp_path / "data"
    run(out, record, "--episodes", 2, "--workers", 2)
    check_against_run(read(record), out)


def test_clipped_actions_and_errors(tmp_path: Path) -> None:
    """Recorded actions are the executed (clipped) ones; the episode that ended in a policy
    error is left out; frames are rendered for a policy that reads no images."""
    out, record = tmp_path / "run", tmp_path / "data"
    output = run(
        out, record, "--episodes", 3, "--isolate", "none", "--policy-args", "crash_on=1",
        policy="wild", code=1,  # no episode succeeded, one error
    )  # fmt: skip
    assert "+2; 1 ended in errors (left out)" in output
    data = read(record)
    assert data.num_episodes == 2
    space = registry().build_task(TASK, {}).spec.action_space
    actions = np.stack([data[i]["action"].numpy() for i in range(len(data))])
    np.testing.assert_allclose(
        actions,
        np.broadcast_to(np.clip([5.0, -5, 5, -5, 5, -5, 5], space.low, space.high), actions.shape),
        atol=1e-7,
    )
    check_against_run(data, out)


def test_resume_adds_each_episode_once(tmp_path: Path) -> None:
    out, record = tmp_path / "run", tmp_path / "data"
    run(out, record, "--episodes", 1, "--isolate", "none")
    assert read(record).num_episodes == 1
    output = run(out, record, "--episodes", 2, "--isolate", "none")
    assert f"{record} +1; 1 already there" in output
    output = run(out, record, "--episodes", 2, "--isolate", "none")
    assert "nothing new; 2 already there" in output
    data = read(record)
    assert [line["episode"] for line in ledger(record)] == [0, 1]
    check_against_run(data, out)


def test_ctrl_c_just_after_an_episode_is_saved_neither_loses_nor_doubles_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C lands right after LeRobot saved an appended episode: its ledger line is written
    all the same, so the next run adds only the episodes still missing."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    out, record = tmp_path / "run", tmp_path / "data"
    run(out, record, "--episodes", 1, "--isolate", "none")
    save = LeRobotDataset.save_episode

    def save_then_ctrl_c(self: LeRobotDataset, *args: object, **kwargs: object) -> object:
        saved = save(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)  # before the line that says which episode it was
        return saved

    monkeypatch.setattr(LeRobotDataset, "save_episode", save_then_ctrl_c)
    output = run(out, record, "--episodes", 3, "--isolate", "none")
    assert "was interrupted (whole episodes kept)" in output
    assert read(record).num_episodes == len(ledger(record)) == 2
    monkeypatch.setattr(LeRobotDataset, "save_episode", save)
    output = run(out, record, "--episodes", 3, "--isolate", "none")
    assert f"{record} +1; 2 already there" in output
    data = read(record)
    assert [line["episode"] for line in ledger(record)] == [0, 1, 2]
    check_against_run(data, out)


def test_appends_to_a_matching_dataset(tmp_path: Path, handle_demos: Path) -> None:
    """A dataset of the same features (the demos) gains the rollouts after its own episodes."""
    record = tmp_path / "data"
    shutil.copytree(handle_demos, record)
    run(tmp_path / "run", record, "--episodes", 1, "--isolate", "none")
    data = read(record)
    assert data.num_episodes == 3
    assert [line.get("run_id") for line in ledger(record)] == [None, None, "run"]


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_refuses_what_is_not_its_dataset(tmp_path: Path, handle_demos: Path) -> None:
    """A file, a foreign directory or a dataset of other features: one line, nothing touched,
    no episode run."""
    file = tmp_path / "notes.txt"
    file.write_text("mine")
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.png").write_bytes(b"\x89PNG")
    before = _tree(handle_demos)
    for target, words, args in (
        (file, "is a file", ()),
        (foreign, "holds no LeRobot dataset", ()),
        (handle_demos, "other features", ("--task-args", "image_size=16")),
    ):
        out = tmp_path / f"run-{target.name}"
        result = bench(
            "run", "--policy", "scripted", "--task", TASK, "--episodes", 1, "--isolate", "none",
            "--task-args", TASK_ARGS, *args, "--out", out, "--record", target,
        )  # fmt: skip
        assert result.exit_code != 0
        error = result.output.strip().splitlines()
        assert len(error) == 1 and words in error[0], result.output
        assert not out.exists()
    assert file.read_text() == "mine"
    assert [p.name for p in foreign.iterdir()] == ["cat.png"]
    assert _tree(handle_demos) == before


def test_episodes_run_without_record_are_named_not_invented(tmp_path: Path) -> None:
    """Episodes committed before --record was given have no frames: said, not made up."""
    out, record = tmp_path / "run", tmp_path / "data"
    result = bench(
        "run", "--policy", "scripted", "--task", TASK, "--task-args", TASK_ARGS,
        "--episodes", 1, "--isolate", "none", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    output = run(out, record, "--episodes", 2, "--isolate", "none")
    assert f"{record} +1; 1 ran without --record (no frames)" in output
    assert [line["episode"] for line in ledger(record)] == [1]


def test_a_suite_gets_one_dataset_per_task(tmp_path: Path) -> None:
    record = tmp_path / "data"
    result = bench(
        "run", "--policy", "scripted", "--task", "manipulation", "--task-args", TASK_ARGS,
        "--episodes", 1, "--isolate", "none", "--out", tmp_path / "run", "--record", record,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    tasks = registry().resolve_tasks("manipulation")
    assert sorted(p.name for p in record.iterdir()) == sorted(tasks)
    for task in tasks:
        assert read(record / task).num_episodes == 1
        assert [line["task"] for line in ledger(record / task)] == [task]
