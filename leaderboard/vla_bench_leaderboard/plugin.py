"""Registers the leaderboard renderers (term, Markdown, HTML, CSV, JSON) as a vla-bench plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.hookspecs import hookimpl

if TYPE_CHECKING:
    from harness.registry import Registry


@hookimpl
def vla_bench_register_reporters(registry: Registry) -> None:
    """The formats of ``bench report --format``."""
    registry.add_reporter(
        "term", "vla_bench_leaderboard.term:render", description="tables in the terminal"
    )
    registry.add_reporter(
        "md", "vla_bench_leaderboard.markdown:render", description="GitHub-flavoured Markdown"
    )
    registry.add_reporter(
        "html",
        "vla_bench_leaderboard.html:render",
        description="one self-contained page: sortable tables, plots, rollouts, provenance",
    )
    registry.add_reporter(
        "csv",
        "vla_bench_leaderboard.export:render_csv",
        description="one line per policy and task: intervals, n, errors, latency, smoothness",
    )
    registry.add_reporter(
        "json",
        "vla_bench_leaderboard.export:render_json",
        description="the CSV's records as JSON, with notes and problems",
    )


@hookimpl
def vla_bench_register_commands(registry: Registry) -> None:
    """``bench publish wandb|hub`` (the libraries are optional extras)."""
    registry.add_command(
        "publish",
        "vla_bench_leaderboard.publish:publish",
        description="publish a leaderboard and its runs to Weights & Biases or the HF Hub",
    )
