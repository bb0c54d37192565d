"""Per-episode statistics: what ``bench run``, ``bench compare`` and the leaderboard all show.

Definitions (the leaderboard's "Methods" section and the README repeat them):

- **Success rate** = successes / episodes, where *episodes* counts every episode run, errors
  included (an error is not a success). Errors (policy errors, act() timeouts, bad actions,
  simulator errors: :data:`harness.results.ERROR_OUTCOMES`) are counted apart from
  *failures* (timeouts, early terminations) and never reported as failures.
- **Smoothness** (LDLJ, SPARC, chunk-boundary jump ratios) is averaged over the successful
  episodes by default, with the number of episodes averaged shown: an early failure has a
  short, smooth-looking path. Infinite values are counted and shown, never dropped silently.
- **Latency**: percentiles of every timed act() call; the *synchronous control rate*
  ``n_action_steps / (mean act() time + n_action_steps / control rate)`` is what a robot gets
  when it waits for each chunk and then executes it in real time, as the runner does; the
  *asynchronous bound* ``n_action_steps / p95`` is what overlapping inference with execution
  could reach at best.
- **Latency-aware timing** (:mod:`harness.latency`): the *stale-action ratio* is held steps /
  steps and the *effective control rate* the actions the policy chose per simulated second,
  both pooled over the task's timed episodes (NaN for synchronous runs).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness import metrics
from harness.results import ERROR_OUTCOMES, Run


def numeric(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A numeric column as floats: NaN where missing or not a number, all NaN if absent (runs
    written by older versions lack some columns)."""
    if name not in frame.columns:
        return np.full(len(frame), math.nan)
    return np.asarray(pd.to_numeric(frame[name], errors="coerce"), dtype=float)


@dataclass(frozen=True)
class Average:
    """A mean and what it covers: ``n`` finite values of ``of`` episodes; ``infinite`` values
    (e.g. LDLJ of a path with zero jerk) are left out of the mean and counted here."""

    value: float
    n: int
    infinite: int
    of: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as None)."""
        return {
            "value": self.value if math.isfinite(self.value) else None,
            "n": self.n,
            "infinite": self.infinite,
            "of": self.of,
        }


def average(x: np.ndarray) -> Average:
    """The mean of the finite values of ``x``, counting infinite and missing ones apart."""
    x = np.asarray(x, dtype=float)
    finite = x[np.isfinite(x)]
    return Average(
        value=float(finite.mean()) if finite.size else math.nan,
        n=int(finite.size),
        infinite=int(np.isinf(x).sum()),
        of=int(x.size),
    )


def outcome_stats(episodes: pd.DataFrame, distinct_episodes: int | None = None) -> dict[str, Any]:
    """Success with its 95% interval, failures, errors by kind, steps to success.

    ``success_rate = successes / episodes`` over every episode run (errors included);
    ``distinct_episodes`` (fewer than the rows when a policy ran episodes with several seeds)
    sets the interval's effective sample size (:func:`metrics.wilson_interval_effective`).
    """
    n = len(episodes)
    success = episodes["success"].to_numpy(dtype=bool)
    wins = int(success.sum())
    is_error = episodes["outcome"].isin(ERROR_OUTCOMES).to_numpy()
    errors = int(is_error.sum())
    if distinct_episodes is not None and 0 < distinct_episodes < n:
        low, high = metrics.wilson_interval_effective(wins / n, distinct_episodes)
    else:
        low, high = metrics.wilson_interval(wins, n) if n else (math.nan, math.nan)
    error_rows = episodes[is_error]
    messages = error_rows["error"].dropna() if "error" in error_rows else pd.Series([])
    won = episodes[success]
    return {
        "episodes": n,
        "successes": wins,
        "success_rate": wins / n if n else math.nan,
        "ci_low": low,
        "ci_high": high,
        "failures": n - wins - errors,
        "errors": errors,
        "error_kinds": {str(k): int(v) for k, v in error_rows["outcome"].value_counts().items()},
        "first_error": str(messages.iloc[0]) if len(messages) else None,
        "mean_steps_to_success": float(won["steps"].mean()) if len(won) else math.nan,
    }


def smoothness_basis(episodes: pd.DataFrame) -> str:
    """How the smoothness values of these episodes were computed, in words."""
    hz = numeric(episodes, "smoothness_fs")
    hz = hz[np.isfinite(hz)]
    if hz.size == 0:
        return ""
    rates = sorted(set(hz.tolist()))
    text = f"end-effector path at {', '.join(f'{v:g}' for v in rates)} Hz over the movement window"
    if rates[0] < 2 * metrics.SPARC_FC_HZ:
        text += (
            f" (below {2 * metrics.SPARC_FC_HZ:g} Hz SPARC's cut-off is capped at half the rate: "
            "not comparable with the reference's)"
        )
    return text


def smoothness(episodes: pd.DataFrame, successful_only: bool = True) -> dict[str, Average]:
    """LDLJ, SPARC and the chunk-boundary jump ratios averaged over the successful episodes
    (all episodes with ``successful_only=False``). Keys: ``ldlj``, ``sparc`` and
    ``jump_<group>`` for each action group an episode recorded in ``chunk_jumps``."""
    rows = episodes[episodes["success"].to_numpy(dtype=bool)] if successful_only else episodes
    out = {"ldlj": average(numeric(rows, "ldlj")), "sparc": average(numeric(rows, "sparc"))}
    jumps = [_jumps(v) for v in rows["chunk_jumps"]] if "chunk_jumps" in rows else []
    for group in sorted({g for j in jumps for g in j}):
        out[f"jump_{group}"] = average(np.array([j.get(group, math.nan) for j in jumps]))
    return out


def _jumps(value: Any) -> dict[str, float]:
    """An episode's ``chunk_jumps`` JSON as {group: ratio} (NaN where null)."""
    try:
        data = json.loads(value) if isinstance(value, str) else {}
    except json.JSONDecodeError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): float(v) if isinstance(v, int | float) else math.nan for k, v in data.items()}


