"""Scoring: success statistics, movement smoothness and latency. Pure NumPy/SciPy functions.

Each function states its definition and source; tests check them against published or
independently computed reference values (tests/test_metrics.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

# -- success ----------------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927).

    Better behaved than the normal approximation at small ``n`` and at 0% or 100% success,
    which is where robot benchmarks live. Returns (nan, nan) for ``n == 0``.
    """
    if not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return (math.nan, math.nan)
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar test on paired binary outcomes.

    ``b``: episodes only policy A solved; ``c``: episodes only policy B solved (episodes both
    or neither solved carry no information). Under the null each discordant episode is a fair
    coin, so the p-value is the two-sided binomial tail ``min(1, 2 P[X <= min(b, c)])`` with
    ``X ~ Bin(b + c, 1/2)``. Returns 1.0 when there are no discordant pairs.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    return float(min(1.0, 2.0 * stats.binom.cdf(min(b, c), n, 0.5)))


# -- smoothness -------------------------------------------------------------------------------


def speed_profile(positions: np.ndarray, fs: float) -> np.ndarray:
    """Speed (norm of the finite-difference velocity) of an ``N x d`` path sampled at ``fs`` Hz."""
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim == 1:
        positions = positions[:, None]
    return np.linalg.norm(np.diff(positions, axis=0), axis=1) * fs


def dimensionless_jerk(speed: np.ndarray, fs: float) -> float:
    """Dimensionless jerk of a speed profile: ``-(T^3 / v_peak^2) * integral (d2v/dt2)^2 dt``.

    The integral is a Riemann sum of the squared second difference of the speed, as in
    Balasubramanian et al.'s reference implementation; more negative is less smooth.
    """
    v = np.asarray(speed, dtype=np.float64)
    peak = float(np.max(np.abs(v))) if v.size else 0.0
    if v.size < 3 or peak == 0.0:
        return math.nan
    dt = 1.0 / fs
    duration = v.size * dt
    jerk = np.diff(v, 2) / dt**2
    return -(duration**3 / peak**2) * float(np.sum(jerk**2)) * dt


def ldlj(speed: np.ndarray, fs: float) -> float:
    """Log dimensionless jerk, ``-ln |DJ|`` (Balasubramanian, Melendez-Calderon, Burdet 2012/2015).

    Higher (closer to zero) is smoother. NaN for a path that never moves or has < 3 samples;
    ``-inf``-free: a perfectly constant-acceleration profile (zero jerk) gives ``+inf``.
    """
    dj = dimensionless_jerk(speed, fs)
    if math.isnan(dj):
        return math.nan
    return math.inf if dj == 0 else -math.log(abs(dj))


def sparc(
    speed: np.ndarray,
    fs: float,
    padlevel: int = 4,
    fc: float = 10.0,
    amp_th: float = 0.05,
) -> float:
    """Spectral arc length (SPARC; Balasubramanian et al. 2015, J NeuroEng Rehabil 12:112).

    The arc length of the normalised Fourier magnitude spectrum of the speed profile, over
    the band from 0 Hz up to the last frequency (at most ``fc``) where the magnitude is at
    least ``amp_th``; frequency is normalised by that band's width. Higher (closer to zero)
    is smoother. ``fc`` is capped at the Nyquist frequency ``fs/2``, so a 10 Hz control loop
    is judged on its real spectrum rather than on the mirror image above 5 Hz.
    """
    v = np.asarray(speed, dtype=np.float64)
    if v.size < 2 or not np.any(v):
        return math.nan
    nfft = int(2 ** (math.ceil(math.log2(v.size)) + padlevel))
    freqs = np.arange(nfft) * (fs / nfft)
    magnitude = np.abs(np.fft.fft(v, nfft))
    magnitude = magnitude / magnitude.max()
    band = freqs <= min(fc, fs / 2)
    freqs, magnitude = freqs[band], magnitude[band]
    above = np.flatnonzero(magnitude >= amp_th)
    sel = slice(above[0], above[-1] + 1)
    f_sel, m_sel = freqs[sel], magnitude[sel]
    if f_sel.size < 2:
        return 0.0
    width = f_sel[-1] - f_sel[0]
    return -float(np.sum(np.sqrt((np.diff(f_sel) / width) ** 2 + np.diff(m_sel) ** 2)))


def mean_squared_jerk(positions: np.ndarray, fs: float) -> float:
    """Mean over time of the squared norm of the path's third derivative (m^2/s^6).

    Not dimensionless: compare it only between policies on the same task. NaN for < 4 samples.
    """
    p = np.asarray(positions, dtype=np.float64)
    if p.ndim == 1:
        p = p[:, None]
    if p.shape[0] < 4:
        return math.nan
    jerk = np.diff(p, 3, axis=0) * fs**3
    return float(np.mean(np.sum(jerk**2, axis=1)))


def chunk_jump_ratio(actions: np.ndarray, chunk_index: Sequence[int] | np.ndarray) -> float:
    """How much bigger the action change is at chunk boundaries than inside a chunk.

    Mean norm of ``a[t] - a[t-1]`` over steps where a new chunk starts, divided by the same
    mean over steps inside a chunk. About 1 means chunks join seamlessly; large values are
    the visible "jerk at every re-plan" of chunked policies. NaN when either set is empty.
    """
    a = np.asarray(actions, dtype=np.float64)
    chunks = np.asarray(chunk_index)
    if a.shape[0] < 2:
        return math.nan
    deltas = np.linalg.norm(np.diff(a, axis=0), axis=1)
    boundary = chunks[1:] != chunks[:-1]
    if not boundary.any() or boundary.all():
        return math.nan
    inside = float(deltas[~boundary].mean())
    at_boundary = float(deltas[boundary].mean())
    if inside == 0.0:
        return math.inf if at_boundary > 0 else 1.0
    return at_boundary / inside


# -- latency ----------------------------------------------------------------------------------


def latency_percentiles(
    seconds: Sequence[float] | np.ndarray, qs: Sequence[float] = (50, 95, 99)
) -> dict[str, float]:
    """Percentiles (linear interpolation) of finite latencies: ``{"p50": ..., "p95": ...}``."""
    x = np.asarray(seconds, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {f"p{q:g}": math.nan for q in qs}
    values = np.percentile(x, qs)
    return {f"p{q:g}": float(v) for q, v in zip(qs, values, strict=True)}
