"""Per-task summaries of a run and paired comparisons of two runs (what the CLI prints)."""

from __future__ import annotations

import math
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


def finite_mean(x: np.ndarray) -> float:
    """Mean of the finite values (NaN if there are none)."""
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else math.nan


def outcome_stats(episodes: pd.DataFrame) -> dict[str, Any]:
    """Success with its Wilson 95% interval, failures, errors by kind, steps to success.

    The one definition ``bench run``, ``bench compare`` and the leaderboard all print.
    """
    n = len(episodes)
    success = episodes["success"].to_numpy(dtype=bool)
    wins = int(success.sum())
    is_error = episodes["outcome"].isin(ERROR_OUTCOMES).to_numpy()
    errors = int(is_error.sum())
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


def act_latency(episodes: pd.DataFrame, act_s: np.ndarray | None) -> tuple[dict[str, float], str]:
    """Latency percentiles over every timed ``act`` call (``act_s``, from the steps table), and
    where they came from: ``"steps"``; ``"episodes"`` when only the per-episode medians exist
    (a coarser fallback, marked as such); ``"none"``."""
    if act_s is not None and np.isfinite(act_s).any():
        calls, source = act_s, "steps"
    else:
        calls = numeric(episodes, "act_p50_s")
        source = "episodes" if np.isfinite(calls).any() else "none"
    lat = metrics.latency_percentiles(calls)
    lat["calls"] = float(np.isfinite(calls).sum()) if source == "steps" else 0.0
    return lat, source


def task_summary(episodes: pd.DataFrame, steps: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """One dict per task: success with its Wilson interval, errors, length, latency, smoothness.

    Latency percentiles are over every timed ``act`` call of the task (from ``steps``), not
    medians of per-episode medians; without steps they fall back to the episode rows.
    """
    out = []
    for task, group in episodes.groupby("task", sort=True):
        act_s = None
        if steps is not None and len(steps) and "act_s" in steps:
            act_s = steps.loc[steps["task"] == task, "act_s"].to_numpy(dtype=float)
        lat, _ = act_latency(group, act_s)
        stats = outcome_stats(group)
        del stats["first_error"]
        inputs, outputs = numeric(group, "input_tokens"), numeric(group, "output_tokens")
        out.append(
            {
                "task": str(task),
                **stats,
                "act_p50_s": lat["p50"],
                "act_p95_s": lat["p95"],
                "act_p99_s": lat["p99"],
                "ldlj": finite_mean(numeric(group, "ldlj")),
                "sparc": finite_mean(numeric(group, "sparc")),
                "chunk_jump_ratio": finite_mean(numeric(group, "chunk_jump_ratio")),
                "clipped_actions": int(np.nansum(numeric(group, "clipped_actions"))),
                "decode_failures": int(np.nansum(numeric(group, "decode_failures"))),
                "cost_usd_per_episode": float(np.nanmean(numeric(group, "cost_usd")))
                if np.isfinite(numeric(group, "cost_usd")).any()
                else 0.0,
                "tokens": (
                    f"{int(np.nansum(inputs))}/{int(np.nansum(outputs))}"
                    if np.nansum(inputs) or np.nansum(outputs)
                    else ""
                ),
            }
        )
    return out


def compare_runs(a: Run, b: Run) -> list[dict[str, Any]]:
    """Per shared task: each run's success with intervals, the paired exact McNemar p-value
    over the episodes both ran (same seed, same track version), and the differences (B - A)
    in smoothness and latency."""
    summary_a = {s["task"]: s for s in task_summary(a.episodes, a.steps())}
    summary_b = {s["task"]: s for s in task_summary(b.episodes, b.steps())}
    rows = []
    for task in sorted(set(summary_a) & set(summary_b)):
        sa, sb = summary_a[task], summary_b[task]
        version_a = a.record.tasks[task].track.version if task in a.record.tasks else None
        version_b = b.record.tasks[task].track.version if task in b.record.tasks else None
        row: dict[str, Any] = {
            "task": task,
            "a": sa,
            "b": sb,
            "paired": 0,
            "b_only_a": 0,
            "c_only_b": 0,
            "p_value": math.nan,
            "note": None,
        }
        if version_a != version_b:
            row["note"] = f"track versions differ ({version_a} vs {version_b}): not paired"
        else:
            ea = a.episodes[a.episodes["task"] == task].set_index("seed")["success"]
            eb = b.episodes[b.episodes["task"] == task].set_index("seed")["success"]
            shared = ea.index.intersection(eb.index)
            sa_ok, sb_ok = ea.loc[shared].astype(bool), eb.loc[shared].astype(bool)
            row["paired"] = len(shared)
            row["b_only_a"] = int((sa_ok & ~sb_ok).sum())
            row["c_only_b"] = int((~sa_ok & sb_ok).sum())
            row["p_value"] = metrics.mcnemar_exact(row["b_only_a"], row["c_only_b"])
        for key in ("ldlj", "sparc", "act_p50_s", "act_p95_s"):
            row[f"delta_{key}"] = sb[key] - sa[key]
        rows.append(row)
    return rows
