"""bench run --keyframes: which frames are kept, what the index says, that it matches the run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from harness.keyframes import KeyframeRecorder, read_episode, read_keyframes


def _frame(step: int) -> np.ndarray:
    img = np.zeros((4, 6, 3), np.uint8)
    img[0, 0] = (step % 256, step // 256, 7)  # the step, readable back from the PNG
    return img


def test_k_frames_evenly_spaced_first_and_last_kept_in_bounded_memory(tmp_path: Path) -> None:
    rec = KeyframeRecorder(tmp_path, "toy", 3, 5, state_fields=("a", "b"))
    peak = 0
    for step in range(1001):
        obs = {"images": {"front": _frame(step)}, "state": [step, -step], "state_text": f"s{step}"}
        rec.step(step, obs, 1.0 if step else 0.0, step == 1000, {"touches": step // 100, "x": "y"})
        peak = max(peak, len(rec._kept))
    assert peak <= 2 * 5 + 1  # never more than 2K frames held
    folder = rec.write()
    episode = read_episode(folder)
    steps = [f.step for f in episode.frames]
    assert steps[0] == 0 and steps[-1] == 1000 and len(steps) == 5
    for got, want in zip(steps, [0, 250, 500, 750, 1000], strict=True):
        assert abs(got - want) <= 1000 / (2 * 5)  # within one recording stride of even
    for frame in episode.frames:
        pixel = frame.image()[0, 0]
        assert int(pixel[0]) + 256 * int(pixel[1]) == frame.step  # the frame of that step
        assert frame.state == (frame.step, -frame.step) and frame.state_text == f"s{frame.step}"
        assert frame.ret == frame.step and frame.info == {"touches": frame.step // 100}
        assert episode.named_state(frame) == {"a": frame.step, "b": -frame.step}
    assert [f.success for f in episode.frames] == [False] * 4 + [True]
    one = KeyframeRecorder(tmp_path / "one", "toy", 0, 1)
    for step in range(7):
        one.step(step, {"images": {"front": _frame(step)}}, 0.0, False, {})
    assert [e.step for e in one.chosen()] == [6]  # K = 1: the last frame


def test_bench_run_stores_keyframes_that_agree_with_the_recorded_steps(runs) -> None:
    for run in runs.values():
        stored = list(read_keyframes(run))
        episodes = pd.read_parquet(run / "episodes.parquet")
        steps = pd.read_parquet(run / "steps.parquet")
        assert len(stored) == len(episodes)
        for episode in stored:
            row = episodes[episodes.episode == episode.episode].iloc[0]
            assert episode.frames[0].step == 0
            assert episode.frames[-1].step == row.steps  # the last frame is the final one
            assert episode.frames[-1].success == bool(row.success)
            assert episode.frames[-1].ret == row.episode_return
            rewards = steps[steps.episode == episode.episode].reward.to_numpy()
            for frame in episode.frames:
                assert frame.ret == rewards[: frame.step].sum()
            # the recorded state is the observation the policy saw at that step
            assert episode.state_fields[2] == "pole_angle"
            assert "Pole angle" in (episode.frames[0].state_text or "")
            assert episode.frames[0].image().shape == (400, 600, 3)
        index = json.loads((stored[0].frames[0].folder / "index.json").read_text())
        assert index["instruction"].startswith("Keep the pole balanced")
