"""``bench serve``'s command line: what it refuses before listening, with one line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from harness.cli import main


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--policy", "scripted", "--task", "valve"], "is privileged"),
        (["--policy", "random", "--task", "manipulation"], "--task takes one task"),
        (["--policy", "randon"], "did you mean 'random'"),
        (["--policy", "random", "--api-key-env", "OPENPI_TEST_UNSET"], "is empty"),
        (["--policy", "toy", "--task", "snake"], "drives action spaces"),
    ],
)
def test_serve_refuses_with_one_line(args: list[str], problem: str) -> None:
    result = CliRunner().invoke(main, ["serve", "--port", "0", *args])
    assert result.exit_code == 1, result.output
    assert problem in result.output and "Traceback" not in result.output


def test_serve_runs_on_uvloop_where_installed_else_on_asyncios_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio
    import sys

    from vla_bench_openpi.server import run_event_loop

    async def loop_module() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert run_event_loop(loop_module()).startswith("uvloop")  # a dependency on Linux
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as where it is not installed
    assert run_event_loop(loop_module()).startswith("asyncio")
