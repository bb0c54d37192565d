"""The env: LeRobot's seeding, a pooled simulation that replays a fresh one, the expert."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from harness.contract import EpisodeSpec, PolicyConfig
from harness.plugins import registry
from harness.registry import load_target


def rollout(task, seed: int, actions: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Meta-World's full observation (hand, objects, goal) after reset and each action, and the
    rewards, without images."""
    env = task.make_env(EpisodeSpec(0, seed), render=False)
    env.reset(seed=seed)
    states, rewards = [env.raw_observation], []
    for action in actions:
        _, reward, *_ = env.step(action)
        states.append(env.raw_observation)
        rewards.append(reward)
    env.close()
    return np.array(states), rewards


ACTIONS = np.random.default_rng(7).uniform(-1, 1, (25, 4))


def test_a_reused_simulation_replays_a_fresh_one() -> None:
    fresh = registry().build_task("push-v3", {"render": "fast"})
    expected = rollout(fresh, 1001, ACTIONS)
    reused = registry().build_task("push-v3", {"render": "fast"})
    rollout(reused, 1000, ACTIONS[::-1])  # another episode first, in the same simulation
    got = rollout(reused, 1001, ACTIONS)
    assert len(reused._idle) == 1  # the same simulation served both episodes
    np.testing.assert_array_equal(got[0], expected[0])
    assert got[1] == expected[1]
    other = rollout(reused, 1002, ACTIONS)
    assert not np.array_equal(other[0][0], expected[0][0])  # seeds do move the objects


def test_render_mode_leaves_physics_alone() -> None:
    canonical = rollout(registry().build_task("push-v3"), 1003, ACTIONS)
    fast = rollout(registry().build_task("push-v3", {"render": "fast"}), 1003, ACTIONS)
    np.testing.assert_array_equal(canonical[0], fast[0])
    assert canonical[1] == fast[1]


def test_initial_states_are_lerobots_for_the_same_seeds() -> None:
    from metaworld_kit import lerobot_env

    task = registry().build_task("pick-place-v3", {"render": "fast"})
    theirs = lerobot_env("pick-place-v3", render="fast")
    try:
        for episode in task.track().episodes[:3]:
            obs_theirs, _ = theirs.reset(seed=episode.seed)
            env = task.make_env(episode, render=False)
            obs, _ = env.reset(seed=episode.seed)
            # The object and goal positions the seed drew, not only the 4-d state.
            np.testing.assert_array_equal(env.raw_observation, theirs._env._get_obs())
            np.testing.assert_array_equal(obs["state"], obs_theirs["agent_pos"].astype(np.float32))
            env.close()
    finally:
        theirs.close()


def test_expert_succeeds_and_success_is_metaworlds() -> None:
    entry = registry().get("task", "reach-v3")
    task = registry().build_task("reach-v3", {"render": "fast"})
    expert = load_target(entry.extra["expert"])(PolicyConfig("scripted"))
    episode = task.track().episodes[0]
    env = task.make_env(episode, render=False)
    obs, _ = env.reset(seed=episode.seed)
    expert.reset(task.spec, episode, env)
    assert obs["images"] == {}  # the expert reads the simulation, so nothing is rendered
    steps, terminated, largest = 0, False, 0.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        while not terminated and steps < task.spec.max_steps:
            action = expert.act(obs).actions[0]
            largest = max(largest, float(np.abs(action).max()))
            obs, _, terminated, _, info = env.step(action)
            steps += 1
    assert info["success"] and terminated
    assert steps < 200
    # Its gains exceed the action bounds (the runner counts the clipping), and Meta-World's
    # warning about that, meant for its own authors, is not shown to users.
    assert largest > 1.0
    assert not [w for w in caught if "may be too high" in str(w.message)]
    # Meta-World's own verdict on the final state agrees.
    _, verdict = env.sim.evaluate_state(env.raw_observation, np.zeros(4))
    assert verdict["success"]
    env.close()


def test_ee_pose_is_the_hand_and_state_is_its_position() -> None:
    task = registry().build_task("push-v3", {"render": "fast"})
    env = task.make_env(EpisodeSpec(0, 1000), render=False)
    env.reset(seed=1000)
    _, _, _, _, info = env.step(np.array([1.0, 0.0, 0.0, -1.0]))
    pose = info["ee_pose"]
    assert pose.shape == (7,)
    np.testing.assert_allclose(np.linalg.norm(pose[3:]), 1.0)
    np.testing.assert_array_equal(pose[:3], env.raw_observation[:3])
    env.close()


@pytest.mark.parametrize("action", [np.zeros(3), np.array([0.0, 0.0, np.nan, 0.0])])
def test_bad_actions_are_refused(action: np.ndarray) -> None:
    task = registry().build_task("push-v3", {"render": "fast"})
    env = task.make_env(EpisodeSpec(0, 1000), render=False)
    env.reset(seed=1000)
    with pytest.raises(ValueError, match="4 finite floats"):
        env.step(action)
    env.close()


def test_actions_reach_metaworld_as_float32_as_from_a_lerobot_policy() -> None:
    """A float64 action moves Meta-World differently (its arithmetic follows the action's
    dtype); LeRobot's policies hand it float32, so ours must too."""
    task = registry().build_task("push-v3", {"render": "fast"})
    ours, _ = rollout(task, 1004, ACTIONS)
    sim = task.make_env(EpisodeSpec(0, 1004), render=False).sim
    float64: list[np.ndarray] = []
    float32: list[np.ndarray] = []
    for dtype, states in ((np.float64, float64), (np.float32, float32)):
        sim.seed(1004)
        states[:] = [sim.reset()[0]]
        states.extend(sim.step(a.astype(dtype))[0] for a in ACTIONS)
    np.testing.assert_array_equal(ours, np.array(float32))
    assert not np.array_equal(ours, np.array(float64))
