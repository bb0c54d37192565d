"""Number formatting and the definitions every renderer shows, so all formats agree."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from harness.metrics import SPARC_REFERENCE
from harness.summary import Average

if TYPE_CHECKING:
    from vla_bench_leaderboard.scores import Stats

DASH = "—"


def finite(x: float | None) -> bool:
    """True for a real, finite number."""
    return x is not None and isinstance(x, int | float) and math.isfinite(x)


def pct(x: float | None) -> str:
    """``0.8123`` -> ``81.2%``."""
    return f"{100 * x:.1f}%" if x is not None and finite(x) else DASH


def ci(low: float | None, high: float | None) -> str:
    """A 95% interval as ``[62–91]`` (percent)."""
    if not (finite(low) and finite(high)):
        return DASH
    return f"[{100 * low:.0f}–{100 * high:.0f}]"  # type: ignore[operator]


def fraction(stats: Stats) -> str:
    """The success denominator made explicit: ``14/20`` (episodes, errors included)."""
    return f"{stats.successes}/{stats.episodes}"


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


def mean(avg: Average, digits: int = 2) -> str:
    """An average with what it covers: ``-5.21 (n=18)``, ``+ 1 inf`` when values were infinite."""
    if avg.n == 0 and avg.infinite == 0:
        return DASH
    text = f"{num(avg.value, digits)} (n={avg.n})"
    return text + (f" +{avg.infinite} inf" if avg.infinite else "")


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


def async_bound(stats: Stats) -> str:
    """The asynchronous bound ``n_action_steps / p95`` with its chunk size."""
    if not finite(stats.async_hz):
        return DASH
    return f"≤ {hz(stats.async_hz)} (k={stats.n_action_steps:g})"


def errors(stats: Stats) -> str:
    """Error count with its kinds: ``2 (policy_error 2)``."""
    if not stats.errors:
        return "0"
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(stats.error_kinds.items()))
    return f"{stats.errors} ({kinds})"


def metric_columns(stats: Stats) -> list[tuple[str, str]]:
    """(header, value) of the figures the Markdown table shows for a row or cell."""
    star = "*" if stats.latency_source == "episodes" else ""
    return [
        ("Success [95% CI]", f"{pct(stats.success_rate)} {ci(stats.ci_low, stats.ci_high)}"),
        ("Succ/n", fraction(stats)),
        ("Fail", str(stats.failures)),
        ("Err", str(stats.errors)),
        ("Steps to ✓", num(stats.mean_steps_to_success, 1)),
        ("LDLJ", mean(stats.ldlj)),
        ("SPARC", mean(stats.sparc)),
        ("p50", ms(stats.act_p50_s) + star),
        ("p95", ms(stats.act_p95_s) + star),
        ("Sync rate", hz(stats.sync_hz)),
        ("Async bound", async_bound(stats)),
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
    "'1' leader; '=1' not separated from the leader; 'n' separated below it (all-pairs exact "
    "tests, Holm-controlled at 5% family-wise); a grey '1' is the only ranked entry (nothing "
    "compared); '—' not ranked (reason in the notes). Success = successes/episodes, errors "
    "included in the denominator and counted apart from failures."
)
SMOOTHNESS_NOTE = (
    "LDLJ and SPARC: means over the successful episodes (n = episodes averaged); "
    + SPARC_REFERENCE
    + "."
)
ALONE_NOTE = (
    "Only one entry is ranked in every group here: nothing was compared, so no entry is "
    "shown as a leader."
)

METHODS: tuple[tuple[str, str], ...] = (
    (
        "Success",
        "Successes ÷ episodes run, with the denominator shown (e.g. 14/20). Errors (policy "
        "errors, act() timeouts, bad actions, simulator errors) are included in the "
        "denominator as not successful and counted apart from failures (timeouts, early "
        "terminations): a harness error is never reported as a failure. Interval: Wilson's 95% "
        "score interval (Wilson 1927; Newcombe 1998). Where a policy ran each episode with "
        "several --seed values (replicates), the interval uses the number of distinct episodes "
        "as its effective sample size (Kish 1965), which is conservative.",
    ),
    (
        "Suite success",
        "The mean of the per-task success rates, each task weighted equally (not pooled over "
        "unequal episode counts), with a 95% interval by MOVER from the per-task intervals "
        "(Zou & Donner 2008; Newcombe 1998, method 10). Suite rows are ranked only against "
        "policies that ran the same tasks, versions and episodes; otherwise they are ranked "
        "in separate groups and a note says why.",
    ),
    (
        "Ranks and ties",
        "Entries with fewer than 10 distinct episodes are not ranked. The leader has the "
        "highest success rate. Every pair of ranked entries in a group is tested: with at "
        "least 10 shared episodes by the two-sided exact McNemar (sign) test on the shared "
        "episodes (per-episode success over replicates, replicate counts matched); with none "
        "shared by Boschloo's exact unconditional test (Boschloo 1970), which keeps its level "
        "and is uniformly more powerful than Fisher's; pairs sharing 1–9 episodes are not "
        "compared. Holm's step-down procedure (Holm 1979) is applied to all pairwise tests of "
        "the group, so the family-wise error of every comparison shown is at most 5% even "
        "though the leader is chosen from the data. '=1': not separated from the leader; "
        "'n': separated below it; '—': not ranked, with the reason.",
    ),
    (
        "Identity and merging",
        "A policy is its name, weights (by content digest where the backend records one, "
        "else by checkpoint path, flagged), weights kind, device, dtype, options and "
        "n_action_steps. A task is its name, version, track version and fingerprint; runs on "
        "different ones are never merged. Runs with different --seed are replicates: all "
        "their episodes are kept. The same episode recorded twice for the same seed counts "
        "once when the outcomes agree and is a conflict when they differ: left out, shown, "
        "and the entry is not ranked. Differing code revisions, hosts and worker counts of "
        "merged runs are shown.",
    ),
    (
        "Smoothness",
        "LDLJ, the log dimensionless jerk of the end-effector speed profile (Balasubramanian, "
        "Melendez-Calderon & Burdet 2012; Hogan & Sternad 2009), and SPARC, the spectral arc "
        "length (Balasubramanian et al. 2015) with the reference parameters: cut-off 10 Hz, "
        "amplitude threshold 0.05, zero padding to 2^(ceil(log2 N)+4) samples. Both are "
        "computed on the end-effector path at the simulator's physics rate over the movement "
        "window: from the first sample whose speed reaches 5% of the peak speed to success, "
        "or to the last such sample (idle time before and after is left out). Higher is "
        "smoother. Means are over the successful episodes, with their count; infinite values "
        "are counted, not dropped. Runs recorded before physics-rate paths existed used the "
        "control-rate poses over the whole episode and are labelled so. Chunk-boundary jump "
        "ratio: mean action change at chunk starts ÷ mean change inside chunks, per dimension "
        "group (translation, rotation, gripper), on the actions before clipping.",
    ),
    (
        "Latency and control rate",
        "act() round trip per call after warm-up, over every timed call: p50 and p95. "
        "Synchronous control rate = n_action_steps ÷ (mean act() time + n_action_steps ÷ task "
        "control rate): what a robot achieves when it waits for each chunk and then executes "
        "it in real time, as the runner does; it never exceeds the task's rate. Asynchronous "
        "bound = n_action_steps ÷ p95: the best rate if inference overlapped execution. Green: "
        "the synchronous rate keeps 90% of the task's rate; red: even the asynchronous bound "
        "falls short. Latency measured under host load, on different hosts or with different "
        "worker counts is flagged.",
    ),
    (
        "Not ranked",
        "Random weights (an untrained network: latency and memory only) and privileged "
        "experts (the run record's privileged flag: they read the simulator's state) are "
        "shown but never ranked on success.",
    ),
)
"""(term, definition) of every statistic shown: the report's "Methods" and the README's."""

REFERENCES: tuple[str, ...] = (
    "Balasubramanian S, Melendez-Calderon A, Burdet E (2012). A robust and sensitive metric "
    "for quantifying movement smoothness. IEEE Trans Biomed Eng 59(8):2126–2136.",
    "Balasubramanian S, Melendez-Calderon A, Roby-Brami A, Burdet E (2015). On the analysis of "
    "movement smoothness. J NeuroEng Rehabil 12:112.",
    "Boschloo RD (1970). Raised conditional level of significance for the 2×2-table when "
    "testing the equality of two probabilities. Statistica Neerlandica 24(1):1–9.",
    "Hogan N, Sternad D (2009). Sensitivity of smoothness measures to movement duration, "
    "amplitude, and arrests. J Mot Behav 41(6):529–534.",
    "Holm S (1979). A simple sequentially rejective multiple test procedure. Scand J Stat "
    "6(2):65–70.",
    "Kish L (1965). Survey Sampling. Wiley.",
    "McNemar Q (1947). Note on the sampling error of the difference between correlated "
    "proportions or percentages. Psychometrika 12(2):153–157.",
    "Newcombe RG (1998). Two-sided confidence intervals for the single proportion: comparison "
    "of seven methods. Stat Med 17:857–872; and Interval estimation for the difference between "
    "independent proportions: comparison of eleven methods. Stat Med 17:873–890.",
    "Wilson EB (1927). Probable inference, the law of succession, and statistical inference. "
    "J Am Stat Assoc 22:209–212.",
    "Zou GY, Donner A (2008). Construction of confidence limits about effect measures: a "
    "general approach. Stat Med 27:1693–1702.",
)


def methods_markdown() -> str:
    """The Methods section as Markdown (the README holds exactly this text)."""
    lines = [f"- **{term}.** {text}" for term, text in METHODS]
    lines += ["", "References:", ""]
    lines += [f"- {ref}" for ref in REFERENCES]
    return "\n".join(lines)
