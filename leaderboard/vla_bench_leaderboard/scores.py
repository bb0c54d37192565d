"""What the leaderboard shows for one cell (policy x task) or row (policy x suite).

Success, errors, smoothness and latency use :mod:`harness.summary`'s definitions, the same
``bench run`` and ``bench compare`` print; this module adds what only a merged leaderboard
entry has: replicates, the suite's macro mean and the outcomes the ranking pairs on.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness import metrics
from harness.summary import (
    Average,
    act_latency,
    control_rates,
    numeric,
    outcome_stats,
    smoothness,
    smoothness_basis,
)
from vla_bench_leaderboard.ranking import Evidence, Outcomes

REALTIME_SHARE = 0.9
"""A synchronous control rate at least this share of the task's rate is shown as keeping up."""


@dataclass(frozen=True)
class Stats:
    """Everything shown for one cell or row, computed from its episodes and act timings.

    ``episodes`` counts every episode run, replicates and errors included: it is the
    denominator of ``success_rate``. ``distinct`` counts distinct episodes (a policy run with
    several ``--seed`` values runs each episode once per seed: ``replicates``).
    """

    episodes: int
    distinct: int
    replicates: tuple[str, ...]
    successes: int
    failures: int
    errors: int
    error_kinds: dict[str, int]
    first_error: str | None
    success_rate: float
    ci_low: float
    ci_high: float
    interval: str
    macro: bool
    mean_steps_to_success: float
    smoothness: dict[str, Average]
    smoothness_basis: str
    act_calls: int
    act_p50_s: float
    act_p95_s: float
    act_mean_s: float
    latency_source: str  # "steps", "episodes" (per-episode medians), or "none"
    n_action_steps: float
    control_hz: float | None
    sync_hz: float
    async_hz: float
    peak_rss_bytes: int | None
    peak_device_bytes: int | None
    cost_per_episode: float | None
    tokens_per_episode: float | None
    outcomes: Outcomes = field(repr=False)

    @property
    def ldlj(self) -> Average:
        """Log dimensionless jerk over the successful episodes."""
        return self.smoothness["ldlj"]

    @property
    def sparc(self) -> Average:
        """SPARC over the successful episodes."""
        return self.smoothness["sparc"]

    @property
    def pace(self) -> str:
        """``ok`` when the synchronous rate keeps at least 90% of the task's control rate,
        ``slow`` when even the asynchronous bound falls short of it, else ``""``."""
        if self.control_hz is None:
            return ""
        if math.isfinite(self.sync_hz) and self.sync_hz >= REALTIME_SHARE * self.control_hz:
            return "ok"
        if math.isfinite(self.async_hz) and self.async_hz < self.control_hz:
            return "slow"
        return ""

    @property
    def evidence(self) -> Evidence:
        """What the ranking needs from this entry."""
        low = self.ci_low if math.isfinite(self.ci_low) else 0.0
        return Evidence(self.success_rate, low, self.outcomes)


def episode_key(task: str, track: str, seed: Any, episode: Any) -> Hashable:
    """What makes two episodes of different runs the same one: task, track identity and
    the episode's seed (its index where an old run lacks seeds)."""
    if seed is None or (isinstance(seed, float) and math.isnan(seed)):
        return (task, track, f"episode {episode}")
    return (task, track, int(seed))


def outcomes_of(episodes: pd.DataFrame, tracks: dict[str, str]) -> Outcomes:
    """Per episode key: successes of its replicates, ordered by policy seed."""
    found: dict[Hashable, list[tuple[Any, bool]]] = defaultdict(list)
    seeds = episodes["policy_seed"] if "policy_seed" in episodes else [None] * len(episodes)
    for task, seed, index, replicate, ok in zip(
        episodes["task"],
        episodes["seed"],
        episodes["episode"],
        seeds,
        episodes["success"].to_numpy(dtype=bool),
        strict=True,
    ):
        key = episode_key(str(task), tracks.get(str(task), "?"), seed, index)
        found[key].append((_order(replicate), bool(ok)))
    return {k: tuple(ok for _, ok in sorted(v, key=lambda x: x[0])) for k, v in found.items()}


