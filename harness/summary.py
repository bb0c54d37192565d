"""Per-task summaries of a run and paired comparisons of two runs (what the CLI prints)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from harness import metrics
from harness.results import ERROR_OUTCOMES, Run


def task_summary(episodes: pd.DataFrame, steps: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """One dict per task: success with its Wilson interval, errors, length, latency, smoothness.

    Latency percentiles are over every timed ``act`` call of the task (from ``steps``), not
    medians of per-episode medians; without steps they fall back to the episode rows.
    """
    out = []
    for task, group in episodes.groupby("task", sort=True):
        n = len(group)
        wins = int(group["success"].sum())
        errors = int(group["outcome"].isin(ERROR_OUTCOMES).sum())
        low, high = metrics.wilson_interval(wins, n)
        if steps is not None and len(steps) and "act_s" in steps:
            calls = steps.loc[steps["task"] == task, "act_s"].to_numpy(dtype=float)
        else:
            calls = group["act_p50_s"].to_numpy(dtype=float)
        lat = metrics.latency_percentiles(calls)
        won = group[group["success"]]
        out.append(
            {
                "task": str(task),
                "episodes": n,
                "successes": wins,
                "success_rate": wins / n if n else math.nan,
                "ci_low": low,
                "ci_high": high,
                "failures": n - wins - errors,
                "errors": errors,
                "error_kinds": group.loc[group["outcome"].isin(ERROR_OUTCOMES), "outcome"]
                .value_counts()
                .to_dict(),
                "mean_steps_to_success": float(won["steps"].mean()) if len(won) else math.nan,
                "act_p50_s": lat["p50"],
                "act_p95_s": lat["p95"],
                "act_p99_s": lat["p99"],
                "ldlj": _nanmean(group["ldlj"]),
                "sparc": _nanmean(group["sparc"]),
                "chunk_jump_ratio": _nanmean(group["chunk_jump_ratio"]),
                "clipped_actions": int(group["clipped_actions"].sum()),
                "decode_failures": int(group["decode_failures"].sum()),
                "cost_usd_per_episode": float(group["cost_usd"].mean()),
                "tokens": (
                    f"{int(group['input_tokens'].sum())}/{int(group['output_tokens'].sum())}"
                    if group["input_tokens"].sum() or group["output_tokens"].sum()
                    else ""
                ),
            }
        )
    return out


def _nanmean(values: pd.Series) -> float:
    x = values.to_numpy(dtype=float)
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else math.nan


def compare_runs(a: Run, b: Run) -> list[dict[str, Any]]:
    """Per shared task: each run's success with intervals, the paired exact McNemar p-value
    over the episodes both ran (same seed, same track version), and the differences (B - A)
    in smoothness and latency."""
    summary_a = {s["task"]: s for s in task_summary(a.episodes, a.steps())}
    summary_b = {s["task"]: s for s in task_summary(b.episodes, b.steps())}
    rows = []
    for task in sorted(set(summary_a) & set(summary_b)):
        sa, sb = summary_a[task], summary_b[task]
        version_a = a.meta.get("tasks", {}).get(task, {}).get("track", {}).get("version")
        version_b = b.meta.get("tasks", {}).get(task, {}).get("track", {}).get("version")
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
