"""What a LeRobot policy sees and scores here is what lerobot-eval gives it, to the last bit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.contract import EpisodeSpec
from harness.plugins import registry

EPISODES = 2


def test_first_observation_is_lerobots_processed_observation() -> None:
    """Canonical rendering: image, flip, state and text as lerobot-eval hands them over."""
    import torch
    from lerobot.envs.utils import preprocess_observation
    from metaworld_kit import lerobot_env
    from vla_bench_lerobot.adapter import PolicyFeatures, build_adapter

    task = registry().build_task("push-v3")
    theirs = lerobot_env("push-v3")
    try:
        raw, _ = theirs.reset(seed=1000)
        action = np.array([0.5, -0.25, 0.75, 1.0], dtype=np.float32)
        raw_next, *_ = theirs.step(action)
        unflipped = theirs._env.render()
    finally:
        theirs.close()
    # lerobot-eval batches the env's numpy observation, then preprocess_observation renames it
    processed = preprocess_observation({k: v[None] for k, v in raw_next.items()})
    env = task.make_env(EpisodeSpec(0, 1000))
    obs, _ = env.reset(seed=1000)
    np.testing.assert_array_equal(obs["images"]["corner2"], raw["pixels"])
    obs, *_ = env.step(action.astype(np.float64))
    env.close()
    image = obs["images"]["corner2"]
    assert image.shape == (480, 480, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, raw_next["pixels"])
    np.testing.assert_array_equal(image, unflipped[::-1, ::-1])  # flipped on both axes
    assert not np.array_equal(image, unflipped)
    assert obs["state"].dtype == np.float32
    np.testing.assert_array_equal(obs["state"], processed["observation.state"][0].numpy())
    assert obs["instruction"] == theirs.task_description

    # Our LeRobot backend matches LeRobot's feature names and makes the same tensors.
    features = PolicyFeatures(
        images={"observation.image": (3, 480, 480)}, state_dim=4, action_dim=4
    )
    adapter = build_adapter(task.spec, features, {}, "a Meta-World checkpoint")
    batch = adapter.batch(obs)
    assert torch.equal(batch["observation.image"], processed["observation.image"][0])
    assert torch.equal(batch["observation.state"], processed["observation.state"][0])


@pytest.mark.slow
@pytest.mark.timeout(1200)  # ~40 s on a quiet 2-core machine; minutes when it is shared
def test_bench_run_scores_what_lerobot_eval_scores(tmp_path: Path) -> None:
    """A tiny random ACT on push-v3, episodes 0 and 1 (seeds 1000, 1001), both ways.

    ``render=fast`` on both sides (LeRobot's env gets the same two settings), since a canonical
    480x480 frame costs ~150 ms on this CPU; the canonical frame itself is compared above.
    lerobot-eval runs with ``eval.batch_size=1``: a batch of 2 changes its own float32 model
    outputs in the last bits, and so its rewards, while each of our episodes is a batch of 1.
    Both sides run torch on one thread: a float32 matmul split over another number of threads
    sums in another order, and the rewards of a 500-step episode drift apart in the last bits.
    """
    import einops
    import torch
    from lerobot.configs.policies import PreTrainedConfig
    from lerobot.envs.configs import MetaworldEnv
    from lerobot.envs.factory import make_env, make_env_pre_post_processors
    from lerobot.policies.factory import make_policy, make_pre_post_processors
    from lerobot.scripts.lerobot_eval import eval_policy_all
    from lerobot.utils.random_utils import set_seed
    from metaworld_kit import tiny_act_checkpoint
    from vla_bench_metaworld.sim import set_render_mode

    checkpoint = tiny_act_checkpoint(tmp_path / "ckpt")
    out = tmp_path / "run"
    ours = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            "--policy",
            "lerobot",
            "--policy-args",
            f"checkpoint={checkpoint}",
            "--task",
            "push-v3",
            "--task-args",
            "render=fast",
            "--episodes",
            str(EPISODES),
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # lerobot-eval's eval_main, in process: same builders, same eval loop, --seed 1000.
        env_config = MetaworldEnv(task="push-v3")
        policy_config = PreTrainedConfig.from_pretrained(checkpoint)
        policy_config.pretrained_path = checkpoint
        policy_config.device = "cpu"
        set_seed(1000)
        envs = make_env(env_config, n_envs=1, use_async_envs=True)
        for sub_env in envs["push-v3"][0].envs:
            sub_env._ensure_env()
            set_render_mode(sub_env._env, "fast")
        policy = make_policy(cfg=policy_config, env_cfg=env_config, rename_map={})
        policy.eval()
        preprocessor, postprocessor = make_pre_post_processors(
            policy_cfg=policy_config,
            pretrained_path=str(checkpoint),
            preprocessor_overrides={
                "device_processor": {"device": "cpu"},
                "rename_observations_processor": {"rename_map": {}},
            },
        )
        env_pre, env_post = make_env_pre_post_processors(env_config, policy_config)
        with torch.no_grad():
            info = eval_policy_all(
                envs=envs,
                policy=policy,
                env_preprocessor=env_pre,
                env_postprocessor=env_post,
                preprocessor=preprocessor,
                postprocessor=postprocessor,
                n_episodes=EPISODES,
                start_seed=1000,
            )
        theirs = info["per_task"][0]["metrics"]
        assert envs["push-v3"][0].call("_max_episode_steps")[0] == 500
    finally:
        torch.set_num_threads(threads)
        output, _ = ours.communicate(timeout=600)
    assert ours.returncode == 0, output

    episodes = pd.read_parquet(out / "episodes.parquet").sort_values("episode")
    steps = pd.read_parquet(out / "steps.parquet")
    assert episodes["seed"].tolist() == [1000, 1001]
    for i, row in enumerate(episodes.to_dict("records")):
        rewards = steps[steps["episode"] == row["episode"]].sort_values("step")["reward"]
        assert len(rewards) == row["steps"] <= 500
        # sum_reward as lerobot-eval computes it (a torch float64 reduction over the episode)
        tensor = torch.from_numpy(rewards.to_numpy(dtype=np.float64))[None]
        assert einops.reduce(tensor, "b n -> b", "sum").item() == theirs["sum_rewards"][i]
        assert rewards.max() == theirs["max_rewards"][i]
        assert (row["outcome"] == "success") == theirs["successes"][i]
        # our running sum differs from torch's blocked sum only by rounding order
        assert row["episode_return"] == pytest.approx(theirs["sum_rewards"][i], rel=1e-13, abs=0)
