"""Both backends against the stand-ins, in-process (SDK MockTransport) and over loopback HTTP."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from vla_bench_claude.agent import AgentAPIError, MissingAPIKeyError
from vla_bench_claude.claude import ClaudePolicy
from vla_bench_claude.prompt import encode_png
from vla_bench_claude.vlm import VLMPolicy
from vla_bench_games import cartpole

from harness.contract import EE_DELTA_7D, EpisodeSpec, PolicyConfig, TaskSpec, with_bounds

BOTH = [
    pytest.param(api, transport, id=f"{api}-{transport}")
    for api in ("anthropic", "openai")
    for transport in ("mock", "loopback")
]
NAMES = list(cartpole.ACTIONS.names)


@pytest.fixture(scope="module")
def cart() -> tuple[Any, dict[str, Any]]:
    """A real cartpole observation (rendered frame, state, instruction, state text)."""
    task = cartpole.make_task()
    env = task.make_env(task.track().episodes[0])
    obs, _ = env.reset(seed=task.track().episodes[0].seed)
    return task, obs


def start(policy, task) -> None:
    policy.reset(task.spec, task.track().episodes[0], None)


def user_content(api: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The user turn's content blocks of a recorded request."""
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def texts_of(api: str, body: dict[str, Any]) -> str:
    return "\n".join(b["text"] for b in user_content(api, body) if b["type"] == "text")


def images_of(api: str, body: dict[str, Any]) -> list[bytes]:
    out = []
    for block in user_content(api, body):
        if block["type"] == "image":
            out.append(base64.b64decode(block["source"]["data"]))
        elif block["type"] == "image_url":
            out.append(base64.b64decode(block["image_url"]["url"].split(",", 1)[1]))
    return out


@pytest.mark.parametrize(("api", "transport"), BOTH)
def test_a_step_sends_image_state_goal_and_menu_and_reads_the_tool_call(
    api, transport, agent, cart
) -> None:
    task, obs = cart
    policy, standin = agent(
        api, transport, model="claude-haiku-4-5" if api == "anthropic" else "qwen"
    )
    start(policy, task)
    chunk = policy.act(obs)
    assert [r.status for r in standin.requests] == [200]
    body = standin.requests[0].body
    text = texts_of(api, body)
    assert task.spec.instruction in text and obs["state_text"] in text
    assert "Allowed actions: 'do nothing', 'push cart left', 'push cart right'." in text
    (png,) = images_of(api, body)
    assert png == encode_png(obs["images"]["front"])
    if api == "anthropic":
        tool = body["tools"][0]
        assert body["tool_choice"] == {"type": "tool", "name": "choose_action"}
        schema = tool["input_schema"]
    else:
        tool = body["tools"][0]["function"]
        assert body["tool_choice"] == {"type": "function", "function": {"name": "choose_action"}}
        schema = tool["parameters"]
    assert schema["properties"]["action"]["enum"] == NAMES
    # the stand-in answers the allowed actions in turn, starting with the first
    assert chunk.actions.tolist() == [[0.0]] and chunk.decode_failures == 0
    assert chunk.input_tokens > 300 and chunk.output_tokens > 0  # an image costs w*h/750 tokens
    assert chunk.info["source"] == "tool" and chunk.info["retries"] == 0
    if api == "anthropic":
        assert chunk.cost_usd == pytest.approx(
            (chunk.input_tokens * 1.0 + chunk.output_tokens * 5.0) / 1e6
        )
    else:
        assert chunk.cost_usd == 0.0  # a self-hosted model without price_in/price_out
        assert chunk.model_time_s == pytest.approx(0.012)
    assert policy.act(obs).actions.tolist() == [[1.0]]


@pytest.mark.parametrize(("api", "transport"), BOTH)
def test_rate_limits_and_overload_are_retried(api, transport, agent, cart) -> None:
    task, obs = cart
    policy, standin = agent(api, transport, script=("429", "529", "ok"), model="m1")
    start(policy, task)
    chunk = policy.act(obs)
    expected = [429, 529 if api == "anthropic" else 503, 200]
    assert [r.status for r in standin.requests] == expected
    assert chunk.info["retries"] == 2 and chunk.decode_failures == 0
    policy, standin = agent(api, transport, script=("500", "500"), model="m1", max_retries=1)
    start(policy, task)
    with pytest.raises(AgentAPIError, match="500"):
        policy.act(obs)
    assert len(standin.requests) == 2  # one try and max_retries=1 retry