def act_latency(episodes: pd.DataFrame, act_s: np.ndarray | None) -> tuple[dict[str, float], str]:
    """Latency over every timed ``act`` call (``act_s``, from the steps table), and where it
    came from: ``"steps"``; ``"episodes"`` when only the per-episode medians exist (a coarser
    fallback, marked as such: its mean is the mean of medians); ``"none"``. Keys: ``p50``,
    ``p95``, ``p99``, ``mean`` (seconds) and ``calls``."""
    if act_s is not None and np.isfinite(act_s).any():
        calls, source = act_s, "steps"
    else:
        calls = numeric(episodes, "act_p50_s")
        source = "episodes" if np.isfinite(calls).any() else "none"
    lat = metrics.latency_percentiles(calls)
    finite = calls[np.isfinite(calls)]
    lat["mean"] = float(finite.mean()) if finite.size else math.nan
    lat["calls"] = float(finite.size) if source == "steps" else 0.0
    return lat, source


def control_rates(
    lat: dict[str, float], n_action_steps: float, control_hz: float | None
) -> dict[str, float]:
    """The synchronous control rate and the asynchronous bound (see the module docstring)."""
    return {
        "sync_hz": metrics.synchronous_rate(lat["mean"], n_action_steps, control_hz),
        "async_hz": metrics.asynchronous_bound(lat["p95"], n_action_steps),
    }


def timed_rates(episodes: pd.DataFrame, control_hz: float | None) -> dict[str, float]:
    """Stale-action ratio and effective control rate pooled over the timed episodes (those
    with a finite ``stale_ratio``): held steps / steps, and policy actions per second."""
    timed = np.isfinite(numeric(episodes, "stale_ratio"))
    steps = float(numeric(episodes, "steps")[timed].sum())
    if not steps:
        return {"stale_ratio": math.nan, "effective_hz": math.nan}
    held = float(numeric(episodes, "held_steps")[timed].sum())
    hz = control_hz if control_hz else math.nan
    return {"stale_ratio": held / steps, "effective_hz": (steps - held) * hz / steps}


