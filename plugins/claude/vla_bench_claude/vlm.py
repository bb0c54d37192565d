"""``vlm``: the agent on any OpenAI-compatible Chat Completions endpoint (official ``openai`` SDK).

For vLLM, Ollama, LM Studio, llama.cpp's server or OpenAI itself serving a vision model
(LLaVA, Qwen-VL, ...): ``--policy-args model=<served name>,base_url=http://host:port/v1``.
The key comes from ``OPENAI_API_KEY`` (a local server that checks none accepts any value,
e.g. ``OPENAI_API_KEY=EMPTY``); ``base_url`` defaults to ``OPENAI_BASE_URL`` or OpenAI's API.
``tool_choice=forced`` (default) names the function; a server that rejects that with HTTP 400
is tried with ``auto`` and then with no tools at all (the quoted free-text answer), and the
first mode that works is kept. A self-hosted model costs 0 unless ``price_in``/``price_out``
are given.
"""

from __future__ import annotations

from typing import Any, ClassVar

from harness.contract import ActionSpace
from vla_bench_claude import prompt as P
from vla_bench_claude.agent import AgentAPIError, AgentPolicy, Reply, RequestRejectedError
from vla_bench_claude.parse import finite_or_zero
from vla_bench_claude.pricing import Usage


class VLMPolicy(AgentPolicy):
    """The zero-shot agent over Chat Completions, with tool calls or quoted free text."""

    provider: ClassVar[str] = "openai-compatible"
    key_env: ClassVar[str] = "OPENAI_API_KEY"

    def _missing_key_hint(self) -> str:
        return "; a local server that checks no key accepts any value, e.g. OPENAI_API_KEY=EMPTY"

    def _make_client(self, api_key: str, http_client: Any) -> Any:
        import openai

        return openai.OpenAI(
            api_key=api_key,
            base_url=self.options["base_url"],
            timeout=self.options["timeout"],
            max_retries=self.options["max_retries"],
            http_client=http_client,
        )

    def _request(self, prompt: P.Prompt, space: ActionSpace, mode: str) -> dict[str, Any]:
        """The Chat Completions request body for one step."""
        content: list[dict[str, Any]] = []
        for part in prompt.parts:
            if part.png is not None:
                url = f"data:image/png;base64,{part.png_base64}"
                content.append({"type": "image_url", "image_url": {"url": url}})
            else:
                content.append({"type": "text", "text": part.text})
        request: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.options["max_tokens"],
            "messages": [
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": content},
            ],
        }
        if mode != "none":
            function = {
                "name": P.TOOL_NAME,
                "description": P.tool_description(space),
                "parameters": P.action_schema(space, reasoning=self.options["reasoning"]),
            }
            request["tools"] = [{"type": "function", "function": function}]
            request["tool_choice"] = (
                {"type": "function", "function": {"name": P.TOOL_NAME}}
                if mode == "forced"
                else "auto"
            )
        return request

    def _call(self, prompt: P.Prompt, space: ActionSpace, mode: str) -> Reply:
        import openai

        try:
            raw = self._client.chat.completions.with_raw_response.create(
                **self._request(prompt, space, mode)
            )
            completion = raw.parse()
        except openai.BadRequestError as exc:
            raise RequestRejectedError(f"the endpoint rejected the request: {exc.message}") from exc
        except openai.APIStatusError as exc:
            raise AgentAPIError(
                f"endpoint error HTTP {exc.status_code} after {self.options['max_retries']} "
                f"retries at most: {exc.message}"
            ) from exc
        except openai.APIError as exc:  # timeouts and connection errors, after retries
            raise AgentAPIError(
                f"endpoint call failed after {self.options['max_retries']} retries: "
                f"{type(exc).__name__}: {exc.message}"
            ) from exc
        tool_input: Any = None
        text, finish = "", None
        if completion.choices:
            choice = completion.choices[0]
            finish = choice.finish_reason
            text = choice.message.content or ""
            for call in choice.message.tool_calls or []:
                function = getattr(call, "function", None)
                if function is not None and function.name == P.TOOL_NAME:
                    tool_input = function.arguments
                    break
        usage = completion.usage
        prompt_tokens = int(finite_or_zero(usage.prompt_tokens)) if usage else 0
        details = getattr(usage, "prompt_tokens_details", None) if usage else None
        cached = int(finite_or_zero(getattr(details, "cached_tokens", None)))
        processing = raw.headers.get("openai-processing-ms")
        return Reply(
            tool_input=tool_input,
            text=text,
            usage=Usage(
                input_tokens=prompt_tokens - cached,
                output_tokens=int(finite_or_zero(usage.completion_tokens)) if usage else 0,
                cache_read_tokens=cached,
            ),
            retries=raw.retries_taken,
            stop_reason="max_tokens" if finish == "length" else finish,
            model_time_s=float(processing) / 1000 if processing else None,
        )
