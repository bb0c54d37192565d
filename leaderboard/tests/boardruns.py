"""Run directories with known outcomes, written by the real runner from the board plugin.

Nothing here writes run.json or an episode by hand: :func:`run_board` calls
``harness.run.execute`` with the ``oracle`` policies of ``boardplugin.py``, so a change of the
runner's output format reaches the leaderboard's tests at once. (A module of its own, not
conftest.py: the engine's tests have a conftest module too.)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

Plan = str | dict[str, str]
"""Per-episode codes (see boardplugin): one string for every task, or one per task."""


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


def wins(k: int, n: int = 20) -> str:
    """A plan where the first ``k`` of ``n`` episodes succeed."""
    return "1" * k + "0" * (n - k)