def json_ready(obj: Any) -> Any:
    """``obj`` with NaN and infinities as None and :class:`Average` as a dict: valid JSON."""
    if isinstance(obj, Average):
        return obj.as_dict()
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_ready(v) for v in obj]
    return obj


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """Text from a run or plugin made safe for a terminal: control characters (escape
    sequences included) are shown as ``\\xNN`` instead of being sent to the terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def task_summary(
    episodes: pd.DataFrame,
    steps: pd.DataFrame | None = None,
    n_action_steps: float = 1.0,
    control_hz: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """One JSON-ready dict per task (undefined numbers are None): success with its Wilson
    interval and denominator, errors, length, latency over every timed ``act`` call,
    control rates, smoothness over the successful episodes with counts."""
    out = []
    for task, group in episodes.groupby("task", sort=True):
        act_s = None
        if steps is not None and len(steps) and "act_s" in steps:
            act_s = steps.loc[steps["task"] == task, "act_s"].to_numpy(dtype=float)
        lat, source = act_latency(group, act_s)
        stats = outcome_stats(group)
        del stats["first_error"]
        inputs, outputs = numeric(group, "input_tokens"), numeric(group, "output_tokens")
        cost = numeric(group, "cost_usd")
        smooth = smoothness(group)
        hz = (control_hz or {}).get(str(task))
        rates = control_rates(lat, n_action_steps, hz)
        row = {
            "task": str(task),
            **stats,
            "success_denominator": "all episodes (errors included)",
            "act_p50_s": lat["p50"],
            "act_p95_s": lat["p95"],
            "act_p99_s": lat["p99"],
            "act_mean_s": lat["mean"],
            "latency_source": source,
            **rates,
            **timed_rates(group, hz),
            "smoothness_over": "successful episodes",
            "smoothness_basis": smoothness_basis(group),
            "sparc_parameters": metrics.SPARC_REFERENCE,
            **smooth,
            "clipped_actions": int(np.nansum(numeric(group, "clipped_actions"))),
            "decode_failures": int(np.nansum(numeric(group, "decode_failures"))),
            "cost_usd_per_episode": float(np.nanmean(cost)) if np.isfinite(cost).any() else 0.0,
            "tokens": (
                f"{int(np.nansum(inputs))}/{int(np.nansum(outputs))}"
                if np.nansum(inputs) or np.nansum(outputs)
                else ""
            ),
        }
        out.append(json_ready(row))
    return out


def chunk_length(steps: pd.DataFrame | None) -> float | None:
    """Actions executed per act() call, read off the steps (median chunk length)."""
    if steps is None or steps.empty or not {"task", "episode", "chunk"} <= set(steps.columns):
        return None
    sizes = steps.groupby(["task", "episode", "chunk"]).size()
    return float(sizes.median()) if len(sizes) else None


def run_summary(run: Run) -> list[dict[str, Any]]:
    """:func:`task_summary` of a run, with the chunk length and control rates its record
    gives (the chunk length read off the steps where the record has none)."""
    steps = run.steps()
    k = run.record.policy.n_action_steps or chunk_length(steps) or 1.0
    control = {name: task.control_hz for name, task in run.record.tasks.items()}
    return task_summary(run.episodes, steps, n_action_steps=k, control_hz=control)


def _delta(b: Any, a: Any) -> float | None:
    if isinstance(a, dict) and isinstance(b, dict):
        a, b = a.get("value"), b.get("value")
    if a is None or b is None:
        return None
    return float(b) - float(a)


DELTA_KEYS = ("ldlj", "sparc", "act_p50_s", "act_p95_s")
"""The figures :func:`compare_runs` gives as differences B - A (``delta_<key>``)."""


def compare_runs(a: Run, b: Run) -> list[dict[str, Any]]:
    """Per shared task (JSON-ready): each run's summary, the paired exact McNemar p-value over
    the episodes both ran (same seed, same task fingerprint) and its Holm adjustment over the
    paired tasks (``p_holm``), and the differences (B - A) in smoothness and latency."""
    summary_a = {s["task"]: s for s in run_summary(a)}
    summary_b = {s["task"]: s for s in run_summary(b)}
    rows = []
    for task in sorted(set(summary_a) & set(summary_b)):
        sa, sb = summary_a[task], summary_b[task]
        fingerprint_a = a.record.tasks[task].fingerprint if task in a.record.tasks else None
        fingerprint_b = b.record.tasks[task].fingerprint if task in b.record.tasks else None
        row: dict[str, Any] = {
            "task": task,
            "a": sa,
            "b": sb,
            "paired": 0,
            "b_only_a": 0,
            "c_only_b": 0,
            "p_value": None,
            "note": None,
        }
        if fingerprint_a != fingerprint_b:
            row["note"] = (
                f"task fingerprints differ ({fingerprint_a} vs {fingerprint_b}: a changed task "
                "or track): not paired"
            )
        else:
            ea = a.episodes[a.episodes["task"] == task].set_index("seed")["success"]
            eb = b.episodes[b.episodes["task"] == task].set_index("seed")["success"]
            shared = ea.index.intersection(eb.index)
            sa_ok, sb_ok = ea.loc[shared].astype(bool), eb.loc[shared].astype(bool)
            row["paired"] = len(shared)
            row["b_only_a"] = int((sa_ok & ~sb_ok).sum())
            row["c_only_b"] = int((~sa_ok & sb_ok).sum())
            row["p_value"] = metrics.mcnemar_exact(row["b_only_a"], row["c_only_b"])
        for key in DELTA_KEYS:
            row[f"delta_{key}"] = _delta(sb[key], sa[key])
        rows.append(row)
    # Several tasks are several tests: Holm's adjustment keeps the chance of any false
    # "differs" at the level over all of them.
    paired = [r for r in rows if r["p_value"] is not None]
    for r, adjusted in zip(
        paired, metrics.holm_adjust([r["p_value"] for r in paired]), strict=True
    ):
        r["p_holm"] = adjusted
    for r in rows:
        r.setdefault("p_holm", None)
    return rows


ALL_TASKS = "all {n} tasks"
"""The name of the all-tasks rows (spaces: no task can be named so)."""


def all_tasks_summary(tasks: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The suite line of several :func:`task_summary` rows (None for fewer than two): success
    as the leaderboard ranks a suite, the mean of the task rates with the MOVER interval from
    the task intervals (:func:`metrics.macro_success`), and the summed counts."""
    if len(tasks) < 2:
        return None
    counts = [(int(t["successes"]), int(t["episodes"])) for t in tasks]
    macro = metrics.macro_success(counts)
    return json_ready(
        {
            "task": ALL_TASKS.format(n=len(tasks)),
            "success_rate": macro["rate"],
            "ci_low": macro["ci_low"],
            "ci_high": macro["ci_high"],
            "interval": "MOVER from the task Wilson intervals (mean of the task rates)",
            "successes": sum(k for k, _ in counts),
            "episodes": sum(n for _, n in counts),
            "failures": sum(int(t["failures"]) for t in tasks),
            "errors": sum(int(t["errors"]) for t in tasks),
        }
    )


