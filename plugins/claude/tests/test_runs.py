"""Whole runs through the engine's runner and CLI, against loopback stand-ins."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from vla_bench_claude.standin import AnthropicStandIn, OpenAIStandIn, serve

from harness.cli import main as bench
from harness.contract import PolicyConfig
from harness.record import RunSettings
from harness.results import load_run
from harness.run import execute


def test_a_run_stops_cleanly_at_max_cost_and_never_stores_the_key(
    keys: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    standin = AnthropicStandIn(expected_key=keys["anthropic"], script=("429",), retry_after_s=0.05)
    out = tmp_path / "run"
    with serve(standin, max_requests=500) as url:
        # ~850 input tokens a call at $10/Mtok: about $0.009 a call, ~$0.3 an episode
        args = f"base_url={url},model=claude-haiku-4-5,max_cost=0.45,price_in=10,price_out=10"
        config = PolicyConfig.parse_args("claude", args)
        report = execute(config, "cartpole", RunSettings(episodes=3), out, ["test"])
    assert report.status == "stopped" and "max_cost $0.45 reached" in str(report.detail)
    run = load_run(out)
    episodes = run.episodes
    assert len(episodes) == report.ran == 1  # the interrupted second episode is not kept
    assert episodes["cost_usd"].sum() < 0.45 and episodes["input_tokens"].iloc[0] > 0
    assert episodes["act_calls"].iloc[0] == episodes["steps"].iloc[0]
    answered = [r for r in standin.requests if r.status == 200]
    assert len(answered) > episodes["act_calls"].iloc[0]  # it stopped inside episode 2
    assert [r.status for r in standin.requests][:2] == [429, 200]
    key = keys["anthropic"].encode()
    stored = [p for p in out.rglob("*") if p.is_file()]
    assert stored and not [p for p in stored if key in p.read_bytes()]
    assert keys["anthropic"] not in caplog.text


def test_max_cost_holds_for_the_whole_run_across_worker_processes(
    keys: dict[str, str], tmp_path: Path
) -> None:
    """Two workers share one budget: together they stop at it, not at twice it."""
    standin = AnthropicStandIn(expected_key=keys["anthropic"])
    out = tmp_path / "run"
    budget = 0.2
    with serve(standin, max_requests=500) as url:
        args = f"base_url={url},model=claude-haiku-4-5,max_cost={budget},price_in=10,price_out=10"
        config = PolicyConfig.parse_args("claude", args)
        report = execute(config, "cartpole", RunSettings(episodes=4, workers=2), out, ["test"])
    assert report.status == "stopped" and f"max_cost ${budget:.2f} reached" in str(report.detail)
    spent = load_run(out).record.latest.spent_usd
    answered = [r for r in standin.requests if r.status == 200]
    per_call = spent / len(answered)  # every call here has about the same prompt
    assert 0.005 < per_call < 0.02
    # Each worker may start at most one call after the other pushed the total over budget;
    # with a budget per worker the two would have spent about twice as much.
    assert budget <= spent <= budget + 2 * per_call + 1e-9


def test_bench_cli_runs_the_vlm_agent_on_snake(keys: dict[str, str], tmp_path: Path) -> None:
    standin = OpenAIStandIn(expected_key=keys["openai"], script=("ok", "malformed"))
    out = tmp_path / "vlm-snake"
    with serve(standin, max_requests=500) as url:
        args = f"model=llava-1.6,base_url={url}/v1,history=2"
        result = CliRunner().invoke(
            bench,
            [
                "run",
                "--policy",
                "vlm",
                "--task",
                "snake",
                "--episodes",
                "2",
                "--out",
                str(out),
                "--policy-args",
                args,
                "--json",
            ],
        )
    assert result.exit_code == 0, result.output
    episodes = load_run(out).episodes
    assert list(episodes["episode"]) == [0, 1]
    assert episodes["decode_failures"].sum() == 1  # the cut-off tool call
    assert (episodes["output_tokens"] > 0).all() and (episodes["cost_usd"] == 0).all()
    assert all(r.status == 200 for r in standin.requests)
    key = keys["openai"].encode()
    assert not [p for p in out.rglob("*") if p.is_file() and key in p.read_bytes()]


def test_listing_plugins_imports_no_sdk() -> None:
    code = (
        "import sys; from harness.plugins import registry; r = registry(); "
        "assert {'claude', 'vlm'} <= set(r.names('policy')), r.names('policy'); "
        "assert not {'anthropic', 'openai'} & set(sys.modules), 'an SDK was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