def _order(seed: Any) -> tuple[int, float]:
    """Sort key of a policy seed (unknown seeds last)."""
    if seed is None or (isinstance(seed, float) and math.isnan(seed)):
        return (1, 0.0)
    return (0, float(seed))


def _replicates(episodes: pd.DataFrame) -> tuple[str, ...]:
    if "policy_seed" not in episodes:
        return ()
    seeds = {s for s in episodes["policy_seed"] if s is not None and not pd.isna(s)}
    return tuple(str(int(s)) for s in sorted(seeds))


def _max_positive(x: np.ndarray) -> int | None:
    x = x[np.isfinite(x) & (x > 0)]
    return int(x.max()) if x.size else None


def compute_stats(
    episodes: pd.DataFrame,
    act_s: np.ndarray | None,
    *,
    n_action_steps: float,
    has_ee: bool | None,
    control_hz: float | None,
    tracks: dict[str, str],
    rates: Sequence[tuple[float, float, float]] = (),
) -> Stats:
    """The statistics of a set of episodes (one cell, or a row's cells together).

    ``act_s`` holds every timed ``act`` call of these episodes (None: steps were not
    available, and latency falls back to the per-episode medians, marked as such).
    ``tracks`` maps task to its track identity for the episode keys of the paired test.
    ``rates`` (rows only): each task's (rate, ci_low, ci_high); the success rate is then
    their mean, each task weighted equally, with a MOVER interval.
    """
    outcomes = outcomes_of(episodes, tracks)
    out = outcome_stats(episodes, distinct_episodes=len(outcomes))
    interval = "Wilson 95%"
    if len(outcomes) < len(episodes):
        interval = f"Wilson 95% over the {len(outcomes)} distinct episodes (replicates)"
    rate, low, high = out["success_rate"], out["ci_low"], out["ci_high"]
    if rates:
        rate = float(np.mean([r for r, _, _ in rates]))
        low, high = metrics.mover_interval(
            [r for r, _, _ in rates],
            [lo for _, lo, _ in rates],
            [hi for _, _, hi in rates],
            [1.0 / len(rates)] * len(rates),
        )
        low, high = max(0.0, low), min(1.0, high)
        interval = "mean of per-task rates; MOVER 95% from the per-task intervals"
    lat, source = act_latency(episodes, act_s)
    smooth = smoothness(episodes)
    if has_ee is False:
        smooth = {k: Average(math.nan, 0, 0, v.of) for k, v in smooth.items()}
    cost = np.nan_to_num(numeric(episodes, "cost_usd"))
    tokens = np.nan_to_num(numeric(episodes, "input_tokens")) + np.nan_to_num(
        numeric(episodes, "output_tokens")
    )
    reported = bool(len(episodes)) and bool((cost > 0).any() or (tokens > 0).any())
    speed = control_rates(lat, n_action_steps, control_hz)
    return Stats(
        episodes=out["episodes"],
        distinct=len(outcomes),
        replicates=_replicates(episodes),
        successes=out["successes"],
        failures=out["failures"],
        errors=out["errors"],
        error_kinds=out["error_kinds"],
        first_error=out["first_error"],
        success_rate=rate,
        ci_low=low,
        ci_high=high,
        interval=interval,
        macro=bool(rates),
        mean_steps_to_success=out["mean_steps_to_success"],
        smoothness=smooth,
        smoothness_basis=smoothness_basis(episodes) if has_ee is not False else "",
        act_calls=int(lat["calls"]),
        act_p50_s=lat["p50"],
        act_p95_s=lat["p95"],
        act_mean_s=lat["mean"],
        latency_source=source,
        n_action_steps=n_action_steps,
        control_hz=control_hz,
        sync_hz=speed["sync_hz"],
        async_hz=speed["async_hz"],
        peak_rss_bytes=_max_positive(numeric(episodes, "peak_rss_bytes")),
        peak_device_bytes=_max_positive(numeric(episodes, "peak_device_bytes")),
        cost_per_episode=float(cost.mean()) if reported else None,
        tokens_per_episode=float(tokens.mean()) if reported else None,
        outcomes=outcomes,
    )
