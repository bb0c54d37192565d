"""The runner: outcomes, errors, chunks, resume and workers, on the toy reaching task."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.contract import PolicyConfig
from harness.errors import RunConfigError
from harness.record import RunSettings
from harness.results import load_run
from harness.run import execute


def run(
    tmp_path: Path, policy: str, task: str = "reach", args: str | None = None, **settings: object
) -> tuple[object, pd.DataFrame]:
    out = tmp_path / f"{policy}-{task}"
    config = PolicyConfig.parse_args(policy, args, seed=int(settings.pop("seed", 0)))  # type: ignore[call-overload]
    report = execute(config, task, RunSettings(seed=config.seed, **settings), out, ["test"])  # type: ignore[arg-type]
    return report, load_run(out).episodes


def test_scripted_expert_solves_and_random_fails(tmp_path: Path) -> None:
    report, episodes = run(tmp_path, "scripted", episodes=6)
    assert report.status == "complete" and report.ran == 6
    assert episodes["success"].all()
    assert (episodes["outcome"] == "success").all()
    assert np.isfinite(episodes["sparc"]).all() and np.isfinite(episodes["ldlj"]).all()
    _, random_eps = run(tmp_path, "random", episodes=6)
    assert not random_eps["success"].any()
    assert (random_eps["outcome"] == "timeout").all() and (random_eps["steps"] == 40).all()


def test_run_directory_holds_provenance_and_steps(tmp_path: Path) -> None:
    run(tmp_path, "scripted", episodes=2)
    out = tmp_path / "scripted-reach"
    loaded = load_run(out)
    record = loaded.record
    assert loaded.complete and record.status == "complete"
    assert record.tasks["reach"].track.episodes == ((0, 1000), (1, 1001))
    assert record.tasks["reach"].spec["action_space"]["name"] == "ee_delta_7d"
    provenance = record.latest.provenance
    assert provenance["harness_version"]
    assert "numpy" in provenance["packages"]
    assert provenance["host"]["cpu_count"] >= 1
    assert record.policy.describe is not None and record.policy.weights == "scripted"
    assert record.policy.privileged
    assert (out / "run.json").stat().st_mode & 0o044, "results must be readable by others"
    steps = loaded.steps()
    assert list(steps.groupby("episode").size()) == list(loaded.episodes["steps"])
    assert steps["ee_x"].notna().all() and steps["act_s"].notna().all()


@pytest.mark.parametrize(
    ("mode", "outcome", "needle"),
    [
        ("nan", "bad_action", "non-finite"),
        ("shape", "bad_action", "(T, 7)"),
        ("raise", "policy_error", "model exploded"),
        ("hang", "policy_timeout", "--step-timeout 0.3s"),
    ],
)
def test_policy_errors_end_the_episode_and_the_run_goes_on(
    tmp_path: Path, mode: str, outcome: str, needle: str
) -> None:
    report, episodes = run(tmp_path, "bad", args=f"mode={mode}", episodes=2, step_timeout_s=0.3)
    assert report.status == "complete" and len(episodes) == 2
    assert (episodes["outcome"] == outcome).all()
    assert episodes["error"].str.contains(needle, regex=False).all()


def test_out_of_range_actions_are_clipped_and_counted(tmp_path: Path) -> None:
    _, episodes = run(tmp_path, "bad", args="mode=oob", episodes=1)
    assert episodes.loc[0, "clipped_actions"] == 40
    steps = load_run(tmp_path / "bad-reach").steps()
    assert np.allclose(np.stack(steps["action"].to_numpy())[:, 0], 0.05)


@pytest.mark.parametrize(
    ("task", "needle"), [("reach_crash", "physics blew up"), ("reach_unstable", "flung away")]
)
def test_simulator_failures_are_sim_errors(tmp_path: Path, task: str, needle: str) -> None:
    _, episodes = run(tmp_path, "random", task=task, episodes=2)
    assert (episodes["outcome"] == "sim_error").all()
    assert episodes["error"].str.contains(needle).all()


def test_budget_stop_keeps_finished_episodes(tmp_path: Path) -> None:
    # The budget policy allows 3 calls in all; with chunk size 1 the first episode uses them.
    report, episodes = run(tmp_path, "bad", args="mode=budget", episodes=3)
    assert report.status == "stopped" and "budget" in (report.detail or "")
    assert len(episodes) == 0  # the first episode was interrupted, so nothing is committed
    assert load_run(tmp_path / "bad-reach").record.status == "stopped"


def test_chunks_execute_n_action_steps(tmp_path: Path) -> None:
    _, episodes = run(tmp_path, "chunky", episodes=1, n_action_steps=2)
    steps = load_run(tmp_path / "chunky-reach").steps()
    assert list(steps["chunk"][:6]) == [0, 0, 1, 1, 2, 2]
    assert list(steps["chunk_pos"][:4]) == [0, 1, 0, 1]
    first = np.stack(steps["action"].to_numpy())[:4, 0]
    assert first == pytest.approx([0.01, 0.02, 0.01, 0.02])
    assert steps["act_s"].notna().tolist()[:4] == [True, False, True, False]
    assert episodes.loc[0, "act_calls"] == 20
    assert episodes.loc[0, "model_p50_s"] == pytest.approx(0.001)
    # jump at each boundary is 0.01, inside a chunk 0.01: ratio 1, per action group (metres,
    # radians and the gripper are never mixed in one figure).
    import json

    jumps = json.loads(episodes.loc[0, "chunk_jumps"])
    assert set(jumps) == {"translation", "rotation", "gripper"}
    assert jumps["translation"] == pytest.approx(1.0)


def test_default_chunk_length_is_the_policy_own(tmp_path: Path) -> None:
    run(tmp_path, "chunky", episodes=1)
    steps = load_run(tmp_path / "chunky-reach").steps()
    assert list(steps["chunk"][:8]) == [0, 0, 0, 0, 1, 1, 1, 1]


def test_resume_skips_finished_episodes(tmp_path: Path) -> None:
    report, _ = run(tmp_path, "scripted", episodes=3)
    assert report.ran == 3
    report, episodes = run(tmp_path, "scripted", episodes=5)
    assert (report.ran, report.skipped) == (2, 3)
    assert sorted(episodes["episode"]) == [0, 1, 2, 3, 4]


def test_resume_refuses_a_different_run(tmp_path: Path) -> None:
    run(tmp_path, "random", episodes=1)
    with pytest.raises(RunConfigError, match="seed 0 != 7"):
        run(tmp_path, "random", episodes=1, seed=7)


def test_policy_that_cannot_drive_the_action_space_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RunConfigError, match="discrete"):
        run(tmp_path, "discrete_only", episodes=1)


def test_too_many_episodes_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--episodes 12 or fewer"):
        run(tmp_path, "random", episodes=99)


def test_workers_give_the_same_results_as_one_process(tmp_path: Path) -> None:
    _, one = run(tmp_path / "a", "random", episodes=4, seed=3)
    _, two = run(tmp_path / "b", "random", episodes=4, seed=3, workers=2)
    cols = ["episode", "seed", "success", "steps", "episode_return", "sparc"]
    pd.testing.assert_frame_equal(one[cols], two[cols])


def test_video_is_recorded_as_gif(tmp_path: Path) -> None:
    _, episodes = run(tmp_path, "random", episodes=2, video=1)
    import json

    extra = [json.loads(e) for e in episodes["extra"]]
    video = extra[0]["video"]
    assert video == {"mp4": "videos/reach/000000.mp4", "gif": "videos/reach/000000.gif"}
    assert "video" not in extra[1]
    from PIL import Image

    gif = Image.open(tmp_path / "random-reach" / video["gif"])
    assert 2 <= gif.n_frames <= 41 and gif.size == (16, 16)  # identical frames may merge
    import av

    with av.open(str(tmp_path / "random-reach" / video["mp4"])) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
    assert stream.codec_context.name == "h264" and (stream.width, stream.height) == (16, 16)
    assert len(frames) == 41  # the reset frame and one per step


def test_latency_is_timed_after_warm_up(tmp_path: Path) -> None:
    _, episodes = run(tmp_path, "bad", args="mode=slow,sleep=0.02", episodes=1, warmup=2)
    assert episodes.loc[0, "act_p50_s"] == pytest.approx(0.02, abs=0.015)
    assert episodes.loc[0, "act_calls"] == 40
    assert not math.isnan(episodes.loc[0, "act_p99_s"])


def test_chunk_info_is_kept_as_json_on_the_chunk_first_step(tmp_path: Path) -> None:
    run(tmp_path, "chunky", episodes=1)
    steps = load_run(tmp_path / "chunky-reach").steps()
    import json

    assert json.loads(steps["chunk_info"][0]) == {"source": "chunky", "seen": 2}  # + warm-up
    # Between the two act() calls the policy observed the three queued steps' observations.
    assert json.loads(steps["chunk_info"][4]) == {"source": "chunky", "seen": 6}
    assert pd.isna(steps["chunk_info"][1])


def test_an_interrupted_run_reads_only_committed_episodes(tmp_path: Path) -> None:
    import json

    run(tmp_path, "scripted", episodes=3)
    out = tmp_path / "scripted-reach"
    # What a kill between the two writes of episode 2 leaves: its steps, but no summary row.
    (out / "parts" / "reach" / "000002.episode.json").unlink()
    meta = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps({**meta, "status": "running"}))
    loaded = load_run(out)
    assert not loaded.complete and sorted(loaded.episodes["episode"]) == [0, 1]
    assert sorted(loaded.steps()["episode"].unique()) == [0, 1]
    assert list(loaded.steps(columns=["act_s"]).columns) == ["act_s"]


def test_a_policy_choosing_its_own_chunk_length_resumes(tmp_path: Path) -> None:
    run(tmp_path, "chunky", episodes=1)
    report, episodes = run(tmp_path, "chunky", episodes=2)
    assert (report.ran, report.skipped) == (1, 1) and len(episodes) == 2
    assert load_run(tmp_path / "chunky-reach").record.policy.n_action_steps == 4
