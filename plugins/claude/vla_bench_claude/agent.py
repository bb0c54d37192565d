"""The zero-shot VLM agent both backends share: prompt, decode, fall back, count, budget.

Each ``act`` makes one API call (``n_action_steps = 1``, no warm-up calls: they cost money).
The answer is read from the ``choose_action`` tool call, else from the free text; an answer
that names no valid action becomes the task's no-op, is counted in
``ActionChunk.decode_failures`` and the agent is told on its next step. Rate limits and
server errors are retried by the SDK (exponential backoff, ``retry-after`` honoured,
``max_retries`` times); what still fails raises :class:`AgentAPIError`, which the runner
records as a policy error for that episode. ``max_cost`` stops the run with
:class:`~harness.contract.BudgetExceeded` before the first call at or over the budget, so a
run overshoots it by at most one call per worker process: the budget is for the whole
``bench run`` invocation, read from the runner's run-wide ledger
(:class:`harness.contract.Spending`).

The API key is read from the environment only and handed to the SDK client; it is never
stored in options, ``describe()``, errors or chunk info.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from harness.contract import (
    ActionChunk,
    ActionSpace,
    BudgetExceeded,
    EpisodeSpec,
    Observation,
    PolicyBase,
    PolicyConfig,
    PolicyConfigError,
    TaskSpec,
)
from vla_bench_claude import prompt as P
from vla_bench_claude.parse import Decoded, parse_text, parse_tool_input
from vla_bench_claude.pricing import Price, Usage

log = logging.getLogger("vla_bench_claude")

TOOL_MODES = ("forced", "auto", "none")
"""How the answer is requested: the tool forced, the tool offered, or no tool (free text)."""


class AgentAPIError(RuntimeError):
    """An API call that failed after the SDK's retries (or could not be retried)."""


class MissingAPIKeyError(PolicyConfigError):
    """The environment variable holding the API key is not set."""


class RequestRejectedError(AgentAPIError):
    """The server refused the request itself (HTTP 400): try the next, plainer tool mode."""


@dataclass(frozen=True)
class Option:
    """One ``--policy-args`` option: its type, default, allowed values and meaning."""

    kind: type
    default: Any
    help: str
    choices: tuple[str, ...] = ()


COMMON_OPTIONS: dict[str, Option] = {
    "model": Option(str, None, "model id"),
    "base_url": Option(str, None, "API endpoint (else the SDK's env variable or default)"),
    "history": Option(int, 3, "previous steps told back to the agent (0: none)"),
    "few_shot": Option(str, None, "JSON file of worked examples (see prompt.load_few_shot)"),
    "max_cost": Option(float, None, "stop the run when this many USD are spent"),
    "max_tokens": Option(int, 1024, "answer token limit per call"),
    "timeout": Option(float, 60.0, "seconds per HTTP attempt"),
    "max_retries": Option(int, 4, "SDK retries on 408/409/429/5xx and connection errors"),
    "image": Option(bool, True, "send the camera image (0: state text only)"),
    "camera": Option(str, None, "which camera to send (default: the task's first)"),
    "reasoning": Option(bool, True, "ask for a one-line reason inside the tool call"),
    "tool_choice": Option(str, "forced", "forced, auto or none (free text)", TOOL_MODES),
    "price_in": Option(float, None, "USD per million input tokens (overrides the table)"),
    "price_out": Option(float, None, "USD per million output tokens (overrides the table)"),
}

_SECRET_OPTIONS = ("api_key", "key", "token", "auth_token")


