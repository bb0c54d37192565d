"""Agents wired to the local stand-ins, in-process (MockTransport) or over loopback HTTP."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import httpx2
from vla_bench_claude.agent import AgentPolicy
from vla_bench_claude.claude import ClaudePolicy
from vla_bench_claude.standin import (
    AnthropicStandIn,
    OpenAIStandIn,
    StandIn,
    mock_transport,
    serve,
)
from vla_bench_claude.vlm import VLMPolicy

from harness.contract import PolicyConfig

ANTHROPIC_KEY = "sk-ant-test-KEY-must-never-leak-7f3a"
OPENAI_KEY = "sk-openai-test-KEY-must-never-leak-9c1b"

Factory = Callable[..., tuple[AgentPolicy, StandIn]]


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Distinctive fake keys in the environment (the only place the agents read them)."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return {"anthropic": ANTHROPIC_KEY, "openai": OPENAI_KEY}


@pytest.fixture
def agent(keys: dict[str, str]) -> Iterator[Factory]:
    """``agent(api, transport, script=..., standin_args=..., **options)`` -> (policy, stand-in).

    ``api``: "anthropic" (the ``claude`` policy) or "openai" (``vlm``); ``transport``: "mock"
    (the stand-in behind an httpx2.MockTransport given to the SDK) or "loopback" (a real
    HTTP server on 127.0.0.1, reached through ``base_url``). Retries are fast: the stand-in
    asks for a 0.05 s ``retry-after``.
    """
    stack = contextlib.ExitStack()
    built: list[AgentPolicy] = []

    def make(
        api: str,
        transport: str,
        script: tuple[str, ...] = (),
        standin_args: dict[str, Any] | None = None,
        **options: Any,
    ) -> tuple[AgentPolicy, StandIn]:
        extra = {
            "retry_after_s": 0.05,
            "stall_s": 1.0,
            "expected_key": keys[api],
            **(standin_args or {}),
        }
        standin: StandIn = (AnthropicStandIn if api == "anthropic" else OpenAIStandIn)(
            script=script, **extra
        )
        opts = {"timeout": "0.4", "max_retries": "2", **{k: str(v) for k, v in options.items()}}
        if api == "openai":
            opts.setdefault("model", "qwen2.5-vl-7b")
        http_client = None
        if transport == "mock":
            http_client = httpx2.Client(transport=mock_transport(standin))
        else:
            url = stack.enter_context(serve(standin, max_requests=200))
            opts["base_url"] = url + ("/v1" if api == "openai" else "")
        cls = ClaudePolicy if api == "anthropic" else VLMPolicy
        name = "claude" if api == "anthropic" else "vlm"
        text = ",".join(f"{k}={v}" for k, v in opts.items())
        policy = cls(PolicyConfig.parse_args(name, text), http_client=http_client)
        built.append(policy)
        return policy, standin

    yield make
    for policy in built:
        policy.close()
    stack.close()
