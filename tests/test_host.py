"""The policy host: one shared policy, many sessions, dynamic batching, isolated state."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from toyplugin import LinearPolicy

from harness.contract import EpisodeSpec, PolicyConfig
from harness.host import PolicyHost
from harness.plugins import registry
from harness.record import RunSettings
from harness.results import load_run
from harness.run import execute


def _observations(n: int, seed: int) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    return [{"state": rng.normal(size=3).astype(np.float32)} for _ in range(n)]


def _alone(observations: list[dict[str, object]]) -> list[np.ndarray]:
    policy = LinearPolicy(PolicyConfig("linear"))
    spec = registry().build_task("reach").spec
    policy.reset(spec, EpisodeSpec(0, 0), None)
    return [policy.act(o).actions for o in observations]


def test_sessions_batched_together_get_what_they_would_get_alone() -> None:
    spec = registry().build_task("reach").spec
    host = PolicyHost(LinearPolicy(PolicyConfig("linear")), max_batch=4, max_wait_s=0.2)
    streams = {i: _observations(5, seed=i) for i in range(4)}
    answers: dict[int, list[np.ndarray]] = {}

    def session(i: int) -> None:
        s = host.open()
        s.reset(spec, EpisodeSpec(i, i), None)
        answers[i] = [s.act(o).actions for o in streams[i]]

    threads = [threading.Thread(target=session, args=(i,)) for i in streams]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    host.close()
    assert max(host.batches) > 1, "the sessions were never batched"
    for i, stream in streams.items():
        for got, want in zip(answers[i], _alone(stream), strict=True):
            np.testing.assert_array_equal(got, want)


def test_a_session_error_is_charged_to_that_session_alone() -> None:
    spec = registry().build_task("reach").spec
    host = PolicyHost(LinearPolicy(PolicyConfig("linear")), max_batch=2, max_wait_s=0.2)
    good, bad = host.open(), host.open()
    for s in (good, bad):
        s.reset(spec, EpisodeSpec(0, 0), None)
    results: dict[str, object] = {}

    def ask(name: str, session: object, obs: dict[str, object]) -> None:
        try:
            results[name] = session.act(obs)  # type: ignore[attr-defined]
        except Exception as exc:
            results[name] = exc

    obs = _observations(1, 0)[0]
    threads = [
        threading.Thread(target=ask, args=("good", good, obs)),
        threading.Thread(target=ask, args=("bad", bad, {"state": "not numbers"})),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    host.close()
    assert isinstance(results["bad"], ValueError)
    np.testing.assert_array_equal(results["good"].actions, _alone([obs])[0])  # type: ignore[union-attr]


def test_two_workers_sharing_one_host_give_bit_identical_results(tmp_path: Path) -> None:
    # Each forward pass takes 10 ms, and every reach episode is run, so that one worker alone
    # needs seconds: the two are busy at once even when the second starts late on a loaded
    # machine (without the wait, one worker once ran every episode before the other began).
    config = PolicyConfig("linear", options={"think_ms": "10"})
    execute(config, "reach", RunSettings(episodes=12), tmp_path / "one", ["t"])
    settings = RunSettings(episodes=12, workers=2, max_batch=2, max_wait_ms=200)
    execute(config, "reach", settings, tmp_path / "two", ["t"])
    one, two = load_run(tmp_path / "one"), load_run(tmp_path / "two")
    columns = ["episode", "seed", "outcome", "steps", "episode_return", "obs_state_digest"]
    pd.testing.assert_frame_equal(one.episodes[columns], two.episodes[columns])
    steps = ["episode", "step", "action", "reward", "ee_x", "ee_y", "ee_z"]
    pd.testing.assert_frame_equal(one.steps()[steps], two.steps()[steps])
    sizes = [json.loads(i).get("batch_size", 1) for i in two.steps()["chunk_info"].dropna()]
    assert max(sizes) == 2, "the two workers' observations were never answered in one batch"


def test_a_policy_without_fork_cannot_be_shared() -> None:
    from harness.baselines import RandomPolicy

    with pytest.raises(TypeError, match="has no fork"):
        PolicyHost(RandomPolicy(PolicyConfig("random")))
