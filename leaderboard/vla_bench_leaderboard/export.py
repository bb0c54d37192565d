"""Machine-readable leaderboards: one record per policy and task, as CSV or JSON.

Each record carries the figures every other format shows (success with its interval and
denominator, errors, latency, control rates, smoothness with counts, the rank and its test)
under stable column names, with undefined numbers as empty cells (CSV) or null (JSON).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from harness.metrics import SPARC_REFERENCE
from harness.results import Run
from harness.summary import json_ready
from vla_bench_leaderboard.table import Cell, Leaderboard, build

COLUMNS = (
    "policy",
    "policy_name",
    "weights",
    "weights_id",
    "weights_by_path",
    "config",
    "suite",
    "task",
    "task_version",
    "track_version",
    "fingerprint",
    "rank",
    "rank_status",
    "rank_reason",
    "p_value_vs_leader",
    "holm_p_vs_leader",
    "successes",
    "episodes",
    "distinct_episodes",
    "replicate_seeds",
    "success_rate",
    "ci_low",
    "ci_high",
    "interval",
    "failures",
    "errors",
    "error_kinds",
    "act_calls",
    "act_p50_s",
    "act_p95_s",
    "act_mean_s",
    "latency_source",
    "n_action_steps",
    "control_hz",
    "sync_rate_hz",
    "async_bound_hz",
    "ldlj",
    "ldlj_n",
    "sparc",
    "sparc_n",
    "smoothness_basis",
    "sparc_parameters",
    "chunk_jump_translation",
    "chunk_jump_rotation",
    "chunk_jump_gripper",
    "cost_usd_per_episode",
    "flags",
    "runs",
)
"""The fields of a record, in order (the CSV header)."""


def record(cell: Cell, label: str) -> dict[str, Any]:
    """The export record of one policy on one task (NaN left as NaN; see :func:`json_ready`)."""
    s, p, t, r = cell.stats, cell.policy, cell.task, cell.rank
    smooth = s.smoothness

    def jump(group: str) -> float | None:
        avg = smooth.get(f"jump_{group}")
        return avg.value if avg is not None else None

    return {
        "policy": label,
        "policy_name": p.name,
        "weights": p.weights,
        "weights_id": p.weights_digest or p.checkpoint,
        "weights_by_path": p.by_path,
        "config": p.config_label,
        "suite": t.suite,
        "task": t.name,
        "task_version": t.version,
        "track_version": t.track_version,
        "fingerprint": t.fingerprint,
        "rank": r.label,
        "rank_status": r.status,
        "rank_reason": r.reason,
        "p_value_vs_leader": r.p_value,
        "holm_p_vs_leader": r.adjusted_p,
        "successes": s.successes,
        "episodes": s.episodes,
        "distinct_episodes": s.distinct,
        "replicate_seeds": " ".join(s.replicates),
        "success_rate": s.success_rate,
        "ci_low": s.ci_low,
        "ci_high": s.ci_high,
        "interval": s.interval,
        "failures": s.failures,
        "errors": s.errors,
        "error_kinds": json.dumps(s.error_kinds, sort_keys=True),
        "act_calls": s.act_calls,
        "act_p50_s": s.act_p50_s,
        "act_p95_s": s.act_p95_s,
        "act_mean_s": s.act_mean_s,
        "latency_source": s.latency_source,
        "n_action_steps": s.n_action_steps,
        "control_hz": s.control_hz,
        "sync_rate_hz": s.sync_hz,
        "async_bound_hz": s.async_hz,
        "ldlj": s.ldlj.value,
        "ldlj_n": s.ldlj.n,
        "sparc": s.sparc.value,
        "sparc_n": s.sparc.n,
        "smoothness_basis": s.smoothness_basis,
        "sparc_parameters": SPARC_REFERENCE if s.smoothness_basis else "",
        "chunk_jump_translation": jump("translation"),
        "chunk_jump_rotation": jump("rotation"),
        "chunk_jump_gripper": jump("gripper"),
        "cost_usd_per_episode": s.cost_per_episode,
        "flags": "; ".join(cell.flags),
        "runs": " ".join(src.run_id for src in cell.sources),
    }


def records_of(board: Leaderboard) -> list[dict[str, Any]]:
    """JSON-ready records of every cell, in ranking-group order."""
    labels = board.labels()
    return [json_ready(record(cell, labels[cell.policy])) for cell in board.cells]


def render_json(runs: Sequence[Run], problems: Sequence[str]) -> str:
    """The leaderboard as one JSON document: records, notes, problems, skipped runs."""
    board = build(runs, problems)
    document = {
        "columns": list(COLUMNS),
        "records": records_of(board),
        "notes": board.notes,
        "problems": list(board.problems),
        "skipped": board.skipped,
        "runs": [s.root for s in board.sources],
    }
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def render_csv(runs: Sequence[Run], problems: Sequence[str]) -> str:
    """The leaderboard as CSV: a header of :data:`COLUMNS`, then one line per record."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in records_of(build(runs, problems)):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()
