"""The leaderboard's figures as PNG bytes: success vs latency, a success heat map, latencies.

matplotlib runs on the Agg backend (no display needed). Labels come from plugins and runs, so
they are passed through :func:`_plain` first: matplotlib would otherwise read ``$...$`` in a
policy name as mathtext.
"""

from __future__ import annotations

import io
import math
import warnings
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import matplotlib.ticker as ticker
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.text import Annotation, Text

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.transforms import Bbox

    from vla_bench_leaderboard.table import Leaderboard, Row

DPI = 110
UNRANKED_COLOR = "#9a8fb5"


LABEL_CHARS = 32


def _plain(text: str) -> str:
    """Text matplotlib draws literally (no mathtext), cut to a length a figure can hold."""
    if len(text) > LABEL_CHARS:
        text = text[: LABEL_CHARS - 1] + "…"
    return text.replace("$", r"\$")


@ticker.FuncFormatter
def _plain_number(value: float, _position: int | None = None) -> str:
    """Log-axis ticks as plain numbers (0.07, not 7×10⁻²); minor ticks only at 2 and 5."""
    if value <= 0:
        return ""
    mantissa = value / 10 ** math.floor(math.log10(value) + 1e-9)
    if round(mantissa, 6) not in (1.0, 2.0, 5.0):
        return ""
    return f"{value:g}"


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return buf.getvalue()


def _style() -> None:
    sns.set_theme(style="whitegrid", context="notebook", font="DejaVu Sans")


def _palette(labels: list[str]) -> dict[str, tuple[float, float, float]]:
    colors = sns.color_palette("tab10" if len(labels) <= 10 else "husl", len(labels))
    return dict(zip(labels, colors, strict=True))


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (lower x, higher y), by x."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best = -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def success_vs_latency(board: Leaderboard) -> bytes | None:
    """One panel per suite: success (with its interval) against median act latency."""
    suites = [s for s in board.suites if any(_has_latency(r) for r in board.rows if r.suite == s)]
    if not suites:
        return None
    _style()
    labels = board.labels()
    colors = _palette(sorted(set(labels.values())))
    fig, axes = plt.subplots(1, len(suites), figsize=(5.6 * len(suites), 4.2), squeeze=False)
    labelled: list[tuple[Axes, list[Label]]] = []
    for ax, suite in zip(axes[0], suites, strict=True):
        rows = [r for r in board.rows if r.suite == suite and _has_latency(r)]
        texts: list[Label] = []
        for r in rows:
            x, y = 1000 * r.stats.act_p50_s, 100 * r.stats.success_rate
            low, high = 100 * r.stats.ci_low, 100 * r.stats.ci_high
            unranked = r.policy.ranked_reason is not None
            color = colors[labels[r.policy]]
            ax.errorbar(
                x,
                y,
                yerr=[[max(0.0, y - low)], [max(0.0, high - y)]],  # never negative (rounding)
                fmt="none",
                ecolor=color,
                alpha=0.5,
                capsize=3,
                lw=1.2,
            )
            ax.scatter(
                x,
                y,
                s=70,
                zorder=3,
                color="white" if unranked else color,
                edgecolors=color,
                linewidths=1.8,
            )
            texts.append((x, y, _plain(labels[r.policy]), color))
        ranked = [r for r in rows if r.policy.ranked_reason is None]
        pts = [(1000 * r.stats.act_p50_s, 100 * r.stats.success_rate) for r in ranked]
        front = pareto_front(pts)
        if len(front) > 1:
            fx, fy = zip(*(pts[i] for i in front), strict=True)
            ax.step(
                fx,
                fy,
                where="post",
                color="#444",
                lw=1,
                ls="--",
                zorder=2,
            )
        ax.set_xscale("log")
        xs = [1000 * r.stats.act_p50_s for r in rows]
        ax.set_xlim(min(xs) / 2.5, max(xs) * 2.5)  # at least a decade, so ticks get labels
        ax.xaxis.set_major_formatter(_plain_number)
        ax.xaxis.set_minor_formatter(_plain_number)
        ax.tick_params(axis="x", which="minor", labelsize=7)
        ax.set_ylim(-4, 104)
        ax.set_xlabel("act() latency, median (ms, log scale)")
        ax.set_ylabel("success rate (%) with Wilson 95% CI")
        ax.set_title(_plain(f"{suite}: success vs latency"), fontsize=11, loc="left")
        labelled.append((ax, texts))
    fig.tight_layout()  # before the labels: their places are found where the points end up
    for ax, texts in labelled:
        place_labels(ax, texts)
    fig.text(
        0.01,
        -0.03,
        "hollow markers: not ranked (random weights or privileged expert); dashed line: the "
        "Pareto front of the ranked policies",
        fontsize=8,
        color="#666",
    )
    return _png(fig)


