"""How a judge's answers are scored against the simulator's truth, with confidence intervals.

Interval methods (all two-sided, 95 % by default):

- precision and recall: Wilson score intervals (``harness.metrics.wilson_interval``), each a
  binomial proportion over the episodes it counts (predicted positives; true positives);
- F1: percentile bootstrap over episodes (2,000 resamples, fixed seed);
- AUROC: DeLong, DeLong & Clarke-Pearson (1988) variance of the Mann-Whitney estimate (ties
  count one half), normal interval clipped to [0, 1]. It collapses to a point when the
  classes are perfectly separated (AUROC 0 or 1), as DeLong's variance does;
- Spearman's ρ: Fisher's z with the Fieller-Hartley-Pearson (1957) standard error
  sqrt(1.06 / (n − 3)); undefined (NaN, with a note) when either side is constant.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from harness.metrics import wilson_interval


def _z(confidence: float) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


def auroc(labels: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties ½."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return math.nan
    ranks = stats.rankdata(s)  # midranks: ties share their average rank
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def delong_variance(labels: ArrayLike, scores: ArrayLike) -> float:
    """DeLong's estimate of the variance of :func:`auroc` (NaN with one class only)."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    pos, neg = s[y], s[~y]
    n1, n0 = len(pos), len(neg)
    if n1 < 2 or n0 < 2:
        return math.nan
    # psi(x, y) = 1 if x > y, 1/2 if equal, 0 else; the structural components average it
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10 = psi.mean(axis=1)
    v01 = psi.mean(axis=0)
    return float(np.var(v10, ddof=1) / n1 + np.var(v01, ddof=1) / n0)


def auroc_interval(
    labels: ArrayLike, scores: ArrayLike, confidence: float = 0.95
) -> tuple[float, float, float]:
    """(AUROC, low, high) with DeLong's normal interval clipped to [0, 1]."""
    area = auroc(labels, scores)
    var = delong_variance(labels, scores)
    if math.isnan(area) or math.isnan(var):
        return area, math.nan, math.nan
    half = _z(confidence) * math.sqrt(max(var, 0.0))
    return area, max(0.0, area - half), min(1.0, area + half)


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan


def binary_metrics(
    labels: ArrayLike,
    scores: ArrayLike,
    threshold: float,
    *,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Success detection: counts, precision, recall, F1 and AUROC with intervals.

    A score at or above ``threshold`` counts as "judged a success".
    """
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    pred = s >= threshold
    tp, fp = int((pred & y).sum()), int((pred & ~y).sum())
    fn, tn = int((~pred & y).sum()), int((~pred & ~y).sum())
    precision = tp / (tp + fp) if tp + fp else math.nan
    recall = tp / (tp + fn) if tp + fn else math.nan
    p_low, p_high = wilson_interval(tp, tp + fp, confidence) if tp + fp else (math.nan, math.nan)
    r_low, r_high = wilson_interval(tp, tp + fn, confidence) if tp + fn else (math.nan, math.nan)
    f1 = _f1(tp, fp, fn)
    f1_low = f1_high = math.nan
    if len(y) >= 2 and not math.isnan(f1):
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, len(y), size=(n_boot, len(y)))
        yb, pb = y[idx], pred[idx]
        btp = (pb & yb).sum(axis=1)
        bfp = (pb & ~yb).sum(axis=1)
        bfn = (~pb & yb).sum(axis=1)
        denom = 2 * btp + bfp + bfn
        boots = np.where(denom > 0, 2 * btp / np.maximum(denom, 1), np.nan)
        boots = boots[~np.isnan(boots)]
        if len(boots):
            alpha = (1 - confidence) / 2
            f1_low, f1_high = (float(q) for q in np.quantile(boots, [alpha, 1 - alpha]))
    area, a_low, a_high = auroc_interval(y, s, confidence)
    return {
        "n": len(y),
        "positives": int(y.sum()),
        "negatives": int((~y).sum()),
        "threshold": threshold,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "precision": precision,
        "precision_ci": [p_low, p_high],
        "recall": recall,
        "recall_ci": [r_low, r_high],
        "f1": f1,
        "f1_ci": [f1_low, f1_high],
        "auroc": area,
        "auroc_ci": [a_low, a_high],
    }


def spearman(truth: ArrayLike, answers: ArrayLike, confidence: float = 0.95) -> dict:
    """Spearman's ρ with a Fisher-z interval, or NaN and the reason it is undefined."""
    x = np.asarray(truth, dtype=np.float64)
    y = np.asarray(answers, dtype=np.float64)
    out: dict[str, Any] = {"rho": math.nan, "ci": [math.nan, math.nan], "n": len(x), "note": ""}
    if len(x) < 4:
        out["note"] = f"needs at least 4 answered items (got {len(x)})"
        return out
    if np.ptp(y) == 0:
        out["note"] = "undefined: the judge gave one answer to everything"
        return out
    if np.ptp(x) == 0:
        out["note"] = "undefined: the truth is the same for every item"
        return out
    rho = float(stats.spearmanr(x, y).statistic)
    out["rho"] = rho
    if abs(rho) < 1:
        z, se = math.atanh(rho), math.sqrt(1.06 / (len(x) - 3))
        half = _z(confidence) * se
        out["ci"] = [math.tanh(z - half), math.tanh(z + half)]
    else:
        out["ci"] = [rho, rho]
    return out


def numeric_metrics(truth: ArrayLike, answers: ArrayLike) -> dict[str, Any]:
    """Numeric probes: mean and median absolute error, distinct answers, the commonest ones."""
    x = np.asarray(truth, dtype=np.float64)
    y = np.asarray(answers, dtype=np.float64)
    if not len(x):
        return {"mae": math.nan, "median_ae": math.nan, "distinct": 0, "commonest": []}
    err = np.abs(y - x)
    common = Counter(float(v) for v in y).most_common(3)
    return {
        "mae": float(err.mean()),
        "median_ae": float(np.median(err)),
        "mae_constant_mean": float(np.abs(x - x.mean()).mean()),
        "distinct": len({float(v) for v in y}),
        "commonest": [[value, count] for value, count in common],
    }
