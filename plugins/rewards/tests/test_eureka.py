"""bench eureka end to end against the Anthropic stand-in writing scripted reward code."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from vla_bench_claude.standin import serve
from vla_bench_rewards.eureka import prompts
from vla_bench_rewards.eureka.loop import EurekaConfig, run_loop
from vla_bench_rewards.eureka.standin import CodeWritingAnthropicStandIn, CodeWritingOpenAIStandIn

from harness.cli import main as bench

pytestmark = pytest.mark.slow


def user_text(body: dict) -> str:
    user = next(m for m in body["messages"] if m["role"] == "user")
    return "\n".join(b["text"] for b in user["content"] if b["type"] == "text")


def test_the_loop_keeps_the_good_candidate_and_says_why_the_others_failed(
    keys, tmp_path: Path
) -> None:
    standin = CodeWritingAnthropicStandIn(
        expected_key=keys["anthropic"], answers=["good", "raising", "loop", "nan"]
    )
    out = tmp_path / "eureka"
    with serve(standin) as url:
        args = [
            "eureka", "--task", "cartpole_swing", "--llm", "claude",
            "--llm-args", f"base_url={url},model=claude-haiku-4-5,max_cost=1",
            "--iterations", "2", "--candidates", "2", "--timesteps", "256",
            "--eval-every", "128", "--eval-episodes", "1", "--screenshots", "-o", str(out),
        ]  # fmt: skip
        result = CliRunner().invoke(bench, args)
        assert result.exit_code == 0, result.output
        assert len(standin.requests) == 4
        again = CliRunner().invoke(bench, args)  # resumes: nothing asked or trained again
        assert again.exit_code == 0 and len(standin.requests) == 4
    state = json.loads((out / "eureka.json").read_text())
    assert state["status"] == "complete" and state["best"]["id"] == "iter_00/cand_0"
    results = {
        p.parent.relative_to(out).as_posix(): json.loads(p.read_text())
        for p in out.glob("iter_*/cand_*/result.json")
    }
    assert results["iter_00/cand_0"]["status"] == "ok"
    assert "raised KeyError: 'no_such_input'" in results["iter_00/cand_1"]["reason"]
    assert "did not return within 1 s" in results["iter_01/cand_0"]["reason"]
    assert "non-finite reward nan" in results["iter_01/cand_1"]["reason"]
    good = results["iter_00/cand_0"]
    assert [row["timesteps"] for row in good["curve"]] == [128, 256]
    assert set(good["curve"][-1]["components"]) == {"upright", "progress", "swing", "fall"}
    assert good["sandbox"]["audit_hook"] and good["calls"] >= 256
    # fitness is the simulator's return of the final policy
    assert good["fitness"] == good["curve"][-1]["return_mean"] > 0
    # the reflection: the fittest code, its component breakdown, the failure, screenshots
    reflection = standin.requests[2].body
    text = user_text(reflection)
    assert (out / "iter_00/cand_0/reward.py").read_text().strip() in text
    assert "component upright: [" in text and "fitness (task score): [" in text
    assert "iter_00/cand_1: raised KeyError" in text
    images = [
        base64.b64decode(b["source"]["data"])
        for b in reflection["messages"][0]["content"]
        if b["type"] == "image"
    ]
    assert len(images) == 5 and all(png.startswith(b"\x89PNG") for png in images)
    assert "tools" not in reflection and reflection["model"] == "claude-haiku-4-5"
    assert "def compute_reward(state" in reflection["system"]
    # the best policy is an sb3 checkpoint, already run through bench run
    episodes = pd.read_parquet(out / "best_run" / "episodes.parquet")
    assert len(episodes) == 1 and (out / "best" / "policy.safetensors").exists()
    assert state["spent_usd"] == pytest.approx(
        sum(json.loads(p.read_text())["cost_usd"] for p in out.glob("iter_*/cand_*/answer.json"))
    )
    stored = [p.read_bytes() for p in out.rglob("*") if p.is_file()]
    assert not [b for b in stored if keys["anthropic"].encode() in b]


def test_max_cost_holds_across_the_loop_and_a_resume(keys, tmp_path: Path) -> None:
    standin = CodeWritingOpenAIStandIn(expected_key=keys["openai"], answers=["raising"])
    out = tmp_path / "eureka"

    def run(budget: float) -> dict:
        config = EurekaConfig(
            task="cartpole_swing",
            llm="vlm",
            llm_args=f"base_url={url}/v1,model=q,max_cost={budget},price_in=100,price_out=100",
            iterations=2,
            candidates=3,
            timesteps=64,
        )
        return run_loop(config, out)

    with serve(standin) as url:
        first = run(0.25)
        per_call = first["spent_usd"] / len(standin.requests)
        assert first["status"] == "stopped" and "max_cost" in first["status_detail"]
        assert first["spent_usd"] < 0.25 + per_call and len(standin.requests) < 6
        asked = len(standin.requests)
        second = run(10.0)  # a larger budget resumes: the answers stored are not bought again
    assert second["status"] == "complete" and len(standin.requests) == 6
    assert second["spent_usd"] == pytest.approx(6 * per_call, rel=0.2)
    assert asked < 6 and len(list(out.glob("iter_*/cand_*/answer.json"))) == 6
    assert second["best"] is None  # every candidate raised


def test_an_out_that_is_not_a_eureka_run_is_refused_and_kept(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    (out / "best").mkdir(parents=True)  # a user's folder, named as the loop names its own
    (out / "best" / "notes.txt").write_text("keep me")
    config = EurekaConfig(task="cartpole_swing", llm="vlm", llm_args="model=q")
    with pytest.raises(ValueError, match="holds no eureka run"):
        run_loop(config, out)
    assert (out / "best" / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in out.iterdir()) == ["best"]


def test_code_is_read_from_the_answer() -> None:
    text = (
        "Here:\n```python\ndef helper():\n    pass\n```\nand\n"
        "```python\ndef compute_reward(s, a):\n    return 1.0\n```"
    )
    assert prompts.extract_code(text) == "def compute_reward(s, a):\n    return 1.0\n"
    assert prompts.extract_code("no code here") is None
