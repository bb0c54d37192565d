"""Helpers shared by the training tests: the in-process CLI and the demo dataset settings."""

from __future__ import annotations

from click.testing import CliRunner, Result

from harness.cli import main

DEMO_SEED_BASE = 777_000
IMAGE_SIZE = 32


def bench(*args: object) -> Result:
    """Run ``bench ARGS`` in-process through the real CLI (plugin commands included)."""
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
