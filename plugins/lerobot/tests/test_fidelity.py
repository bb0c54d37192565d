"""Execution options against LeRobot's own pipeline: ACT's temporal ensembling and Diffusion
Policy with more executed actions than its checkpoint's, run as ``lerobot-eval`` runs them
(``--policy.temporal_ensemble_coeff`` / ``--policy.n_action_steps``), step by step."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lerobot_kit import make_observation, make_task
from vla_bench_lerobot.policy import LeRobotPolicy

from harness.contract import EpisodeSpec, PolicyConfig, PolicyConfigError

STEPS = 8


def lerobot_actions(
    checkpoint: Path, observations: list[dict[str, Any]], seed: int, **config_fields: Any
) -> np.ndarray:
    """LeRobot's evaluation loop: ``select_action`` on every step between its own pre- and
    post-processors, with the config fields an evaluator would override."""
    import torch
    from lerobot.configs import PreTrainedConfig
    from lerobot.policies.factory import get_policy_class, make_pre_post_processors

    config = PreTrainedConfig.from_pretrained(checkpoint)
    for key, value in config_fields.items():
        setattr(config, key, value)
    policy = get_policy_class(config.type).from_pretrained(checkpoint, config=config).eval()
    pre, post = make_pre_post_processors(config, pretrained_path=str(checkpoint))
    policy.reset()
    torch.manual_seed(seed)
    out = []
    for obs in observations:
        batch = {
            f"observation.images.{camera}": torch.from_numpy(image).permute(2, 0, 1).float() / 255
            for camera, image in obs["images"].items()
        }
        batch["observation.state"] = torch.from_numpy(obs["state"])
        batch["task"] = obs["instruction"]
        with torch.inference_mode():
            action = policy.select_action(pre(batch))
        out.append(post(action).numpy()[0])
    return np.array(out, dtype=np.float64)


def executed(policy: LeRobotPolicy, observations: list[dict[str, Any]]) -> np.ndarray:
    """What the runner executes: ``act`` when a chunk's first ``n_action_steps`` are used up,
    ``observe`` on the steps in between."""
    task = make_task()
    policy.reset(task, EpisodeSpec(0, 9), None)
    out, chunk = [], np.empty((0, 7))
    for k, obs in enumerate(observations):
        n = policy.n_action_steps or 1
        if k % n == 0:
            chunk = policy.act(obs).actions
        else:
            policy.observe(obs)
        out.append(chunk[k % n])
    return np.array(out)


def episode_seed() -> int:
    """The torch seed the plugin derives for --seed 0, episode seed 9 (as reset does)."""
    return int(np.random.SeedSequence([0, 9]).generate_state(1)[0])


def observations() -> list[dict[str, Any]]:
    task = make_task()
    return [make_observation(task, 100 + k) for k in range(STEPS)]


def test_act_temporal_ensembling_matches_lerobot(
    tiny_checkpoint: Callable[[str], Path], tmp_path: Path
) -> None:
    ckpt = tiny_checkpoint("act")
    obs = observations()
    policy = LeRobotPolicy(
        PolicyConfig("act", checkpoint=str(ckpt), options={"temporal_ensemble_coeff": "0.01"})
    )
    assert policy.n_action_steps == 1
    assert policy.describe()["temporal_ensemble_coeff"] == 0.01
    got = executed(policy, obs)
    reference = lerobot_actions(ckpt, obs, 0, temporal_ensemble_coeff=0.01, n_action_steps=1)
    np.testing.assert_allclose(got, reference, atol=1e-6)
    # ensembling changes actions from the second step on (so a silent drop would show)
    plain = lerobot_actions(ckpt, obs, 0, n_action_steps=1)
    np.testing.assert_allclose(plain[0], reference[0], atol=1e-6)
    assert np.abs(plain[1:] - reference[1:]).max() > 1e-3
    # a checkpoint that was saved with ensembling on is run with it
    saved = tmp_path / "ensembled"
    shutil.copytree(ckpt, saved)
    config = json.loads((saved / "config.json").read_text())
    (saved / "config.json").write_text(
        json.dumps({**config, "temporal_ensemble_coeff": 0.01, "n_action_steps": 1})
    )
    from_config = LeRobotPolicy(PolicyConfig("act", checkpoint=str(saved)))
    np.testing.assert_allclose(executed(from_config, obs), reference, atol=1e-6)


def test_diffusion_runs_the_n_action_steps_asked_for(
    tiny_checkpoint: Callable[[str], Path],
) -> None:
    """The checkpoint executes 4 of its 8-step horizon; asked for 6, the model predicts and the
    run executes 6 (LeRobot slices the horizon at n_action_steps), as lerobot-eval would."""
    ckpt = tiny_checkpoint("diffusion")
    obs = observations()
    policy = LeRobotPolicy(
        PolicyConfig("diffusion", checkpoint=str(ckpt), options={"n_action_steps": "6"})
    )
    assert policy.n_action_steps == 6 and policy.describe()["n_action_steps"] == 6
    got = executed(policy, obs)
    reference = lerobot_actions(ckpt, obs, episode_seed(), n_action_steps=6)
    np.testing.assert_allclose(got, reference, atol=1e-5)
    as_saved = lerobot_actions(ckpt, obs, episode_seed())  # n_action_steps 4: re-plans at 4
    np.testing.assert_allclose(as_saved[:4], reference[:4], atol=1e-5)
    assert np.abs(as_saved[4:6] - reference[4:6]).max() > 1e-3


def test_execution_options_the_model_cannot_honour_are_refused(
    tiny_checkpoint: Callable[[str], Path],
) -> None:
    cases = [
        ("diffusion", {"n_action_steps": "8"}, "n_action_steps=1..7"),
        ("act", {"n_action_steps": "11"}, "n_action_steps=1..10"),
        ("act", {"temporal_ensemble_coeff": "0.01", "n_action_steps": "5"}, "executes one"),
        ("diffusion", {"temporal_ensemble_coeff": "0.01"}, "applies to ACT"),
        ("act", {"temporal_ensemble_coeff": "x"}, "must be a number"),
    ]
    for name, options, problem in cases:
        with pytest.raises(PolicyConfigError, match=problem):
            LeRobotPolicy(
                PolicyConfig(name, checkpoint=str(tiny_checkpoint(name)), options=options)
            )


def test_precision_is_lerobot_evals_and_recorded(tiny_checkpoint: Callable[[str], Path]) -> None:
    """On a CPU nothing changes (lerobot-eval's TF32 and autocast are CUDA settings here); the
    choice is recorded either way (the CUDA path is checked on a GPU: benchmarks/)."""
    policy = LeRobotPolicy(PolicyConfig("act", checkpoint=str(tiny_checkpoint("act"))))
    assert policy.describe()["precision"] == {
        "tf32_matmul": False,
        "autocast": False,
        "checkpoint_use_amp": False,
    }
