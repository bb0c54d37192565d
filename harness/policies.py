"""Building a policy from its registration and config, with its traits checked once.

Traits that the runner must know before a policy exists (which action spaces it drives,
whether it reads the simulator's state, whether it may run in the runner's own process) are
declared at registration; a policy class that states them too is checked against them here.
Anything a factory raises becomes a :class:`PolicyBuildError` naming the policy, so a backend
need not remember a special exception type to give users a one-line error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.contract import Policy, PolicyConfig, PolicyConfigError
from harness.plugins import registry
from harness.registry import Entry, RegistrationError


class PolicyBuildError(RuntimeError):
    """A policy could not be built; the message names the policy and the cause."""


@dataclass(frozen=True)
class PolicyTraits:
    """What registration declares about a policy."""

    action_spaces: tuple[str, ...] = ("*",)
    privileged: bool = False
    in_process: bool = False

    @classmethod
    def of(cls, entry: Entry) -> PolicyTraits:
        """The traits a registry entry declares."""
        return cls(
            action_spaces=tuple(entry.extra.get("action_spaces", ("*",))),
            privileged=bool(entry.extra.get("privileged", False)),
            in_process=bool(entry.extra.get("in_process", False)),
        )


def build_policy(config: PolicyConfig) -> tuple[Policy, PolicyTraits]:
    """The policy ``config`` names, built, with its registered traits checked."""
    entry = registry().get("policy", config.name)
    traits = PolicyTraits.of(entry)
    factory = entry.load()
    if not callable(factory):
        raise RegistrationError(
            f"policy {config.name!r} (plugin {entry.plugin!r}) is registered with a target that "
            f"is not callable ({type(factory).__name__})"
        )
    try:
        policy = factory(config)
    except PolicyConfigError:
        raise
    except Exception as exc:  # any factory failure is reported as one line
        raise PolicyBuildError(
            f"policy {config.name!r} could not be built: {type(exc).__name__}: {exc}"
        ) from exc
    check_traits(config.name, policy, traits)
    return policy, traits


def check_traits(name: str, policy: Any, traits: PolicyTraits) -> None:
    """Refuse a policy whose class states traits that contradict its registration."""
    stated = getattr(type(policy), "privileged", None)
    if stated is not None and bool(stated) != traits.privileged:
        raise RegistrationError(
            f"policy {name!r}: its class says privileged={bool(stated)} but it is registered "
            f"with privileged={traits.privileged}; fix one (registry.add_policy(..., "
            "privileged=...))"
        )
    spaces = getattr(type(policy), "action_spaces", None)
    if spaces is not None and tuple(spaces) != traits.action_spaces:
        raise RegistrationError(
            f"policy {name!r}: its class says action_spaces={tuple(spaces)} but it is "
            f"registered with {traits.action_spaces}; declare them once, at registration"
        )
