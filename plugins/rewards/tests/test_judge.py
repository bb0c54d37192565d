"""bench judge on runs with known outcomes: reference judges, API judges, storage, the table."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from vla_bench_claude.standin import AnthropicStandIn, OpenAIStandIn, serve
from vla_bench_rewards import board
from vla_bench_rewards.evaluate import evaluate
from vla_bench_rewards.judges.api import APIJudge
from vla_bench_rewards.judges.reference import ConstantJudge, OracleJudge
from vla_bench_rewards.probes import PROBES

from harness.cli import main as bench

SUCCESSES, FAILURES = 2, 4  # the scripted and random runs of conftest


def judged(judge, probe: str, runs: dict[str, Path], out: Path, **kwargs) -> dict:
    paths = [runs["scripted"], runs["random"]]
    return evaluate(judge, PROBES[probe], paths, out, config={"judge": judge.name}, **kwargs)


def test_the_oracle_scores_perfectly_on_every_probe(runs, tmp_path: Path) -> None:
    oracle = OracleJudge({})
    success = judged(oracle, "success", runs, tmp_path / "s")["scores"]["binary"]
    assert (success["tp"], success["fp"], success["fn"], success["tn"]) == (SUCCESSES, 0, 0, 4)
    assert success["precision"] == success["recall"] == success["f1"] == success["auroc"] == 1.0
    angle = judged(oracle, "pole_angle", runs, tmp_path / "a")["scores"]
    assert angle["numeric"]["mae"] == 0.0 and angle["spearman"]["rho"] == pytest.approx(1.0)
    assert angle["asked"] == 3 * (SUCCESSES + FAILURES)  # 3 keyframes per episode
    progress = judged(oracle, "progress", runs, tmp_path / "p")["scores"]
    assert progress["spearman_progress"]["rho"] == pytest.approx(1.0)


def test_a_constant_judge_gets_base_rate_precision_and_chance_auroc(runs, tmp_path: Path) -> None:
    yes = judged(ConstantJudge({"value": "0.5"}), "success", runs, tmp_path / "y")["scores"]
    b = yes["binary"]
    assert b["precision"] == pytest.approx(SUCCESSES / 6) and b["recall"] == 1.0
    assert b["auroc"] == 0.5 and yes["distinct_answers"] == 1
    no = judged(ConstantJudge({"value": "0.1"}), "success", runs, tmp_path / "n")["scores"]
    assert no["binary"]["recall"] == 0.0 and math.isnan(no["binary"]["precision"])
    angle = judged(ConstantJudge({"value": "45"}), "pole_angle", runs, tmp_path / "a")["scores"]
    assert angle["numeric"]["distinct"] == 1 and math.isnan(angle["spearman"]["rho"])
    assert angle["numeric"]["mae"] > 40  # cartpole never leans more than 12 degrees


def test_only_privileged_judges_see_the_truth(runs, tmp_path: Path) -> None:
    seen = []

    class Peeker(ConstantJudge):
        def answer(self, query):
            seen.append(query.truth)
            return super().answer(query)

    judged(Peeker({}), "success", runs, tmp_path / "x")
    assert seen and all(truth is None for truth in seen)


def test_bench_judge_stores_resumes_and_refuses_another_evaluation(runs, tmp_path: Path) -> None:
    out = tmp_path / "j"
    args = ["judge", "--judge", "oracle", "--runs", str(runs["scripted"]), str(runs["random"])]
    first = CliRunner().invoke(bench, [*args, "--probe", "pole_angle", "-o", str(out), "--json"])
    assert first.exit_code == 0, first.output
    result = json.loads(first.stdout)
    answers = pd.read_parquet(out / "answers.parquet")
    assert len(answers) == result["scores"]["asked"] == 18
    assert set(answers.task) == {"cartpole"} and answers.cost_usd.sum() == 0
    again = CliRunner().invoke(bench, [*args, "--probe", "pole_angle", "-o", str(out), "--json"])
    assert again.exit_code == 0 and len(pd.read_parquet(out / "answers.parquet")) == 18
    other = CliRunner().invoke(bench, [*args, "--probe", "progress", "-o", str(out)])
    assert other.exit_code != 0 and "holds another judge evaluation" in other.output
    bad = CliRunner().invoke(bench, ["judge", "--judge", "oracel", "--runs", str(runs["random"])])
    assert bad.exit_code != 0 and "did you mean 'oracle'" in bad.output
    listed = CliRunner().invoke(bench, ["list", "judges"])
    assert "keyword" in listed.output and "blip2" in listed.output


def test_a_run_without_keyframes_is_refused_with_the_fix(tmp_path: Path) -> None:
    from harness.contract import PolicyConfig
    from harness.record import RunSettings
    from harness.run import execute

    execute(PolicyConfig(name="random"), "cartpole", RunSettings(episodes=1), tmp_path / "r", [])
    out = CliRunner().invoke(bench, ["judge", "--judge", "oracle", "--runs", str(tmp_path / "r")])
    assert out.exit_code != 0 and "--keyframes" in out.output


@pytest.mark.parametrize("api", ["anthropic", "openai"])
def test_api_judges_answer_through_the_agents_clients(api, keys, runs, tmp_path: Path) -> None:
    cls = AnthropicStandIn if api == "anthropic" else OpenAIStandIn
    standin = cls(expected_key=keys[api])
    with serve(standin) as url:
        base = url if api == "anthropic" else url + "/v1"
        options = {"base_url": base, "model": "claude-haiku-4-5" if api == "anthropic" else "q"}
        judge = APIJudge("claude" if api == "anthropic" else "vlm", options)
        result = judged(judge, "success", runs, tmp_path / "j", frames=2)
        judge.close()
    scores = result["scores"]
    assert scores["asked"] == scores["answered"] == 6 and scores["unreadable"] == 0
    # the stand-in answers the midpoint of the bounded field: a constant 0.5
    assert scores["binary"]["auroc"] == 0.5 and scores["distinct_answers"] == 1
    body = standin.requests[0].body
    blocks = next(m["content"] for m in body["messages"] if m["role"] == "user")
    images = [b for b in blocks if b["type"] in ("image", "image_url")]
    assert len(images) == 2  # the episode's last two keyframes
    text = " ".join(b.get("text", "") for b in blocks)
    assert PROBES["success"].question.text in text and "Keep the pole balanced" in text
    tool = body["tools"][0]
    schema = tool["input_schema"] if api == "anthropic" else tool["function"]["parameters"]
    assert schema["properties"]["success"]["maximum"] == 1.0
    if api == "anthropic":
        assert scores["cost_usd"] > 0 and result["judge"]["model"] == "claude-haiku-4-5"
    stored = [p.read_bytes() for p in (tmp_path / "j").rglob("*") if p.is_file()]
    assert not [b for b in stored if keys[api].encode() in b]


def test_max_cost_stops_an_api_judge_and_keeps_what_it_answered(keys, runs, tmp_path) -> None:
    standin = AnthropicStandIn(expected_key=keys["anthropic"])
    with serve(standin) as url:
        # one frame of 600x400 is ~320 tokens: ~$0.0005 a question at Haiku 4.5's prices
        options = {"base_url": url, "model": "claude-haiku-4-5", "max_cost": "0.0012"}
        judge = APIJudge("claude", options)
        result = judged(judge, "pole_angle", runs, tmp_path / "j")
    assert result["status"] == "stopped" and "max_cost" in result["status_detail"]
    asked = result["scores"]["asked"]
    assert 0 < asked < 18 and len(standin.requests) == asked
    assert result["scores"]["cost_usd"] < 0.0012 + result["scores"]["cost_usd_per_query"]


def test_the_judges_table_renders_each_probe_best_first(runs, tmp_path: Path) -> None:
    judged(OracleJudge({}), "success", runs, tmp_path / "o")
    judged(ConstantJudge({"value": "0.7"}), "success", runs, tmp_path / "c")
    judged(ConstantJudge({"value": "45"}), "pole_angle", runs, tmp_path / "a")
    results = board.find([tmp_path])
    assert len(results) == 3
    md = board.render(results, "md")
    assert "## Judges: success" in md and "## Judges: pole\\_angle" in md
    success = md.split("## Judges: success")[1]
    assert success.index("| oracle (reference)") < success.index("| constant (reference)")
    assert "| 1.00 \\[1.00, 1.00\\] |" in success  # the oracle's AUROC, DeLong collapsed
    assert "45×18" in md and "DeLong" in md
    html = board.render(results, "html")
    assert "<table>" in html and "<script" not in html
    term = CliRunner().invoke(bench, ["judges", str(tmp_path)])
    assert term.exit_code == 0 and "Judges: success" in term.output
