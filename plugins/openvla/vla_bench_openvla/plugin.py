"""Registers the ``openvla`` policy. Imports nothing heavy: the target is resolved only when
``--policy openvla`` is used."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.hookspecs import hookimpl

if TYPE_CHECKING:
    from harness.registry import Registry


@hookimpl
def vla_bench_register_policies(registry: Registry) -> None:
    """OpenVLA-7B and its fine-tunes, native on current transformers."""
    registry.add_policy(
        "openvla",
        "vla_bench_openvla.policy:OpenVLAPolicy",
        description=(
            "OpenVLA (DINOv2+SigLIP, Llama-2 7B, 256-bin action tokens); "
            "checkpoint=openvla/openvla-7b or a local dir, or weights=random"
        ),
        action_spaces=("ee_delta_7d",),
    )
