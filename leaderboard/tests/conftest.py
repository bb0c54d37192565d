"""Run directories with known outcomes, written by the real runner from the board plugin.

Nothing here writes run.json or an episode by hand: ``make_run`` calls
``harness.run.execute`` with the ``oracle`` policies of ``boardplugin.py``, so a change of
the runner's output format reaches these tests at once.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))

Plan = str | dict[str, str]
"""Per-episode codes (see boardplugin): one string for every task, or one per task."""


@pytest.fixture(autouse=True)
def board_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Load the board plugin beside the installed ones, with a fresh registry per test."""
    from harness import plugins

    monkeypatch.setenv("VLA_BENCH_PLUGINS", "boardplugin")
    plugins.loaded.cache_clear()
    yield
    plugins.loaded.cache_clear()


def run_board(
    out: Path,
    plan: Plan,
    *,
    policy: str = "alpha",
    task: str | None = None,
    seed: int = 0,
    episodes: int | None = None,
    task_args: dict[str, str] | None = None,
    checkpoint: str | None = None,
    n_action_steps: int | None = None,
    video: int = 0,
    **options: str,
) -> Path:
    """Run ``policy`` on ``task`` (a task or suite name; default: the plan's one task, or
    ``pick``, or suite ``demo`` for a plan per task) through the runner, into ``out``.

    ``options`` become policy options (``weights=random``, ``digest=...``, ``sleep=0.01``,
    ``error=...``, ``cost=...``); ``episodes`` defaults to the longest plan. The plan reaches
    the policy through ``BOARD_PLAN``, outside its configuration.
    """
    from harness.contract import PolicyConfig
    from harness.record import RunSettings
    from harness.run import execute

    plans = plan if isinstance(plan, dict) else {task or "pick": plan}
    target = task or (next(iter(plans)) if len(plans) == 1 else "demo")
    config = PolicyConfig(name=policy, checkpoint=checkpoint, seed=seed, options=options)
    settings = RunSettings(
        episodes=episodes or max(len(p) for p in plans.values()),
        seed=seed,
        n_action_steps=n_action_steps,
        video=video,
        task_options=dict(task_args or {}),
    )
    before = os.environ.get("BOARD_PLAN")
    os.environ["BOARD_PLAN"] = json.dumps(plans)
    try:
        report = execute(config, target, settings, out, ["bench", "run", "--policy", policy])
    finally:
        if before is None:
            del os.environ["BOARD_PLAN"]
        else:
            os.environ["BOARD_PLAN"] = before
    assert report.status == ("stopped" if "budget" in options else "complete"), report.detail
    return out


@pytest.fixture(scope="session")
def _run_cache(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {}


@pytest.fixture
def make_run(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, _run_cache: dict[str, Path]
) -> Callable[..., Path]:
    """``make_run("name", plan, **options)`` -> a run directory (see :func:`run_board`).

    Runs are made once per session and shared between tests (read them, never change them);
    ``private=True`` makes one under this test's ``tmp_path/runs/`` for a test that damages it.
    """

    def make(name: str, plan: Plan, *, private: bool = False, **options: Any) -> Path:
        if private:
            return run_board(tmp_path / "runs" / name, plan, **options)
        key = json.dumps([name, plan, options], sort_keys=True, default=str)
        if key not in _run_cache:
            base = tmp_path_factory.mktemp("shared")
            _run_cache[key] = run_board(base / "runs" / name, plan, **options)
        return _run_cache[key]

    return make


def wins(k: int, n: int = 20) -> str:
    """A plan where the first ``k`` of ``n`` episodes succeed."""
    return "1" * k + "0" * (n - k)
