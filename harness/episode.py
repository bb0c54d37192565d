"""The one episode loop: reset, then decide → step until success, termination or the step limit.

Everything that drives an env (``bench run``, demo recording, hand-tracking replay, test
rollouts) calls :func:`run_episode`, so an episode ends by the same rules everywhere (see
:mod:`harness.contract`). The caller supplies ``decide(obs) -> action`` (a chunk executor, an
expert, a replayed log) and, optionally, callbacks that record what they need.

Errors never escape as tracebacks from here: what the env raised, returned malformed (``info``
not a dict, a reward that is not a finite number) or hung on is a sim error; what ``decide``
raised is classified by :func:`classify`. Only :class:`~harness.contract.BudgetExceeded`
(which stops a whole run) and, in the main process, a real Ctrl-C propagate.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.contract import BudgetExceeded, EpisodeSpec, Observation
from harness.deadline import CallTimeout, Deadline

SIM_TIMEOUT_S = 120.0
"""Default limit of one ``env.reset`` or ``env.step`` before the episode is a sim error."""


class SimError(RuntimeError):
    """The simulator raised, hung, or returned something the contract does not allow."""


class PolicyCrash(RuntimeError):
    """The process running the policy died (the message names the signal or exit code)."""


@dataclass
class EpisodeEnd:
    """How an episode ended: outcome (see ``harness.results.OUTCOMES``), steps executed,
    the error text for error outcomes, the last info, and the first observation."""

    outcome: str
    steps: int
    error: str | None = None
    info: Mapping[str, Any] = field(default_factory=dict)
    first_observation: Observation | None = None
    exception: BaseException | None = None


def describe_exception(exc: BaseException, limit: int = 6) -> str:
    """``Type: message`` and the last ``limit`` frames, even if the exception's ``__str__``
    raises (a policy's broken exception must not end the run). An error reported by another
    process (``remote_text``) is its own description."""
    remote = getattr(exc, "remote_text", None)
    if isinstance(remote, str):
        return remote
    try:
        message = str(exc)
    except Exception as inner:  # any failure to format is replaced
        message = f"<unprintable: __str__ raised {type(inner).__name__}>"
    try:
        frames = (
            "".join(traceback.format_tb(exc.__traceback__, limit=-limit)).rstrip() if limit else ""
        )
    except Exception:
        frames = ""
    head = f"{type(exc).__name__}: {message}"
    return f"{head}\nTraceback (most recent call last):\n{frames}" if frames else head


def classify(exc: BaseException) -> str:
    """The outcome an exception raised by ``decide`` stands for."""
    from harness.chunking import BadAction, PolicyTimeout

    if isinstance(exc, PolicyTimeout | CallTimeout):
        return "policy_timeout"
    if isinstance(exc, BadAction):
        return "bad_action"
    if isinstance(exc, PolicyCrash):
        return "policy_crash"
    if isinstance(exc, SimError):
        return "sim_error"
    outcome = getattr(exc, "outcome", None)  # an error that says how its episode ends
    from harness.results import ERROR_OUTCOMES

    return outcome if outcome in ERROR_OUTCOMES else "policy_error"


def run_episode(
    env: Any,
    episode: EpisodeSpec,
    decide: Callable[[Observation], Any],
    *,
    max_steps: int,
    on_reset: Callable[[Observation, Mapping[str, Any]], None] | None = None,
    on_step: Callable[[int, Any, float, Mapping[str, Any], Observation], None] | None = None,
    deadline: Deadline | None = None,
    sim_timeout_s: float = SIM_TIMEOUT_S,
    ctrl_c_is_policy_error: bool = False,
) -> EpisodeEnd:
    """Run one episode of ``env`` from ``episode.seed``.

    ``on_reset(obs, info)`` runs after the reset (e.g. to reset the policy with the env);
    ``decide(obs)`` returns the action to execute; ``on_step(step, action, reward, info, obs)``
    runs after each step with the observation the step returned. In a worker process, where
    Ctrl-C is handled by the parent, pass ``ctrl_c_is_policy_error=True``: a KeyboardInterrupt
    there can only come from the policy.
    """
    steps = 0
    first: Observation | None = None
    info: Mapping[str, Any] = {}
    try:
        sim = (deadline, sim_timeout_s)
        obs, info = _checked_reset(env, episode.seed, sim)
        first = obs
        if on_reset is not None:
            on_reset(obs, info)
        for steps in range(1, max_steps + 1):
            action = decide(obs)
            obs, reward, terminated, truncated, info = _checked_step(env, action, sim)
            if on_step is not None:
                on_step(steps - 1, action, reward, info, obs)
            if info.get("success"):
                return EpisodeEnd("success", steps, info=info, first_observation=first)
            if terminated:
                failure = info.get("failure")
                if failure:
                    return EpisodeEnd("sim_error", steps, str(failure), info, first)
                return EpisodeEnd("terminated", steps, info=info, first_observation=first)
            if truncated:
                break
        return EpisodeEnd("timeout", steps, info=info, first_observation=first)
    except BudgetExceeded:
        raise
    except KeyboardInterrupt as exc:
        if not ctrl_c_is_policy_error:
            raise
        return _error("policy_error", exc, steps, info, first)
    except SimError as exc:
        return _error("sim_error", exc, steps, info, first)
    except BaseException as exc:  # SystemExit from a policy ends one episode
        return _error(classify(exc), exc, steps, info, first)


def _error(
    outcome: str,
    exc: BaseException,
    steps: int,
    info: Mapping[str, Any],
    first: Observation | None,
) -> EpisodeEnd:
    # An error while deciding or executing step s means s - 1 steps were executed.
    executed = max(steps - 1, 0)
    if outcome == "sim_error" and isinstance(exc, SimError) and exc.__cause__ is not None:
        text = f"{exc}\n{describe_exception(exc.__cause__)}"
    elif outcome in ("policy_error", "sim_error"):
        text = describe_exception(exc)  # the frames point into the policy or the simulator
    else:
        text = describe_exception(exc, limit=0)  # the runner's verdict: no frames of ours
    return EpisodeEnd(outcome, executed, text, info, first, exc)


_Sim = tuple[Deadline | None, float]


def _sim_call(what: str, sim: _Sim, fn: Callable[..., Any], *args: Any) -> Any:
    deadline, seconds = sim
    try:
        if deadline is None:
            return fn(*args)
        return deadline.call(what, seconds, fn, *args)
    except CallTimeout as exc:
        raise SimError(f"{what} hung for more than {exc.seconds:g}s") from None
    except (BudgetExceeded, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise SimError(f"{what} raised {type(exc).__name__}") from exc


def _checked_reset(env: Any, seed: int, sim: _Sim) -> tuple[Observation, Mapping[str, Any]]:
    out = _sim_call("env.reset", sim, lambda: env.reset(seed=seed))
    if not isinstance(out, tuple) or len(out) != 2:
        raise SimError(f"env.reset returned {type(out).__name__}, not (observation, info)")
    obs, info = out
    return _checked_obs(obs, "env.reset"), _checked_info(info, "env.reset")


def _checked_step(
    env: Any, action: Any, sim: _Sim
) -> tuple[Observation, float, bool, bool, Mapping[str, Any]]:
    out = _sim_call("env.step", sim, env.step, action)
    if not isinstance(out, tuple) or len(out) != 5:
        raise SimError("env.step did not return (observation, reward, terminated, truncated, info)")
    obs, reward, terminated, truncated, info = out
    if type(reward) is not float:  # the common case needs no conversion (this runs every step)
        if isinstance(reward, str | bytes) or not hasattr(reward, "__float__"):
            raise SimError(f"env.step returned a reward of type {type(reward).__name__}")
        reward = float(reward)
    if not math.isfinite(reward):
        raise SimError(f"env.step returned a non-finite reward ({reward})")
    return (
        _checked_obs(obs, "env.step"),
        reward,
        bool(terminated),
        bool(truncated),
        _checked_info(info, "env.step"),
    )


def _checked_obs(obs: Any, what: str) -> Observation:
    if not isinstance(obs, dict):
        raise SimError(f"{what} returned an observation of type {type(obs).__name__}, not a dict")
    return obs


def _checked_info(info: Any, what: str) -> Mapping[str, Any]:
    if type(info) is not dict and not isinstance(info, Mapping):  # a dict skips the ABC check
        raise SimError(f"{what} returned info of type {type(info).__name__}, not a dict")
    return info