@pytest.mark.parametrize(("api", "transport"), BOTH)
def test_a_timeout_is_retried_then_reported(api, transport, agent, cart) -> None:
    task, obs = cart
    policy, standin = agent(api, transport, script=("timeout", "ok"), model="m1")
    start(policy, task)
    chunk = policy.act(obs)
    assert chunk.info["retries"] == 1 and chunk.decode_failures == 0
    policy, standin = agent(api, transport, script=("timeout",) * 2, model="m1", max_retries=1)
    start(policy, task)
    with pytest.raises(AgentAPIError, match="Timeout"):
        policy.act(obs)
    assert len(standin.requests) == 2


@pytest.mark.parametrize(("api", "transport"), BOTH)
def test_a_malformed_answer_becomes_the_noop_counted_and_told(api, transport, agent, cart) -> None:
    task, obs = cart
    policy, standin = agent(
        api, transport, script=("ok", "malformed", "garbage", "text"), model="m1"
    )
    start(policy, task)
    assert policy.act(obs).actions.tolist() == [[0.0]]  # first answer: 'do nothing'
    bad = policy.act(obs)
    assert bad.decode_failures == 1 and bad.actions.tolist() == [[0.0]]
    assert bad.info["source"] == "noop" and bad.info["decode_error"]
    garbage = policy.act(obs)
    assert garbage.decode_failures == 1 and garbage.actions.tolist() == [[0.0]]
    told = texts_of(api, standin.requests[-1].body)
    assert "your previous answer could not be used" in told
    assert "could not be read; this no-op was executed" in told  # and in the history
    text = policy.act(obs)  # a prose answer ending in a quoted action name
    assert text.decode_failures == 0 and text.info["source"] == "text"
    assert text.actions[0, 0] in (1.0, 2.0)
    follow = policy.act(obs)
    assert "could not be used" not in texts_of(api, standin.requests[-1].body)
    assert follow.decode_failures == 0


@pytest.mark.parametrize("transport", ["mock", "loopback"])
def test_claude_falls_back_when_forced_tool_use_is_rejected(transport, agent, cart, caplog) -> None:
    task, obs = cart
    policy, standin = agent("anthropic", transport)  # default model: claude-sonnet-5-5
    start(policy, task)
    with caplog.at_level(logging.WARNING, logger="vla_bench_claude"):
        first = policy.act(obs)
    assert [r.status for r in standin.requests] == [400, 200]
    assert first.info["tool_mode"] == "auto" and first.decode_failures == 0
    assert first.info["source"] == "tool"  # read past the thinking block and the text
    assert "rejected tool_choice=forced" in caplog.text
    policy.act(obs)
    assert standin.requests[-1].body["tool_choice"] == {"type": "auto"}
    assert len(standin.requests) == 3  # the working mode is kept: no second 400


@pytest.mark.parametrize("support", ["auto", "none"])
def test_vlm_falls_back_to_what_the_server_supports(support, agent, cart) -> None:
    task, obs = cart
    policy, standin = agent("openai", "mock", standin_args={"tools": support})
    start(policy, task)
    chunk = policy.act(obs)
    assert chunk.info["tool_mode"] == support and chunk.decode_failures == 0
    last = standin.requests[-1].body
    if support == "none":
        assert "tools" not in last and chunk.info["source"] == "text"
        assert "end your answer with the action in single quotes" in texts_of("openai", last)
    else:
        assert last["tool_choice"] == "auto" and chunk.info["source"] == "tool"


def test_vlm_free_text_mode_sends_no_tools(agent, cart) -> None:
    task, obs = cart
    policy, standin = agent("openai", "loopback", tool_choice="none", image=0)
    start(policy, task)
    chunk = policy.act(obs)
    body = standin.requests[0].body
    assert "tools" not in body and images_of("openai", body) == []
    assert chunk.info["source"] == "text" and chunk.decode_failures == 0
    assert not policy.uses_images