Label = tuple[float, float, str, Any]
"""A point's label: data x, data y, text, and the point's colour (the label's too)."""

LABEL_OFFSETS = [(6, 5), (6, -14), (-6, 5), (-6, -14)] + [
    (6, 5 + 12 * k * sign) for k in range(1, 9) for sign in (1, -1)
]
"""Where a point's label may go (points from the marker), in order of preference: beside it,
then further up or down (the first place that overlaps no other label and stays in the axes);
a label moved away from its point gets a thin line to it."""


def place_labels(ax: Axes, texts: list[Label]) -> list[Bbox]:
    """Label each point where its label overlaps no label placed before it (points from the
    top of the plot down); returns the labels' boxes in display coordinates. A label that fits
    nowhere takes its first place."""
    renderer = ax.figure.canvas.get_renderer()  # type: ignore[attr-defined]
    frame = ax.get_window_extent(renderer)
    placed: list[Bbox] = []
    for point in sorted(texts, key=lambda t: (-t[1], t[0])):
        for n in range(len(LABEL_OFFSETS)):
            label, box = _put_label(ax, renderer, point, n)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1
            inside = inside and frame.y0 <= box.y0 and box.y1 <= frame.y1
            if inside and not any(box.overlaps(other) for other in placed):
                break
            label.remove()
        else:
            label, box = _put_label(ax, renderer, point, 0)
        placed.append(box)
    return placed


def _put_label(ax: Axes, renderer: Any, point: Label, n: int) -> tuple[Annotation, Bbox]:
    """Draw ``point``'s label at its ``n``-th place (:data:`LABEL_OFFSETS`); its text box."""
    x, y, text, color = point
    dx, dy = LABEL_OFFSETS[n]
    label = ax.annotate(
        text,
        (x, y),
        textcoords="offset points",
        xytext=(dx, dy),
        ha="left" if dx > 0 else "right",
        fontsize=8.5,
        color=color,
        arrowprops={"arrowstyle": "-", "color": color, "lw": 0.6} if n >= 4 else None,
    )
    return label, _text_box(label, renderer)


def _text_box(label: Annotation, renderer: Any) -> Bbox:
    """The box of a label's text alone (an annotation's own box includes its line)."""
    label.update_positions(renderer)
    return Text.get_window_extent(label, renderer)


def _has_latency(r: Row) -> bool:
    p50 = r.stats.act_p50_s
    return math.isfinite(p50) and p50 > 0 and math.isfinite(r.stats.success_rate)


