"""``claude`` and ``vlm`` judges: the agents' SDK clients (``vla_bench_claude``) asked a question.

The judge reuses the agent backends whole — option checking, the API key from the
environment only, the official ``anthropic`` / ``openai`` SDK client with its retries, the
tool-mode fallback, the free-text parser, list prices and the ``max_cost`` budget — and
changes only what is said: the prompt shows the query's frames (oldest first, each labelled
with its step), the instruction, optionally the state text, and the question; the answer
travels through the agents' forced tool (named ``choose_action``, described to the model as
"report your answer") as one bounded number field named after the question, e.g.
``{"success": 0.8}``, or as a JSON object at the end of a free-text answer. An answer that
names no number is an Answer with an error, never a guess.

Options (``--judge-args``) are the agents' (``model``, ``base_url``, ``max_cost``,
``max_tokens``, ``timeout``, ``max_retries``, ``reasoning``, ``tool_choice``, ``price_in``,
``price_out``, ``effort``/``strict`` for Claude); ``history`` defaults to 0 (each question
stands alone). The same clients write the Eureka loop's reward code (:meth:`complete_text`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from vla_bench_claude import prompt as P
from vla_bench_claude.agent import AgentPolicy, Reply
from vla_bench_claude.claude import ClaudePolicy
from vla_bench_claude.vlm import VLMPolicy

from harness.contract import ActionSpace, EpisodeSpec, Observation, PolicyConfig, Spending, TaskSpec
from vla_bench_rewards.judges.base import Answer, JudgeBase, Query, Question

TEXT_MODE = "text"
"""A request with no tools at all: the answer is prose (the Eureka loop's code)."""

_TOOL_DESCRIPTION = "Report your answer to the question: one number in the range given."


def answer_space(question: Question) -> ActionSpace:
    """The one-field "action" space the agents' tool schema is built from."""
    return ActionSpace(
        name="judge_answer",
        names=(question.field,),
        low=(question.low,),
        high=(question.high,),
        description=question.text,
    )


def _question_spec(question: Question) -> TaskSpec:
    return TaskSpec(
        name=f"judge:{question.field}",
        version="1",
        suite="judge",
        instruction=question.text,
        control_hz=1.0,
        max_steps=1,
        action_space=answer_space(question),
        state_fields=(),
    )


class _JudgeAgent:
    """What a judge changes in an agent backend: the prompt, the tool's description, no tool."""

    system = (
        "You judge recordings of a simulated task. You are shown camera frames of one episode "
        "(oldest first, each labelled with its step), the instruction the agent was given and "
        "one question about what the frames show. Answer only that question, with a number."
    )

    def _frame_png(self, observation: Observation, spec: TaskSpec) -> bytes | None:
        return None  # the frames are in the query; _prompt encodes them all

    def _prompt(self, observation: Observation, ep: Any, png: bytes | None, mode: str) -> P.Prompt:
        query: Query = observation["query"]
        question = query.question
        parts = [P.Part(f"Instruction the agent was given: {query.instruction}")]
        steps = query.steps or tuple(range(len(query.frames)))
        for i, (frame, step) in enumerate(zip(query.frames, steps, strict=False), 1):
            parts.append(P.Part(f"Frame {i} of {len(query.frames)} (step {step}):"))
            parts.append(P.Part(png=P.encode_png(frame)))
        if query.state_text:
            parts.append(P.Part(f"State at the last frame:\n{query.state_text}"))
        unit = f" {question.unit}" if question.unit else ""
        example = json.dumps({question.field: question.low})
        how = (
            f"Answer by calling the {P.TOOL_NAME} tool with {question.field}: a number from "
            f"{question.low:g} to {question.high:g}{unit}. If you cannot call the tool, end "
            f"your answer with a JSON object such as {example}."
            if mode != "none"
            else f"Think briefly, then end your answer with a JSON object such as {example}."
        )
        parts.append(P.Part(f"Question: {question.text}\n{how}"))
        return P.Prompt(self.system, tuple(parts))

    def _request(self, prompt: P.Prompt, space: ActionSpace, mode: str) -> dict[str, Any]:
        request: dict[str, Any] = super()._request(prompt, space, mode)  # type: ignore[misc]
        if mode == TEXT_MODE:
            request.pop("tools", None)
            request.pop("tool_choice", None)
            return request
        for tool in request.get("tools") or []:
            target = tool.get("function", tool)  # OpenAI nests the function; Anthropic does not
            target["description"] = _TOOL_DESCRIPTION
        return request


class ClaudeJudgeAgent(_JudgeAgent, ClaudePolicy):
    """The ``claude`` agent backend, asked questions instead of actions."""


class VLMJudgeAgent(_JudgeAgent, VLMPolicy):
    """The ``vlm`` agent backend, asked questions instead of actions."""


def build_agent(
    backend: str, options: Mapping[str, str], *, http_client: Any = None, **defaults: str
) -> AgentPolicy:
    """The ``claude`` or ``vlm`` agent client for judging or writing code.

    ``defaults`` are options applied unless ``options`` gives them (``history=0``).
    """
    given = {"history": "0", **defaults, **options}
    cls = ClaudeJudgeAgent if backend == "claude" else VLMJudgeAgent
    config = PolicyConfig(name=backend, options=given)
    return cls(config, http_client=http_client)


def complete_text(agent: AgentPolicy, system: str, parts: list[P.Part]) -> tuple[Reply, float]:
    """One text-only request (no tools) through ``agent``'s client: (reply, cost in USD).

    The agent's ``max_cost`` budget holds: the call is refused with ``BudgetExceeded`` once
    the run-wide ledger (``agent.spending``) reaches it.
    """
    from harness.contract import BudgetExceeded

    budget = agent.options["max_cost"]
    spent = max(agent.spent_usd, agent.spending.usd)
    if budget is not None and spent >= budget:
        raise BudgetExceeded(
            f"{agent.config.name}: max_cost ${budget:.2f} reached (spent ${spent:.4f})"
        )
    reply = agent._call(P.Prompt(system, tuple(parts)), _TEXT_SPACE, TEXT_MODE)
    cost = agent.price.cost(reply.usage) if agent.price is not None else 0.0
    agent.calls += 1
    agent.spent_usd += cost
    agent.spending.add(cost)
    return reply, cost


_TEXT_SPACE = ActionSpace("text", ("text",), (0.0,), (1.0,))


class APIJudge(JudgeBase):
    """A judge on the Anthropic Messages API (``claude``) or an OpenAI-compatible endpoint."""

    kinds = frozenset({"probability", "number"})

    def __init__(self, backend: str, options: Mapping[str, str], *, http_client: Any = None):
        self.name = backend
        self.agent = build_agent(backend, options, http_client=http_client)
        self._question: Question | None = None

    @property
    def spending(self) -> Spending:
        """The ledger ``max_cost`` is checked against (share one across a whole loop)."""
        return self.agent.spending

    @spending.setter
    def spending(self, ledger: Spending) -> None:
        self.agent.spending = ledger

    def answer(self, query: Query) -> Answer:
        """One API call; the tool's number (or a JSON object in the text) is the answer."""
        if query.question != self._question:
            self.agent.reset(_question_spec(query.question), EpisodeSpec(0, 0), None)
            self._question = query.question
        chunk = self.agent.act({"query": query, "images": {}})
        self.agent.spending.add(chunk.cost_usd)
        info = chunk.info
        value = None if chunk.decode_failures else float(chunk.actions[0, 0])
        error = str(info.get("decode_error") or "") if chunk.decode_failures else ""
        if value is not None and info.get("clipped"):
            error = "answer outside the question's range: clipped"
        return Answer(
            value,
            text=str(info.get("action", "")),
            error=error,
            cost_usd=chunk.cost_usd,
            input_tokens=chunk.input_tokens,
            output_tokens=chunk.output_tokens,
            model_s=chunk.model_time_s,
        )

    def describe(self) -> dict[str, Any]:
        """The agent's description (model, endpoint without credentials, prices)."""
        return {"judge": self.name, **self.agent.describe()}

    def close(self) -> None:
        """Close the SDK client."""
        self.agent.close()


def make_claude(options: Mapping[str, str]) -> APIJudge:
    """The ``claude`` judge (key from ANTHROPIC_API_KEY)."""
    return APIJudge("claude", options)


def make_vlm(options: Mapping[str, str]) -> APIJudge:
    """The ``vlm`` judge on an OpenAI-compatible endpoint (key from OPENAI_API_KEY)."""
    return APIJudge("vlm", options)
