"""One model for many episodes: fork() sessions and act_batch through the policy host."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from lerobot_kit import architecture, load_policy, make_observation, make_task
from vla_bench_lerobot.policy import LeRobotPolicy

from harness.contract import EpisodeSpec, Observation, PolicyConfig, TaskSpec
from harness.host import PolicyHost

load = load_policy


def alone(policy: LeRobotPolicy, task: TaskSpec, seed: int, observation: Observation) -> np.ndarray:
    """The chunk a fresh session with episode seed ``seed`` answers to ``observation``."""
    session = policy.fork()
    session.reset(task, EpisodeSpec(0, seed), None)
    return session.act(observation).actions


def test_act_batch_answers_each_session_as_it_would_be_answered_alone(
    tiny_checkpoint: Callable[[str], Path], standins: Path
) -> None:
    task = make_task()
    policy = load("act", tiny_checkpoint("act"), standins)
    observations = [make_observation(task, i) for i in range(4)]
    sessions = [policy.fork() for _ in observations]
    for i, session in enumerate(sessions):
        session.reset(task, EpisodeSpec(i, 10 + i), None)
        assert session._built is policy._built  # one model in memory
    batched = policy.act_batch(sessions, observations)
    for i, (chunk, obs) in enumerate(zip(batched, observations, strict=True)):
        reference = alone(policy, task, 10 + i, obs)
        # a batched matmul may round differently in the last bits; nothing more
        np.testing.assert_allclose(chunk.actions, reference, rtol=1e-5, atol=1e-6)
        assert chunk.actions.shape == reference.shape
    # a batch answered the observations in order: swapping them swaps the answers
    swapped = policy.act_batch(sessions[:2], observations[1::-1])
    np.testing.assert_allclose(swapped[0].actions, batched[1].actions, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["diffusion", "smolvla"])
def test_sampling_sessions_draw_their_own_noise_whoever_shares_the_batch(
    name: str,
    tiny_checkpoint: Callable[[str], Path],
    standins: Path,
    request: pytest.FixtureRequest,
) -> None:
    architecture(name, request)
    task = make_task()
    policy = load(name, tiny_checkpoint(name), standins)
    obs = make_observation(task, 3)
    reference = alone(policy, task, 5, obs)
    sessions = [policy.fork() for _ in range(3)]
    for i, session in enumerate(sessions):
        session.reset(task, EpisodeSpec(i, 5 if i == 0 else 100 + i), None)
    chunks = policy.act_batch(sessions, [obs, obs, obs])
    np.testing.assert_array_equal(chunks[0].actions, reference)
    assert not np.allclose(chunks[1].actions, chunks[2].actions)  # other seeds, other noise


def test_a_host_serves_many_threads_with_one_act_model(
    tiny_checkpoint: Callable[[str], Path], standins: Path
) -> None:
    task = make_task()
    policy = load("act", tiny_checkpoint("act"), standins)
    observations = [make_observation(task, i) for i in range(6)]
    expected = [alone(policy, task, i, o) for i, o in enumerate(observations)]
    host = PolicyHost(policy, max_batch=6, max_wait_s=0.5)
    got: dict[int, object] = {}

    def episode(i: int) -> None:
        session = host.open()
        session.reset(task, EpisodeSpec(i, i), None)
        got[i] = session.act(observations[i])
        host.release(session)

    threads = [threading.Thread(target=episode, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    host.close()
    sizes = [got[i].info.get("batch_size", 1) for i in range(6)]  # type: ignore[attr-defined]
    assert max(sizes) > 1, sizes  # answered together
    for i in range(6):
        np.testing.assert_allclose(got[i].actions, expected[i], rtol=1e-5, atol=1e-6)  # type: ignore[attr-defined]


def test_random_weights_sessions_share_one_model(standins: Path) -> None:
    task = make_task()
    policy = LeRobotPolicy(PolicyConfig(name="act", options={"weights": "random"}))
    first, second = policy.fork(), policy.fork()
    first.reset(task, EpisodeSpec(0, 0), None)
    second.reset(task, EpisodeSpec(1, 1), None)
    assert first._built is second._built
