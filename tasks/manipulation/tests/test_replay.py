"""The env's 3D replay artifact: every body's pose at every step, and the geometry to draw."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from manipulation_helpers import TASK_NAMES, expert, task
from vla_bench_manipulation.replay import ARTIFACT, FORMAT


def _frames(replay: dict, key: str, width: int) -> np.ndarray:
    raw = np.frombuffer(base64.b64decode(replay[key]), dtype="<f4")
    return raw.reshape(replay["steps"], len(replay["bodies"]), width)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_replay_holds_every_body_pose_of_the_episode(name: str) -> None:
    t = task(name)
    episode = t.track().episodes[2]
    env = t.make_env(episode, render=False)
    policy = expert(name)
    try:
        obs, _ = env.reset(seed=episode.seed)
        policy.reset(t.spec, episode, env)
        seen = [(env.data.xpos.copy(), env.data.xquat.copy())]
        for _ in range(12):
            obs, _, terminated, _, _ = env.step(policy.act(obs).actions[0])
            seen.append((env.data.xpos.copy(), env.data.xquat.copy()))
            if terminated:
                break
        replay = json.loads(env.episode_artifacts()[ARTIFACT])
        model = env.model
    finally:
        env.close()
    assert replay["format"] == FORMAT
    assert (replay["task"], replay["seed"], replay["instruction"]) == (
        name,
        episode.seed,
        obs["instruction"],
    )
    assert replay["steps"] == len(seen)
    pos, quat = _frames(replay, "pos", 3), _frames(replay, "quat", 4)
    for k, (xpos, xquat) in enumerate(seen):
        assert np.allclose(pos[k], xpos, atol=1e-6), k  # float32 of the simulator's poses
        assert np.allclose(quat[k], xquat, atol=1e-6), k
    assert replay["bodies"] == [model.body(b).name for b in range(model.nbody)]
    drawn = {g["body"] for g in replay["geoms"]}
    assert model.body("hand").id in drawn
    assert {c["name"] for c in replay["cameras"]} == {"front", "wrist"}


def test_replay_draws_only_the_shapes_an_episode_uses() -> None:
    t = task("pick_place")
    env = t.make_env(t.track().episodes[0], render=False)
    try:
        env.reset(seed=t.track().episodes[0].seed)
        replay = json.loads(env.episode_artifacts()[ARTIFACT])
        obj0 = env.model.body("obj0").id
        colour = env.model.geom_rgba[env.model.geom(f"obj0_{env.shape}").id].tolist()
    finally:
        env.close()
    shapes = [g for g in replay["geoms"] if g["body"] == obj0]
    assert len(shapes) == 1  # the other two shapes are parked in the hidden group
    assert np.allclose(shapes[0]["rgba"], colour)


def test_replay_before_any_reset_is_an_error() -> None:
    t = task("valve")
    env = t.make_env(t.track().episodes[0], render=False)
    try:
        with pytest.raises(RuntimeError, match="reset the env"):
            env.episode_artifacts()
    finally:
        env.close()