def success_heatmap(board: Leaderboard) -> bytes | None:
    """Policies (rows) by tasks (columns): success in percent, with successes/episodes."""
    cells = board.cells
    if not cells:
        return None
    _style()
    labels = board.labels()
    multi = {
        c.task.name
        for c in cells
        if sum(
            1 for d in cells if d.task.name == c.task.name and d.task.group_key != c.task.group_key
        )
    }
    records = [
        {
            "policy": _plain(labels[c.policy] + (" †" if c.policy.ranked_reason else "")),
            "task": _plain(
                c.task.name
                + (f" v{c.task.version}/{c.task.track_version}" if c.task.name in multi else "")
            ),
            "rate": 100 * c.stats.success_rate,
            "text": f"{100 * c.stats.success_rate:.0f}%\n{c.stats.successes}/{c.stats.episodes}",
        }
        for c in cells
    ]
    df = pd.DataFrame(records)
    # the longer list goes down the page, so labels stay readable whichever outnumbers
    rows, cols = (
        ("task", "policy") if df["task"].nunique() > df["policy"].nunique() else ("policy", "task")
    )
    rates = df.pivot_table(index=rows, columns=cols, values="rate", aggfunc="first")
    text = df.pivot_table(index=rows, columns=cols, values="text", aggfunc="first")
    if rows == "policy":
        rates = rates.loc[rates.mean(axis=1).sort_values(ascending=False).index]
    else:
        rates = rates[rates.mean(axis=0).sort_values(ascending=False).index]
    text = text.reindex(index=rates.index, columns=rates.columns).fillna("")
    width = max(5.0, 1.15 * len(rates.columns) + 3.2)
    height = max(2.4, 0.55 * len(rates.index) + 1.4)
    fig, ax = plt.subplots(figsize=(width, height))
    sns.heatmap(
        rates,
        annot=text.to_numpy(),
        fmt="",
        vmin=0,
        vmax=100,
        cmap="viridis",
        linewidths=1,
        linecolor="white",
        cbar_kws={"label": "success %"},
        ax=ax,
        annot_kws={"fontsize": 8.5},
    )
    ax.grid(False)
    ax.set_facecolor("#f2f4f7")  # a task a policy did not run: grey, not "0%"
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_title("success by policy and task  († not ranked)", fontsize=11, loc="left")
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    plt.setp(ax.get_yticklabels(), rotation=0)
    fig.tight_layout()
    return _png(fig)


def latency_distributions(board: Leaderboard) -> bytes | None:
    """Every timed act() call per policy and suite, as box plots on a log axis."""
    frames = []
    labels = board.labels()
    for r in board.rows:
        if r.act_s is None:
            continue
        x = r.act_s[np.isfinite(r.act_s) & (r.act_s > 0)]
        if x.size:
            frames.append(
                pd.DataFrame(
                    {"ms": 1000 * x, "policy": _plain(labels[r.policy]), "suite": _plain(r.suite)}
                )
            )
    if not frames:
        return None
    _style()
    df = pd.concat(frames, ignore_index=True)
    order = df.groupby("policy")["ms"].median().sort_values().index.tolist()
    fig, ax = plt.subplots(figsize=(8.5, max(2.4, 0.5 * len(order) * df["suite"].nunique() + 1.4)))
    with warnings.catch_warnings():
        # seaborn 0.13 passes matplotlib 3.11 a deprecated argument; nothing to fix on our side
        warnings.simplefilter("ignore", matplotlib.MatplotlibDeprecationWarning)
        sns.boxplot(
            data=df,
            x="ms",
            y="policy",
            hue="suite",
            order=order,
            whis=(5, 95),
            fliersize=1.5,
            linewidth=1,
            log_scale=True,
            ax=ax,
        )
    ax.xaxis.set_major_formatter(_plain_number)
    ax.xaxis.set_minor_formatter(_plain_number)
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("act() round trip per call (ms, log scale); box: quartiles, whiskers: p5–p95")
    ax.set_ylabel("")
    ax.set_title("latency distribution per act() call", fontsize=11, loc="left")
    legend = ax.get_legend()
    if df["suite"].nunique() == 1 and legend is not None:
        legend.remove()
    elif legend is not None:  # beside the axes, where it covers no box (slow policies' included)
        sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
    fig.tight_layout()
    return _png(fig)
