"""Registers the judges, the ``sb3`` policy and the ``judge``, ``judges`` and ``eureka`` commands.

Nothing heavy is imported here: each target module loads when its name is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.hookspecs import hookimpl

if TYPE_CHECKING:
    from harness.registry import Registry

PACKAGE = "vla_bench_rewards"


@hookimpl
def vla_bench_register_judges(registry: Registry) -> None:
    """The API judges, the transformers judges, the keyword rule and two reference checks."""
    judges = (
        ("claude", "judges.api:make_claude", "Claude via the Anthropic Messages API"),
        ("vlm", "judges.api:make_vlm", "any OpenAI-compatible chat endpoint (vLLM, Ollama, ...)"),
        ("blip2", "judges.hf:make_blip2", "BLIP-2 through transformers (hub id or local path)"),
        ("llava", "judges.hf:make_llava", "LLaVA-1.5 through transformers (hub id or local path)"),
        (
            "keyword",
            "judges.keyword:KeywordJudge",
            "the ActionVLM keyword-rule reward on a BLIP-2/LLaVA caption (baseline)",
        ),
        ("oracle", "judges.reference:OracleJudge", "privileged: answers from the simulator"),
        ("constant", "judges.reference:ConstantJudge", "answers one number to everything"),
    )
    for name, target, description in judges:
        registry.add_judge(name, f"{PACKAGE}.{target}", description=description)


@hookimpl
def vla_bench_register_policies(registry: Registry) -> None:
    """``sb3``: a checkpoint written by ``bench train --algo dqn|ppo``."""
    registry.add_policy(
        "sb3",
        f"{PACKAGE}.rl.policy:SB3Policy",
        description="a Stable-Baselines3 DQN/PPO agent trained by bench train --algo "
        "(--policy-args checkpoint=DIR)",
        action_spaces=("discrete",),
    )


@hookimpl
def vla_bench_register_commands(registry: Registry) -> None:
    """``bench judge``, ``bench judges`` and ``bench eureka``."""
    registry.add_command(
        "judge",
        f"{PACKAGE}.cli:judge",
        description="score a judge against the simulator's truth on stored keyframes",
    )
    registry.add_command(
        "judges",
        f"{PACKAGE}.cli:judges",
        description="the judges table of stored bench judge results",
    )
    registry.add_command(
        "eureka",
        f"{PACKAGE}.cli:eureka",
        description="LLM-written reward code: generate, train (PPO), evaluate, reflect",
    )
