"""The scripted experts solve their tasks; random actions do not (full tracks: the benchmark)."""

from __future__ import annotations

import pytest
from manipulation_helpers import TASK_NAMES, expert, task
from vla_bench_manipulation.rollout import rollout

from harness.baselines import RandomPolicy
from harness.contract import PolicyConfig


@pytest.mark.parametrize("name", TASK_NAMES)
def test_expert_solves_several_episodes(name: str) -> None:
    t = task(name)
    policy = expert(name)
    for episode in t.track().episodes[:10]:
        result = rollout(t, policy, episode)
        assert result.success, (episode, result.instruction, result.failure, result.infos[-1])
        assert result.steps < t.spec.max_steps


@pytest.mark.parametrize("name", TASK_NAMES)
def test_random_actions_do_not_solve_the_task(name: str) -> None:
    t = task(name)
    policy = RandomPolicy(PolicyConfig("random"))
    results = [rollout(t, policy, e) for e in t.track().episodes[:3]]
    assert not any(r.success for r in results)
    assert all(r.failure is None for r in results), [r.failure for r in results]


@pytest.mark.parametrize("name", TASK_NAMES)
def test_expert_needs_the_env(name: str) -> None:
    t = task(name)
    with pytest.raises(ValueError, match="needs the env"):
        expert(name).reset(t.spec, t.track().episodes[0], None)
    other = next(n for n in TASK_NAMES if n != name)
    env = task(other).make_env(t.track().episodes[0], render=False)
    with pytest.raises(TypeError, match="expert drives"):
        expert(name).reset(t.spec, t.track().episodes[0], env)
    env.close()