def compare_overall(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """All the shared tasks of :func:`compare_runs` together, when there are two or more.

    Each run's success is the suite success the leaderboard ranks: the mean of the task rates,
    with the MOVER interval from the task intervals (:func:`metrics.macro_success`). The test
    is the exact McNemar test over every paired episode of every task: each paired episode is
    one matched pair wherever it comes from, so the discordant counts add up across tasks (one
    test, where the per-task p-values are as many tests). Deltas are per task only (None).
    """
    if len(rows) < 2:
        return None
    paired = [r for r in rows if r["p_value"] is not None]
    only_a = sum(int(r["b_only_a"]) for r in paired)
    only_b = sum(int(r["c_only_b"]) for r in paired)
    unpaired = [r["task"] for r in rows if r["p_value"] is None]
    return json_ready(
        {
            "task": ALL_TASKS.format(n=len(rows)),
            "scope": "all tasks",
            "a": all_tasks_summary([r["a"] for r in rows]),
            "b": all_tasks_summary([r["b"] for r in rows]),
            "paired": sum(int(r["paired"]) for r in paired),
            "b_only_a": only_a,
            "c_only_b": only_b,
            "p_value": metrics.mcnemar_exact(only_a, only_b) if paired else None,
            "p_holm": None,  # one test
            "note": f"not paired (task fingerprints differ): {', '.join(unpaired)}"
            if unpaired
            else None,
            **{f"delta_{key}": None for key in DELTA_KEYS},
        }
    )