def parse_options(
    policy: str, given: Mapping[str, str], table: Mapping[str, Option]
) -> dict[str, Any]:
    """Typed option values from ``--policy-args`` strings, with errors that say the fix."""
    for name in given:
        if name.lower() in _SECRET_OPTIONS:
            raise PolicyConfigError(
                f"--policy-args {name}=... would be stored in run.json; the {policy} policy reads "
                f"its API key from the environment only (see `bench list policies`)"
            )
    values: dict[str, Any] = {name: opt.default for name, opt in table.items()}
    for name, text in given.items():
        if name == "weights":  # PolicyBase's generic describe() option: not ours to check
            continue
        if name not in table:
            close = difflib.get_close_matches(name, list(table), n=1)
            hint = f" — did you mean {close[0]!r}?" if close else ""
            raise PolicyConfigError(
                f"unknown {policy} option {name!r}{hint} (options: {', '.join(sorted(table))})"
            )
        opt = table[name]
        try:
            if opt.kind is bool:
                if text.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(text)
                value: Any = text.lower() in ("1", "true", "yes")
            else:
                value = opt.kind(text)
        except ValueError:
            raise PolicyConfigError(
                f"{policy} option {name}={text!r} is not a valid {opt.kind.__name__} ({opt.help})"
            ) from None
        if opt.choices and value not in opt.choices:
            raise PolicyConfigError(
                f"{policy} option {name}={text!r}: choose one of {list(opt.choices)}"
            )
        values[name] = value
    return values