@pytest.mark.parametrize("api", ["anthropic", "openai"])
def test_continuous_spaces_get_bounded_numbers(api, agent) -> None:
    space = with_bounds(EE_DELTA_7D, [-0.05] * 6 + [-1.0], [0.04] * 6 + [1.0])
    spec = TaskSpec(
        "reach", "1", "test", "reach the cube", 10.0, 50, space, ("x",), {"front": (64, 64)}
    )
    obs = {
        "images": {"front": np.zeros((64, 64, 3), np.uint8)},
        "state": np.zeros(1, np.float32),
        "instruction": "reach the cube",
    }
    policy, standin = agent(api, "mock", model="claude-haiku-4-5" if api == "anthropic" else "q")
    policy.reset(spec, EpisodeSpec(0, 0), None)
    chunk = policy.act(obs)
    assert chunk.actions.shape == (1, 7) and chunk.decode_failures == 0
    assert np.allclose(chunk.actions[0, :6], -0.005) and chunk.actions[0, 6] == 0.0  # midpoints
    body = standin.requests[0].body
    tools = body["tools"][0]
    schema = tools["input_schema"] if api == "anthropic" else tools["function"]["parameters"]
    assert schema["properties"]["dx"] == {
        "type": "number",
        "minimum": -0.05,
        "maximum": 0.04,
        "description": "dx, between -0.05 and 0.04.",
    }


def test_few_shot_examples_lead_every_turn_and_are_cached(agent, cart, tmp_path: Path) -> None:
    task, obs = cart
    frame = tmp_path / "frame.png"
    frame.write_bytes(encode_png(obs["images"]["front"]))
    examples = [
        {"image": "frame.png", "state_text": obs["state_text"], "action": name, "reasoning": "r"}
        for name in ("push cart left", "push cart right", "do nothing", "push cart left")
    ]
    shots = tmp_path / "shots.json"
    shots.write_text(json.dumps({"examples": examples}))
    policy, standin = agent("anthropic", "mock", model="claude-haiku-4-5", few_shot=shots)
    start(policy, task)
    first, second = policy.act(obs), policy.act(obs)
    content = user_content("anthropic", standin.requests[0].body)
    assert content[0]["text"].startswith("Worked examples")
    assert len(images_of("anthropic", standin.requests[0].body)) == 5  # 4 examples + the frame
    marked = [i for i, block in enumerate(content) if "cache_control" in block]
    assert len(marked) == 1 and content[marked[0] + 1]["text"] == "Now the real task."
    assert first.info["cache_write_tokens"] > 1024 and first.info["cache_read_tokens"] == 0
    assert second.info["cache_read_tokens"] == first.info["cache_write_tokens"]
    assert second.cost_usd < first.cost_usd  # a cache read costs a tenth of an input token
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"examples": [{"action": "jump"}]}))
    policy, _ = agent("anthropic", "mock", few_shot=bad)
    with pytest.raises(ValueError, match="'jump' is not valid"):
        start(policy, task)


def test_key_hygiene_and_option_errors(agent, keys, cart, monkeypatch) -> None:
    task, obs = cart
    policy, standin = agent("anthropic", "mock", model="claude-haiku-4-5")
    start(policy, task)
    chunk = policy.act(obs)
    assert standin.requests[0].status == 200  # the stand-in checked the key it expects
    dump = json.dumps([policy.describe(), chunk.info, repr(policy.config)], default=str)
    assert keys["anthropic"] not in dump and "<redacted>" in str(standin.requests[0].headers)
    wrong, _ = agent("anthropic", "mock", standin_args={"expected_key": "another"}, model="m")
    start(wrong, task)
    with pytest.raises(AgentAPIError, match="401") as err:
        wrong.act(obs)
    assert keys["anthropic"] not in str(err.value)
    with pytest.raises(ValueError, match="environment only"):
        ClaudePolicy(PolicyConfig("claude", options={"api_key": "sk-123"}))
    with pytest.raises(ValueError, match="carries credentials"):
        ClaudePolicy(PolicyConfig("claude", options={"base_url": "https://u:p@host"}))
    with pytest.raises(ValueError, match="did you mean 'history'"):
        ClaudePolicy(PolicyConfig("claude", options={"histroy": "2"}))
    with pytest.raises(ValueError, match="not a valid int"):
        ClaudePolicy(PolicyConfig("claude", options={"history": "many"}))
    with pytest.raises(ValueError, match="needs a model"):
        VLMPolicy(PolicyConfig("vlm"))
    with pytest.raises(ValueError, match="max_cost needs a price"):
        VLMPolicy(PolicyConfig("vlm", options={"model": "llava", "max_cost": "1"}))
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(MissingAPIKeyError, match="export ANTHROPIC_API_KEY"):
        ClaudePolicy(PolicyConfig("claude"))
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY=EMPTY"):
        VLMPolicy(PolicyConfig("vlm", options={"model": "llava"}))
    described = policy.describe()
    assert described["checkpoint"] == "claude-haiku-4-5" and described["weights"] == "api"
