"""``claude``: the agent on Anthropic's Messages API through the official ``anthropic`` SDK.

Options (``--policy-args k=v,...``) are the common ones (see ``agent.COMMON_OPTIONS``: model,
base_url, history, few_shot, max_cost, max_tokens, timeout, max_retries, image, camera,
reasoning, tool_choice, price_in, price_out) plus ``effort`` (low ... max, sent as
``output_config.effort``) and ``strict`` (1: a strict tool, schema-validated by the API).
The key comes from ``ANTHROPIC_API_KEY``; ``base_url`` defaults to ``ANTHROPIC_BASE_URL`` or
the public API. With ``tool_choice=forced`` (the default) the tool is forced; a model that
rejects forced tool use (Claude Sonnet 5.5 does, as it always thinks first) is switched to
``tool_choice=auto`` after its first HTTP 400, and the free-text parser covers a text answer.
"""

from __future__ import annotations

from typing import Any, ClassVar

from harness.contract import ActionSpace
from vla_bench_claude import prompt as P
from vla_bench_claude.agent import (
    COMMON_OPTIONS,
    AgentAPIError,
    AgentPolicy,
    Option,
    Reply,
    RequestRejectedError,
)
from vla_bench_claude.parse import finite_or_zero
from vla_bench_claude.pricing import ANTHROPIC_PRICES, Price, Usage

DEFAULT_MODEL = "claude-sonnet-5-5"

CLAUDE_OPTIONS: dict[str, Option] = {
    **COMMON_OPTIONS,
    "effort": Option(str, None, "output_config.effort", ("low", "medium", "high", "xhigh", "max")),
    "strict": Option(bool, False, "mark the tool strict (schema-validated inputs)"),
}


class ClaudePolicy(AgentPolicy):
    """A zero-shot Claude agent: image + state text + action menu in, a tool call out."""

    provider: ClassVar[str] = "anthropic"
    key_env: ClassVar[str] = "ANTHROPIC_API_KEY"
    default_model: ClassVar[str | None] = DEFAULT_MODEL
    options_table: ClassVar[dict[str, Option]] = CLAUDE_OPTIONS
    tool_modes: ClassVar[tuple[str, ...]] = ("forced", "auto")

    def _make_client(self, api_key: str, http_client: Any) -> Any:
        import anthropic

        return anthropic.Anthropic(
            api_key=api_key,
            base_url=self.options["base_url"],
            timeout=self.options["timeout"],
            max_retries=self.options["max_retries"],
            http_client=http_client,
        )

    def _price_table(self) -> dict[str, Price]:
        return ANTHROPIC_PRICES

    def _request(self, prompt: P.Prompt, space: ActionSpace, mode: str) -> dict[str, Any]:
        """The Messages API request body for one step."""
        content: list[dict[str, Any]] = []
        for part in prompt.parts:
            block: dict[str, Any]
            if part.png is not None:
                source = {"type": "base64", "media_type": "image/png", "data": part.png_base64}
                block = {"type": "image", "source": source}
            else:
                block = {"type": "text", "text": part.text}
            if part.cache_breakpoint:
                block["cache_control"] = {"type": "ephemeral"}
            content.append(block)
        request: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.options["max_tokens"],
            "system": prompt.system,
            "messages": [{"role": "user", "content": content}],
        }
        tool: dict[str, Any] = {
            "name": P.TOOL_NAME,
            "description": P.tool_description(space),
            "input_schema": P.action_schema(space, reasoning=self.options["reasoning"]),
        }
        if self.options["strict"]:
            tool["strict"] = True
        request["tools"] = [tool]
        request["tool_choice"] = (
            {"type": "tool", "name": P.TOOL_NAME} if mode == "forced" else {"type": "auto"}
        )
        if self.options["effort"]:
            request["output_config"] = {"effort": self.options["effort"]}
        return request

    def _call(self, prompt: P.Prompt, space: ActionSpace, mode: str) -> Reply:
        import anthropic

        request = self._request(prompt, space, mode)
        try:
            raw = self._client.messages.with_raw_response.create(**request)
            message = raw.parse()
        except anthropic.BadRequestError as exc:
            raise RequestRejectedError(
                f"Anthropic API rejected the request: {exc.message}"
            ) from exc
        except anthropic.APIStatusError as exc:
            raise AgentAPIError(
                f"Anthropic API error HTTP {exc.status_code} after {self.options['max_retries']} "
                f"retries at most: {exc.message}"
            ) from exc
        except anthropic.APIError as exc:  # timeouts and connection errors, after retries
            raise AgentAPIError(
                f"Anthropic API call failed after {self.options['max_retries']} retries: "
                f"{type(exc).__name__}: {exc.message}"
            ) from exc
        tool_input: Any = None
        texts = []
        for block in message.content:
            if block.type == "tool_use" and block.name == P.TOOL_NAME and tool_input is None:
                tool_input = block.input
            elif block.type == "text":
                texts.append(block.text)
        usage = message.usage
        return Reply(
            tool_input=tool_input,
            text="\n".join(texts),
            usage=Usage(
                input_tokens=int(finite_or_zero(usage.input_tokens)),
                output_tokens=int(finite_or_zero(usage.output_tokens)),
                cache_write_tokens=int(finite_or_zero(usage.cache_creation_input_tokens)),
                cache_read_tokens=int(finite_or_zero(usage.cache_read_input_tokens)),
            ),
            retries=raw.retries_taken,
            stop_reason=message.stop_reason,
        )
