"""Each backend end to end on a tiny checkpoint: load, act, chunks, round trip, determinism."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from lerobot_kit import (
    TINY,
    architecture,
    dataset_stats,
    load_policy,
    make_observation,
    make_task,
)
from vla_bench_lerobot.policy import LeRobotPolicy

from harness.contract import EpisodeSpec, PolicyConfig

NAMES = ["act", "diffusion", "smolvla", "pi0", "pi05", "pi0fast"]
# What predict_action_chunk returns: ACT, SmolVLA, π0 and π0.5 their whole chunk_size;
# Diffusion Policy and π0-FAST the n_action_steps they decode.
CHUNK = {"act": 10, "diffusion": 4, "smolvla": 10, "pi0": 10, "pi05": 10, "pi0fast": 5}
SAMPLING = {"diffusion", "smolvla", "pi0", "pi05"}  # draw noise at inference


load = load_policy


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_acts_with_whole_chunks(
    name: str,
    tiny_checkpoint: Callable[[str], Path],
    standins: Path,
    request: pytest.FixtureRequest,
) -> None:
    architecture(name, request)
    task = make_task()
    policy = load(name, tiny_checkpoint(name), standins)
    assert policy.n_action_steps == TINY[name]["n_action_steps"]  # from the checkpoint config
    policy.reset(task, EpisodeSpec(0, 7), None)
    chunk = policy.act(make_observation(task, 1))
    assert chunk.actions.shape == (CHUNK[name], 7)
    assert np.isfinite(chunk.actions).all()
    assert chunk.model_time_s is not None and chunk.model_time_s > 0
    assert chunk.info["chunk_len"] == CHUNK[name]
    described = policy.describe()
    assert described["weights"] == "pretrained"
    assert described["checkpoint"] == str(tiny_checkpoint(name))
    assert described["parameters"] > 0


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_actions_other_seed_differs(
    name: str,
    tiny_checkpoint: Callable[[str], Path],
    standins: Path,
    request: pytest.FixtureRequest,
) -> None:
    architecture(name, request)
    task = make_task()
    policy = load(name, tiny_checkpoint(name), standins)
    obs = make_observation(task, 2)

    def first_chunk(seed: int) -> np.ndarray:
        policy.reset(task, EpisodeSpec(0, seed), None)
        return policy.act(obs).actions

    np.testing.assert_array_equal(first_chunk(3), first_chunk(3))
    if name in SAMPLING:  # ACT and greedy π0-FAST are deterministic at inference
        assert not np.allclose(first_chunk(3), first_chunk(4))


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip_gives_the_same_actions(
    name: str, standins: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    import torch
    from vla_bench_lerobot.backends import BACKENDS

    architecture(name, request)
    from vla_bench_lerobot.loading import build_random, save_checkpoint

    task = make_task()
    torch.manual_seed(1)
    built = build_random(
        BACKENDS[name],
        task,
        "cpu",
        None,
        overrides=TINY[name],
        standins=standins,
        stats=dataset_stats(task),
    )
    in_memory = LeRobotPolicy(PolicyConfig(name=name), built=built)
    save_checkpoint(built, tmp_path / "ckpt")
    reloaded = load(name, tmp_path / "ckpt", standins)
    obs = [make_observation(task, i) for i in range(2)]
    for policy in (in_memory, reloaded):
        policy.reset(task, EpisodeSpec(0, 11), None)
    for o in obs:
        np.testing.assert_allclose(in_memory.act(o).actions, reloaded.act(o).actions, atol=1e-6)


def test_stats_scale_the_actions(tiny_checkpoint: Callable[[str], Path], standins: Path) -> None:
    """The checkpoint's action stats reach the output (unnormalised with mean/std)."""
    import torch

    task = make_task()
    policy = load("act", tiny_checkpoint("act"), standins)
    post = policy._built.postprocessor  # type: ignore[union-attr]
    raw = torch.zeros(1, 3, 7)
    expected = dataset_stats(task)["action"]["mean"].numpy()
    np.testing.assert_allclose(post(raw).numpy()[0, 0], expected, atol=1e-6)


def test_diffusion_uses_observed_history(
    tiny_checkpoint: Callable[[str], Path], standins: Path
) -> None:
    """With observe() on queued steps, n_obs_steps=2 sees the previous observation."""
    task = make_task()
    policy = load("diffusion", tiny_checkpoint("diffusion"), standins)
    a, b = make_observation(task, 5), make_observation(task, 6)

    def chunk(history: list[dict]) -> np.ndarray:
        policy.reset(task, EpisodeSpec(0, 1), None)
        for o in history:
            policy.observe(o)
        return policy.act(b).actions

    np.testing.assert_array_equal(chunk([]), chunk([b]))  # repeated current == no history
    assert not np.allclose(chunk([]), chunk([a]))


def test_random_weights_build_full_size_act_for_the_task() -> None:
    task = make_task()
    policy = LeRobotPolicy(PolicyConfig(name="act", options={"weights": "random"}))
    assert policy.n_action_steps == 100
    policy.reset(task, EpisodeSpec(0, 0), None)
    chunk = policy.act(make_observation(task))
    assert chunk.actions.shape == (100, 7)
    described = policy.describe()
    assert described["weights"] == "random"
    assert described["checkpoint"] == "random:act"
    # ResNet18 backbone (11.2M) + 4+1 layer transformer + 4-layer VAE encoder at width 512.
    assert 45e6 < described["parameters"] < 60e6


def test_random_weights_refuse_a_checkpoint() -> None:
    with pytest.raises(ValueError, match="drop checkpoint"):
        LeRobotPolicy(PolicyConfig(name="act", checkpoint="x/y", options={"weights": "random"}))


def test_unknown_option_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown --policy-args 'camera'"):
        LeRobotPolicy(PolicyConfig(name="act", options={"weights": "random", "camera": "x"}))
