"""bench train --algo: the judge-mixed reward, pickle-free checkpoints, bench run --policy sb3."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from vla_bench_rewards.judges.reference import ConstantJudge
from vla_bench_rewards.rl.checkpoint import load_policy
from vla_bench_rewards.rl.env import EVAL_SEED_BASE, JudgeReward, TaskEnv, rollout
from vla_bench_rewards.rl.train import TrainConfig, train

from harness.cli import main as bench


def test_the_judge_reward_is_mixed_as_the_report_does() -> None:
    alpha, judged = 0.25, 2.0
    plain = TaskEnv("lunarlander", seed=1)
    shaped = JudgeReward(
        TaskEnv("lunarlander", seed=1, render=True), ConstantJudge({"value": str(judged)}), alpha
    )
    plain.reset(seed=7)
    shaped.reset(seed=7)
    for action in [2, 2, 1, 0, 3, 2] * 5:
        _, r_env, *_ = plain.step(action)
        _, r_mix, _, _, info = shaped.step(action)
        assert info["env_reward"] == pytest.approx(r_env)
        assert r_mix == pytest.approx((1 - alpha) * r_env + alpha * judged)
    assert shaped.stats.judge_calls == 30
    with pytest.raises(ValueError, match="between 0 and 1"):
        JudgeReward(plain, ConstantJudge({}), 1.5)


@pytest.mark.parametrize("algo", ["dqn", "ppo"])
def test_a_checkpoint_reloads_to_the_same_greedy_agent(
    algo: str, tmp_path: Path, monkeypatch
) -> None:
    config = TrainConfig(algo=algo, task="cartpole", timesteps=512, eval_every=256, eval_episodes=2)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    summary = train(config, tmp_path / "ckpt")
    # SB3 leaves no log folder behind (torch may keep its shared compile cache there)
    assert list(scratch.glob("SB3-*")) == []
    files = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert files == ["policy.safetensors", "sb3.json", "training.json"]  # no pickle anywhere
    assert [row["timesteps"] for row in summary["curve"]] == [256, 512]
    policy, meta, training = load_policy(tmp_path / "ckpt")
    assert (meta.algo, meta.task, meta.observation_dim, meta.n_actions) == (algo, "cartpole", 4, 3)
    env = TaskEnv("cartpole")
    returns = [rollout(policy, env, EVAL_SEED_BASE + i)[0] for i in range(2)]
    # the reloaded weights replay the final evaluation exactly
    assert returns == summary["curve"][-1]["returns"] == training["curve"][-1]["returns"]
    with pytest.raises(ValueError, match="already holds a trained agent"):
        train(config, tmp_path / "ckpt")


def test_bench_train_then_bench_run_with_the_sb3_policy(tmp_path: Path) -> None:
    ckpt = tmp_path / "dqn"
    trained = CliRunner().invoke(
        bench,
        ["train", "--algo", "dqn", "--task", "cartpole", "--timesteps", "320", "--reward-judge",
         "constant", "--judge-args", "value=1", "--alpha", "0.15", "-o", str(ckpt)],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    record = json.loads((ckpt / "training.json").read_text())
    assert record["reward"]["kind"] == "judge" and record["reward"]["alpha"] == 0.15
    assert record["reward"]["judge_calls"] == record["timesteps"] == 320
    assert record["origin"] == "trained"
    out = tmp_path / "run"
    ran = CliRunner().invoke(
        bench,
        ["run", "--policy", "sb3", "--policy-args", f"checkpoint={ckpt}", "--task", "cartpole",
         "--episodes", "2", "--out", str(out)],
    )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    episodes = pd.read_parquet(out / "episodes.parquet")
    assert len(episodes) == 2 and set(episodes.outcome) <= {"success", "terminated", "timeout"}
    meta = json.loads((out / "run.json").read_text())
    assert meta["policy"]["describe"]["weights"] == "trained"
    assert meta["policy"]["describe"]["reward"] == "judge"
    wrong = CliRunner().invoke(
        bench,
        ["run", "--policy", "sb3", "--policy-args", f"checkpoint={ckpt}", "--task",
         "cartpole_swing", "--episodes", "1", "--out", str(tmp_path / "wrong")],
    )  # fmt: skip
    errors = pd.read_parquet(tmp_path / "wrong" / "episodes.parquet")
    # the episode ends with the reason; the command fails because nothing but errors ran
    assert errors.outcome.tolist() == ["policy_error"]
    assert wrong.exit_code == 1 and "no episode succeeded" in wrong.output
    assert "trained on 'cartpole', not 'cartpole_swing'" in errors.error.iloc[0]
    missing = CliRunner().invoke(bench, ["run", "--policy", "sb3", "--task", "cartpole"])
    assert missing.exit_code != 0 and "needs a checkpoint" in missing.output


def test_bench_train_algo_names_the_missing_plugin(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "vla_bench_rewards.cli", None)  # as if not installed
    out = CliRunner().invoke(
        bench, ["train", "--algo", "ppo", "--task", "cartpole", "-o", str(tmp_path / "x")]
    )
    assert out.exit_code != 0 and "pip install vla-bench-rewards" in out.output
    rl = CliRunner().invoke(bench, ["train", "-o", str(tmp_path / "y")])
    assert rl.exit_code != 0 and "--algo and --task" in rl.output


def test_a_continuous_task_is_refused_for_rl() -> None:
    with pytest.raises(ValueError, match="continuous action space"):
        TaskEnv("valve")
    assert np.isfinite(TaskEnv("snake").reset(seed=1)[0]).all()


def test_a_judge_budget_stops_training_and_keeps_a_whole_checkpoint(keys, tmp_path: Path) -> None:
    from vla_bench_claude.standin import AnthropicStandIn, serve

    standin = AnthropicStandIn(expected_key=keys["anthropic"])
    with serve(standin) as url:
        # a cartpole frame is ~320 image tokens: under $0.001 a call at Haiku 4.5's prices
        judge_args = f"base_url={url},model=claude-haiku-4-5,max_cost=0.002"
        config = TrainConfig(
            algo="dqn",
            task="cartpole",
            timesteps=2000,
            reward_judge="claude",
            judge_args=judge_args,
            eval_episodes=1,
        )
        summary = train(config, tmp_path / "ckpt")
    reward = summary["reward"]
    assert summary["status"] == "stopped" and "max_cost" in summary["status_detail"]
    assert 0 < reward["judge_calls"] == len(standin.requests) < 10
    per_call = reward["judge_cost_usd"] / reward["judge_calls"]
    assert reward["judge_cost_usd"] < 0.002 + per_call
    assert summary["timesteps"] == reward["judge_calls"]  # the step the judge refused is not kept
    load_policy(tmp_path / "ckpt")  # the checkpoint of a stopped run is whole
