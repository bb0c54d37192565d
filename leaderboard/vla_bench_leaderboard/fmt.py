"""Number formatting shared by the renderers, so every format shows the same figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vla_bench_leaderboard.table import Stats

DASH = "—"


def finite(x: float | None) -> bool:
    """True for a real, finite number."""
    return x is not None and isinstance(x, int | float) and math.isfinite(x)


def pct(x: float | None) -> str:
    """``0.8123`` -> ``81.2%``."""
    return f"{100 * x:.1f}%" if x is not None and finite(x) else DASH


def ci(low: float | None, high: float | None) -> str:
    """A Wilson interval as ``[62–91]`` (percent)."""
    if not (finite(low) and finite(high)):
        return DASH
    return f"[{100 * low:.0f}–{100 * high:.0f}]"  # type: ignore[operator]


def ms(seconds: float | None) -> str:
    """Seconds shown as milliseconds, with precision that suits the size."""
    if not finite(seconds):
        return DASH
    v = 1000 * seconds  # type: ignore[operator]
    if v < 1:
        return f"{v:.3f} ms"
    if v < 100:
        return f"{v:.1f} ms"
    return f"{v:,.0f} ms"


def hz(rate: float | None) -> str:
    """A rate in Hz."""
    if not finite(rate):
        return DASH
    if rate >= 1000:  # type: ignore[operator]
        return f"{rate / 1000:,.1f} kHz"  # type: ignore[operator]
    return f"{rate:.1f} Hz" if rate < 100 else f"{rate:,.0f} Hz"  # type: ignore[operator]


def num(x: float | None, digits: int = 2) -> str:
    """A plain number (``—`` when missing)."""
    return f"{x:.{digits}f}" if finite(x) else DASH


def nbytes(n: int | None) -> str:
    """Bytes in binary units."""
    if not n:
        return DASH
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit in ("B", "KiB") else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def usd(x: float | None) -> str:
    """A cost per episode (``—`` where not reported)."""
    if not finite(x):
        return DASH
    return f"${x:.4f}" if x < 1 else f"${x:,.2f}"  # type: ignore[operator]


def when(iso: str) -> str:
    """An ISO timestamp as ``2026-11-21 20:12 UTC`` (as given when it does not parse)."""
    try:
        moment = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return iso or DASH
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M")


def p_value(p: float | None) -> str:
    """A p-value for humans."""
    if not finite(p):
        return DASH
    return "<0.001" if p < 0.001 else f"{p:.3f}"  # type: ignore[operator]


def rate(stats: Stats) -> str:
    """The control rate one act call allows: actions per second (chunks per second × chunk)."""
    if not finite(stats.chunk_hz):
        return DASH
    text = f"{hz(stats.action_hz)}"
    if stats.n_action_steps != 1:
        text += f" ({hz(stats.chunk_hz)}×{stats.n_action_steps:g})"
    return text


def errors(stats: Stats) -> str:
    """Error count with its kinds: ``2 (policy_error 2)``."""
    if not stats.errors:
        return "0"
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(stats.error_kinds.items()))
    return f"{stats.errors} ({kinds})"


def metric_columns(stats: Stats) -> list[tuple[str, str]]:
    """(header, value) of the figures every text format shows for a row or cell."""
    star = "*" if stats.latency_source == "episodes" else ""
    return [
        ("Success [95% CI]", f"{pct(stats.success_rate)} {ci(stats.ci_low, stats.ci_high)}"),
        ("n", str(stats.episodes)),
        ("Fail", str(stats.failures)),
        ("Err", str(stats.errors)),
        ("Steps to ✓", num(stats.mean_steps_to_success, 1)),
        ("LDLJ", num(stats.ldlj)),
        ("SPARC", num(stats.sparc)),
        ("p50", ms(stats.act_p50_s) + star),
        ("p95", ms(stats.act_p95_s) + star),
        ("Control rate", rate(stats)),
        ("Peak RSS", nbytes(stats.peak_rss_bytes)),
        ("Peak device", nbytes(stats.peak_device_bytes)),
        ("Cost/ep", usd(stats.cost_per_episode)),
    ]


def table_columns(stats: Sequence[Stats]) -> tuple[list[str], list[list[str]]]:
    """Headers and values for a text table of several entries, leaving out columns that
    are empty for all of them (no end effector, no accelerator, no cost)."""
    table = [metric_columns(s) for s in stats]
    if not table:
        return [], []
    keep = [i for i in range(len(table[0])) if any(row[i][1] != DASH for row in table)]
    keep = keep or [0]
    return [table[0][i][0] for i in keep], [[row[i][1] for i in keep] for row in table]


LATENCY_FOOTNOTE = "* latency from per-episode medians: steps.parquet was missing or unreadable"
UNRANKED_NOTE = (
    "random weights (shown for latency and memory) or a privileged expert: never ranked on success"
)
RANK_NOTE = (
    "'=1' = statistically tied with the leader (paired exact McNemar on shared episodes; "
    "Wilson 95% interval overlap where they share none; 5% level). '—' = not ranked."
)
