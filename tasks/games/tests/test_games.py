"""The games suite: contract shape, determinism, success rules and expert success."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from vla_bench_games import cartpole, lunarlander, snake
from vla_bench_games.base import GameEnv, GameTask

from harness.baselines import RandomPolicy
from harness.contract import EpisodeSpec, PolicyConfig, Task
from harness.plugins import load_plugins
from harness.registry import load_target

TASKS = {
    "lunarlander": lunarlander.make_task,
    "cartpole": cartpole.make_task,
    "cartpole_swing": cartpole.make_swing_task,
    "snake": snake.make_task,
}
EXPERTS = {
    "lunarlander": lunarlander.LunarLanderExpert,
    "cartpole": cartpole.CartPoleExpert,
    "cartpole_swing": cartpole.CartPoleSwingExpert,
    "snake": snake.SnakeExpert,
}


def rollout(
    task: GameTask, policy, episode: EpisodeSpec, *, render: bool = False
) -> tuple[GameEnv, dict, list[np.ndarray], float]:
    """Run one episode to its end; return the env, the last info, the states and the return."""
    env = task.make_env(episode, render=render)
    obs, info = env.reset(seed=episode.seed)
    policy.reset(task.spec, episode, env)
    states, total = [obs["state"]], 0.0
    while True:
        obs, reward, terminated, truncated, info = env.step(policy.act(obs).actions[0])
        states.append(obs["state"])
        total += reward
        if terminated or truncated or info["success"]:
            return env, info, states, total


def test_plugin_registers_the_suite_with_experts() -> None:
    registry = load_plugins().registry
    assert sorted(registry.resolve_tasks("games")) == sorted(TASKS)
    for name in TASKS:
        entry = registry.get("task", name)
        assert entry.extra["suite"] == "games"
        assert isinstance(entry.load()(), Task)
        expert = load_target(entry.extra["expert"])(PolicyConfig(name="scripted"))
        assert expert.privileged and not expert.uses_images and expert.warmup_calls == 0


@pytest.mark.parametrize("name", TASKS)
def test_spec_and_track(name: str) -> None:
    task = TASKS[name]()
    spec = task.spec
    assert spec.suite == "games" and spec.action_space.discrete
    assert not spec.has_ee_pose and not spec.smoothness_applies
    track = task.track()
    assert track.version == "1" and len(track.episodes) == 50
    assert len({e.seed for e in track.episodes}) == 50
    assert track.episodes == task.track().episodes


@pytest.mark.parametrize("name", TASKS)
def test_observation_follows_the_contract(name: str) -> None:
    task = TASKS[name]()
    env = task.make_env(task.track().episodes[0])
    obs, info = env.reset(seed=task.track().episodes[0].seed)
    h, w = task.spec.cameras["front"]
    assert obs["images"]["front"].shape == (h, w, 3)
    assert obs["images"]["front"].dtype == np.uint8
    assert obs["state"].dtype == np.float32
    assert obs["state"].shape == (len(task.spec.state_fields),)
    assert obs["instruction"] == task.spec.instruction
    assert isinstance(obs["state_text"], str) and len(obs["state_text"]) > 40
    assert env.observation_space.contains(obs)
    assert info["success"] is False
    obs, *_ = env.step(np.array([0.0]))
    assert env.observation_space.contains(obs)
    blind = task.make_env(task.track().episodes[0], render=False)
    obs, _ = blind.reset(seed=1)
    assert obs["images"] == {}


@pytest.mark.parametrize("name", TASKS)
def test_same_seed_same_episode_and_render_does_not_change_dynamics(name: str) -> None:
    task = TASKS[name]()
    episode = task.track().episodes[3]
    actions = np.random.default_rng(0).integers(len(task.spec.action_space.names), size=40)

    def trace(render: bool) -> list[tuple]:
        env = task.make_env(episode, render=render)
        obs, _ = env.reset(seed=episode.seed)
        out = [(obs["state"].tobytes(), obs["state_text"], 0.0, obs["images"].get("front"))]
        for a in actions:
            obs, reward, terminated, truncated, _ = env.step(np.array([float(a)]))
            out.append(
                (obs["state"].tobytes(), obs["state_text"], reward, obs["images"].get("front"))
            )
            if terminated or truncated:
                break
        return out

    first, second, blind = trace(True), trace(True), trace(False)
    assert len(first) == len(second) == len(blind)
    for a, b, c in zip(first, second, blind, strict=True):
        assert a[:3] == b[:3] == c[:3]
        assert np.array_equal(a[3], b[3])
    other = task.make_env(episode, render=False)
    start_a = other.reset(seed=episode.seed)[0]["state"]
    start_b = other.reset(seed=episode.seed + 1)[0]["state"]
    if name != "snake":  # snake starts at the centre; its seed moves the heading and food
        assert not np.array_equal(start_a, start_b)


@pytest.mark.parametrize("bad", [np.array([np.nan]), np.array([7.0]), np.array([0.5]), np.zeros(2)])
def test_bad_actions_raise_with_the_expected_shape(bad: np.ndarray) -> None:
    env = cartpole.make_task().make_env(EpisodeSpec(0, 0), render=False)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action index|shape"):
        env.step(bad)
    env.step(2)  # a plain int is fine too
    env.step(np.int64(1))


@pytest.mark.parametrize("name", TASKS)
def test_expert_succeeds_and_random_fails(name: str) -> None:
    task = TASKS[name]()
    expert = EXPERTS[name](PolicyConfig(name="scripted"))
    rand = RandomPolicy(PolicyConfig(name="random"))
    for episode in task.track().episodes[:3]:
        _, info, _, _ = rollout(task, expert, episode)
        assert info["success"], f"{name} expert failed on seed {episode.seed}"
        _, info, _, _ = rollout(task, rand, episode)
        assert not info["success"]


def test_cartpole_success_comes_exactly_at_the_last_step() -> None:
    task = cartpole.make_task()
    env, info, _, total = rollout(
        task, cartpole.CartPoleExpert(PolicyConfig("e")), EpisodeSpec(0, 5)
    )
    assert info["success"] and env.steps == task.spec.max_steps == 500 and total == 500.0
    env = task.make_env(EpisodeSpec(0, 5), render=False)
    env.reset(seed=5)
    for _ in range(499):
        _, _, terminated, _, info = env.step(0)
        if terminated:
            break
    assert terminated and not info["success"]  # doing nothing lets the pole fall


def test_do_nothing_applies_no_force() -> None:
    env = cartpole.CartPoleGame(render=False)
    env.reset(seed=0)
    env.cart.state = np.zeros(4)
    obs, *_ = env.step(0)
    assert np.allclose(obs["state"], 0.0)  # balanced and still: nothing moves
    obs, *_ = env.step(2)
    assert obs["state"][1] > 0 and env.cart.force_mag == 10.0


def test_cartpole_swing_scoring() -> None:
    env = cartpole.CartPoleSwingGame(render=False)
    env.reset(seed=0)

    def at(x: float) -> tuple[float, dict]:
        env.cart.state = np.array([x, 0.0, 0.0, 0.0])
        _, reward, terminated, _, info = env.step(0)
        assert not terminated
        return reward, info

    assert at(0.0)[0] == 1.0
    assert at(1.05) == (
        11.0,
        {"success": False, "action_name": "do nothing", "swings": 0, "touches": 1},
    )
    assert at(1.2)[0] == 1.0  # the same threshold again earns nothing
    assert at(-1.05)[0] == 11.0
    reward, info = at(1.05)
    assert reward == 111.0 and info["swings"] == 1  # right-left-right: one swing
    assert at(-1.05)[0] == 11.0 and at(1.05)[0] == 111.0
    assert env.swings == 2
    obs = env._observe()
    assert "touch next: the left one" in obs["state_text"] and obs["state"][-1] == 2


def test_cartpole_swing_needs_swings_not_just_balance() -> None:
    task = cartpole.make_swing_task()
    balancer = cartpole.CartPoleExpert(PolicyConfig("e"))
    env, info, _, total = rollout(task, balancer, task.track().episodes[0])
    assert env.steps == 2000 and not info["success"] and info["swings"] == 0
    env, info, _, total = rollout(
        task, cartpole.CartPoleSwingExpert(PolicyConfig("e")), task.track().episodes[0]
    )
    assert info["success"] and info["swings"] >= cartpole.SWINGS_FOR_SUCCESS
    assert total >= 2000 + 110 * info["swings"]


def test_cartpole_swing_frame_marks_the_thresholds() -> None:
    env = cartpole.make_swing_task().make_env(EpisodeSpec(0, 0))
    obs, _ = env.reset(seed=0)
    frame = obs["images"]["front"]
    for col in (175, 425):  # 300 +- 1.0 m * 125 px/m
        assert (frame[:, col] == (220, 30, 30)).all()


def test_lunarlander_success_needs_the_pad() -> None:
    task = lunarlander.make_task()
    episode = task.track().episodes[0]

    class OffPad(lunarlander.LunarLanderExpert):
        """The same controller aiming at x = -0.4, outside the flags."""

        def choose(self, observation):
            state = observation["state"].copy()
            state[0] += 0.4
            return super().choose({**observation, "state": state})

    game, info, states, _ = rollout(task, OffPad(PolicyConfig("e")), episode)
    assert isinstance(game, lunarlander.LunarLanderGame)
    body = game.lander.lander
    assert body is not None and not body.awake and not game.lander.game_over  # landed, at rest
    assert abs(states[-1][0]) > lunarlander.FLAG_X and not info["success"]
    env = lunarlander.LunarLanderGame(render=False)
    env.reset(seed=episode.seed)
    for _ in range(1000):
        _, reward, terminated, _, info = env.step(0)
        if terminated:
            break
    assert env.lander.game_over and reward == -100 and not info["success"]  # free fall: crash


def _snake(
    body: list[tuple[int, int]], heading: tuple[int, int], food: tuple[int, int]
) -> snake.SnakeGame:
    env = snake.SnakeGame()
    env.reset(seed=0)
    env.body, env.heading, env.food = deque(body), heading, food
    return env


def test_snake_rules() -> None:
    env = _snake([(5, 5), (4, 5), (3, 5)], (1, 0), (7, 5))
    obs, reward, terminated, _, info = env.step(3)  # "left" would reverse: ignored
    assert env.body[0] == (6, 5) and reward == 0.0 and not terminated
    obs, reward, terminated, _, info = env.step(0)  # continue onto the food
    assert reward == 1.0 and info["length"] == 4 and env.food not in env.body
    assert obs["state"][-1] == 4 and "H" in obs["state_text"]
    env = _snake([(9, 2), (8, 2), (7, 2)], (1, 0), (0, 0))
    _, reward, terminated, _, info = env.step(0)
    assert terminated and reward == -1.0 and not info["success"]  # the wall
    env = _snake([(2, 2), (3, 2), (3, 3), (2, 3), (1, 3)], (0, 1), (9, 9))
    _, reward, terminated, _, info = env.step(2)  # down into its own body
    assert terminated and not info["success"]
    env = _snake([(x, 1) for x in range(9, 0, -1)], (0, -1), (9, 0))  # length 9, food ahead
    _, reward, terminated, _, info = env.step(0)
    assert terminated and info["success"] and info["length"] == snake.TARGET_LENGTH


def test_snake_frame_draws_food_and_head() -> None:
    env = _snake([(5, 5), (4, 5), (3, 5)], (1, 0), (2, 7))
    frame = env._observe()["images"]["front"]
    px = snake.CELL_PX
    centre = lambda c: frame[(c[1] + 1) * px + px // 2, (c[0] + 1) * px + px // 2]  # noqa: E731
    assert tuple(centre((2, 7))) == (220, 30, 30)
    assert tuple(centre((5, 5))) == (10, 90, 10)
    assert tuple(frame[px // 2, px // 2]) == (128, 128, 128)