def redact_url(url: str | None) -> str | None:
    """A URL without user info, query or fragment (they can carry credentials)."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass
class Reply:
    """What one API call returned, in backend-neutral terms."""

    tool_input: Any | None
    text: str
    usage: Usage
    retries: int = 0
    stop_reason: str | None = None
    model_time_s: float | None = None


@dataclass
class _Episode:
    spec: TaskSpec
    history: P.History
    examples: list[P.Part]
    step: int = 0
    feedback: str | None = None


class AgentPolicy(PolicyBase):
    """The shared agent loop; a backend provides ``_make_client`` and ``_call``."""

    action_spaces: ClassVar[tuple[str, ...]] = ("*",)
    n_action_steps = 1
    warmup_calls = 0
    privileged = False

    provider: ClassVar[str] = ""
    key_env: ClassVar[str] = ""
    default_model: ClassVar[str | None] = None
    options_table: ClassVar[dict[str, Option]] = COMMON_OPTIONS
    tool_modes: ClassVar[tuple[str, ...]] = TOOL_MODES

    def __init__(self, config: PolicyConfig, *, http_client: Any = None) -> None:
        """Check options, read the key, build the SDK client (``http_client``: custom transport)."""
        super().__init__(config)
        self.options = parse_options(config.name, config.options, self.options_table)
        model = self.options["model"] or config.checkpoint or self.default_model
        if config.checkpoint and self.options["model"] and config.checkpoint != model:
            raise PolicyConfigError(
                f"{config.name}: checkpoint={config.checkpoint!r} and model={model!r} disagree; "
                f"pass one of them"
            )
        if not model:
            raise PolicyConfigError(
                f"the {config.name} policy needs a model: --policy-args model=<id>"
                f"{',base_url=<endpoint>' if self.provider != 'anthropic' else ''}"
            )
        self.model: str = model
        if self.options["base_url"] and urlsplit(self.options["base_url"]).username:
            raise PolicyConfigError(
                f"{config.name}: base_url carries credentials, which would be stored in "
                f"run.json; put the key in {self.key_env} and pass the URL without them"
            )
        if self.options["tool_choice"] not in self.tool_modes:
            raise PolicyConfigError(
                f"{config.name} option tool_choice={self.options['tool_choice']!r}: choose one "
                f"of {list(self.tool_modes)}"
            )
        self.tool_mode: str = self.options["tool_choice"]
        self.uses_images = bool(self.options["image"])
        self.price = self._price()
        if self.options["max_cost"] is not None and self.price is None:
            raise PolicyConfigError(
                f"max_cost needs a price for model {self.model!r}: pass "
                f"price_in=<USD per Mtok>,price_out=<USD per Mtok>"
            )
        self.spent_usd = 0.0
        self.calls = 0
        self._episode: _Episode | None = None
        self._examples: list[P.FewShotExample] | None = None
        key = os.environ.get(self.key_env, "").strip()
        if not key:
            raise MissingAPIKeyError(
                f"the {config.name} policy needs an API key in the environment: export "
                f"{self.key_env}=... (it is read from there only, never from --policy-args)"
                + self._missing_key_hint()
            )
        self._client = self._make_client(key, http_client)

    # -- what a backend provides ------------------------------------------------------------
    def _make_client(self, api_key: str, http_client: Any) -> Any:
        raise NotImplementedError

    def _call(self, prompt: P.Prompt, space: ActionSpace, mode: str) -> Reply:
        """One API call in tool mode ``mode``; raise RequestRejectedError on an HTTP 400."""
        raise NotImplementedError

    def _price_table(self) -> dict[str, Price]:
        return {}

    def _missing_key_hint(self) -> str:
        return ""

    # -- the policy protocol ----------------------------------------------------------------
    def _price(self) -> Price | None:
        from vla_bench_claude.pricing import price_for

        listed = price_for(self.model, self._price_table())
        given_in, given_out = self.options["price_in"], self.options["price_out"]
        if given_in is None and given_out is None:
            return listed
        if given_in is None or given_out is None:
            raise PolicyConfigError("give both price_in and price_out (USD per million tokens)")
        return Price(given_in, given_out)

    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: Any) -> None:
        """Start an episode: clear the history, keep the few-shot block for this task."""
        if self._examples is None:
            path = self.options["few_shot"]
            self._examples = P.load_few_shot(path, task.action_space) if path else []
        self._episode = _Episode(
            spec=task,
            history=P.History(self.options["history"]),
            examples=P.example_parts(self._examples),
        )

    def act(self, observation: Observation) -> ActionChunk:
        """One API call -> one action (the no-op when the answer holds no valid action)."""
        ep = self._episode
        if ep is None:
            raise RuntimeError("reset() must come before act()")
        budget = self.options["max_cost"]
        # The runner's ledger counts every worker's calls; our own count covers use outside it.
        spent = max(self.spent_usd, self.spending.usd)
        if budget is not None and spent >= budget:
            raise BudgetExceeded(
                f"{self.config.name}: max_cost ${budget:.2f} reached "
                f"(spent ${spent:.4f} by this run; {self.calls} calls in this process)"
            )
        space = ep.spec.action_space
        ep.step += 1
        png = self._frame_png(observation, ep.spec)
        start = time.perf_counter()
        reply, mode = self._call_with_fallback(observation, ep, png)
        api_s = time.perf_counter() - start
        self.calls += 1
        cost = self.price.cost(reply.usage) if self.price is not None else 0.0
        self.spent_usd += cost

        decoded, source = self._decode(reply, space)
        failures = 0
        if decoded.ok:
            assert decoded.actions is not None
            actions, label, ep.feedback = decoded.actions, decoded.label, None
        else:
            failures = 1
            noop = space.names[0] if space.discrete else "all zeros"
            actions, label, source = space.noop()[None, :], noop, "noop"
            ep.feedback = (
                f"your previous answer could not be used ({decoded.error}), so '{noop}' was "
                f"executed instead. Answer with exactly one allowed action"
                + (f" through the {P.TOOL_NAME} tool." if mode != "none" else ".")
            )
        reasoning = self._reasoning(reply)
        ep.history.add(ep.step, label, reasoning, fallback=not decoded.ok)
        return ActionChunk(
            np.asarray(actions, dtype=np.float64),
            model_time_s=reply.model_time_s,
            input_tokens=reply.usage.prompt_tokens,
            output_tokens=reply.usage.output_tokens,
            cost_usd=cost,
            decode_failures=failures,
            info={
                "action": label,
                "source": source,
                "tool_mode": mode,
                "retries": reply.retries,
                "api_s": api_s,
                "stop_reason": reply.stop_reason,
                "clipped": decoded.clipped,
                "decode_error": decoded.error,
                "cache_read_tokens": reply.usage.cache_read_tokens,
                "cache_write_tokens": reply.usage.cache_write_tokens,
            },
        )

    def describe(self) -> dict[str, Any]:
        """Model, endpoint (redacted), prompting options and prices; never the key.

        ``tool_choice`` is the mode asked for; the mode each call used is in the chunk's info.
        """
        price = (
            None if self.price is None else {"input": self.price.input, "output": self.price.output}
        )
        return {
            "checkpoint": self.model,
            "weights": "api",
            "provider": self.provider,
            "model": self.model,
            "base_url": redact_url(self._base_url()),
            "tool_choice": self.tool_mode,
            "history": self.options["history"],
            "few_shot": self.options["few_shot"],
            "image": self.uses_images,
            "max_cost_usd": self.options["max_cost"],
            "price_usd_per_mtok": price,
        }

    def close(self) -> None:
        """Close the SDK client's connection pool."""
        close = getattr(self._client, "close", None)
        if close is not None:
            close()

    # -- helpers ----------------------------------------------------------------------------
    def _base_url(self) -> str | None:
        url = getattr(self._client, "base_url", None)
        return str(url) if url is not None else self.options["base_url"]

    def _frame_png(self, observation: Observation, spec: TaskSpec) -> bytes | None:
        if not self.uses_images:
            return None
        images = observation.get("images") or {}
        camera = self.options["camera"] or next(iter(spec.cameras), None)
        if camera is None or camera not in images:
            if self.options["camera"]:
                raise ValueError(
                    f"camera {camera!r} is not in this observation (cameras: {sorted(images)})"
                )
            return None
        return P.encode_png(images[camera])

    def _prompt(
        self, observation: Observation, ep: _Episode, png: bytes | None, mode: str
    ) -> P.Prompt:
        tools = mode != "none"
        parts = [
            *ep.examples,
            *P.step_parts(
                instruction=str(observation.get("instruction") or ep.spec.instruction),
                png=png,
                state_text=observation.get("state_text"),
                history=ep.history.entries,
                feedback=ep.feedback,
                space=ep.spec.action_space,
                step=ep.step,
                tools=tools,
            ),
        ]
        return P.Prompt(P.system_text(ep.spec, tools=tools), tuple(parts))

    def _call_with_fallback(
        self, observation: Observation, ep: _Episode, png: bytes | None
    ) -> tuple[Reply, str]:
        """Call in the current tool mode; if the server rejects it, try the plainer modes.

        Some models refuse forced tool use (Claude Sonnet 5.5 answers HTTP 400), and some
        OpenAI-compatible servers support no tools at all. A mode that works is kept for the
        rest of the run; if every mode is rejected the first error is raised.
        """
        modes = self.tool_modes[self.tool_modes.index(self.tool_mode) :]
        first_error: RequestRejectedError | None = None
        for mode in modes:
            try:
                reply = self._call(
                    self._prompt(observation, ep, png, mode), ep.spec.action_space, mode
                )
            except RequestRejectedError as exc:
                first_error = first_error or exc
                continue
            if mode != self.tool_mode:
                log.warning(
                    "%s: the server rejected tool_choice=%s (%s); using tool_choice=%s from now on",
                    self.config.name,
                    self.tool_mode,
                    first_error,
                    mode,
                )
                self.tool_mode = mode
            return reply, mode
        assert first_error is not None
        raise first_error

    @staticmethod
    def _decode(reply: Reply, space: ActionSpace) -> tuple[Decoded, str]:
        if reply.tool_input is not None:
            decoded = parse_tool_input(reply.tool_input, space)
            if decoded.ok:
                return decoded, "tool"
            from_text = parse_text(reply.text, space) if reply.text else None
            if from_text is not None and from_text.ok:
                return from_text, "text"
            return decoded, "tool"
        if not reply.text.strip():
            reason = "no tool call and no text"
            if reply.stop_reason == "max_tokens":
                reason += " (the answer hit max_tokens; raise max_tokens)"
            return Decoded(None, error=reason), "none"
        return parse_text(reply.text, space), "text"

    @staticmethod
    def _reasoning(reply: Reply) -> str:
        args = reply.tool_input
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                return ""
        if isinstance(args, Mapping):
            return str(args.get("reasoning", ""))
        return ""
