"""Registers the API-backed agents: ``claude`` and ``vlm`` (any OpenAI-compatible endpoint)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.hookspecs import hookimpl

if TYPE_CHECKING:
    from harness.registry import Registry


@hookimpl
def vla_bench_register_policies(registry: Registry) -> None:
    """Add ``claude`` and ``vlm``; neither SDK is imported until one is used."""
    registry.add_policy(
        "claude",
        "vla_bench_claude.claude:ClaudePolicy",
        description="zero-shot Claude agent (Anthropic Messages API, forced tool use); "
        "key from ANTHROPIC_API_KEY",
    )
    registry.add_policy(
        "vlm",
        "vla_bench_claude.vlm:VLMPolicy",
        description="zero-shot VLM agent on any OpenAI-compatible chat endpoint (vLLM, "
        "Ollama, LM Studio); key from OPENAI_API_KEY",
    )
