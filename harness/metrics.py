"""Scoring: success statistics, movement smoothness and latency. Pure NumPy/SciPy functions.

Each function states its definition and source; tests check them against published or
independently computed reference values (tests/test_metrics.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

# -- success ----------------------------------------------------------------------------------


Z_975 = 1.959963984540054
"""The standard normal's 97.5% quantile, as ``scipy.special.ndtri(0.975)`` returns it."""


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927).

    Better behaved than the normal approximation at small ``n`` and at 0% or 100% success,
    which is where robot benchmarks live. Returns (nan, nan) for ``n == 0``. Newcombe's (1998)
    form, in the order of operations of SciPy's ``binomtest(k, n).proportion_ci(confidence,
    method="wilson")``, which it equals bit for bit (tested); written out here because every
    ``bench run`` summary needs it and importing ``scipy.stats`` costs 0.7 s.
    """
    if not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return (math.nan, math.nan)
    if confidence == 0.95:
        z = Z_975
    else:
        from scipy.special import ndtri

        z = float(ndtri(0.5 + 0.5 * confidence))
    k, n = int(successes), int(n)
    p = k / n
    denom = 2 * (n + z**2)
    center = (2 * n * p + z**2) / denom
    delta = z / denom * math.sqrt(4 * n * p * (1 - p) + z**2)
    return (0.0 if k == 0 else center - delta, 1.0 if k == n else center + delta)


def wilson_interval_effective(
    rate: float, n_effective: float, confidence: float = 0.95
) -> tuple[float, float]:
    """Wilson's score interval for a rate observed over correlated trials.

    Wilson's formula evaluated at an effective sample size, as survey statistics does with a
    design effect (Kish 1965). The leaderboard passes the number of distinct episodes when a
    policy ran each episode with several seeds: replicates of one episode share its initial
    state, so together they carry at most the information of independent trials and at least
    that of one; counting each episode once gives an interval that is wide enough whatever the
    correlation. SciPy's Wilson interval takes only integer counts, hence this form. With
    integer counts it equals :func:`wilson_interval`.
    """
    from scipy import stats  # imported when used: it costs 0.7 s

    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"need 0 <= rate <= 1, got {rate}")
    if n_effective <= 0:
        return (math.nan, math.nan)
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    denom = 1 + z * z / n_effective
    centre = (rate + z * z / (2 * n_effective)) / denom
    half = z * math.sqrt(rate * (1 - rate) / n_effective + z * z / (4 * n_effective**2)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def mover_interval(
    estimates: Sequence[float],
    lows: Sequence[float],
    highs: Sequence[float],
    weights: Sequence[float],
) -> tuple[float, float]:
    """Confidence limits of ``sum(w_i * p_i)`` from the limits of independent ``p_i``.

    MOVER, the method of variance estimates recovery (Zou & Donner 2008, Stat Med 27:1693;
    with Wilson limits it is Newcombe's 1998 "method 10" for a difference): the lower limit
    is ``L = sum w p - sqrt(sum (w (p - l))^2)`` taking, for a negative weight, the upper
    limit's distance instead, and the upper limit symmetrically. NaN when any input is NaN.
    """
    p, lo, hi, w = (np.asarray(v, dtype=np.float64) for v in (estimates, lows, highs, weights))
    if p.size == 0 or not np.all(np.isfinite(np.concatenate([p, lo, hi, w]))):
        return (math.nan, math.nan)
    point = float(np.sum(w * p))
    down = np.where(w >= 0, p - lo, hi - p) * np.abs(w)
    up = np.where(w >= 0, hi - p, p - lo) * np.abs(w)
    return (point - math.sqrt(float(np.sum(down**2))), point + math.sqrt(float(np.sum(up**2))))


def macro_success(counts: Sequence[tuple[int, int]], confidence: float = 0.95) -> dict[str, float]:
    """Suite success as the mean of per-task rates, each task weighted equally.

    ``counts``: (successes, episodes) per task. Returns ``rate`` with a MOVER interval built
    from the per-task Wilson intervals (``ci_low``, ``ci_high``); with one task this is the
    Wilson interval itself. A task with no episodes makes the mean undefined (NaN).
    """
    if not counts or any(n == 0 for _, n in counts):
        return {"rate": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    rates = [k / n for k, n in counts]
    intervals = [wilson_interval(k, n, confidence) for k, n in counts]
    weights = [1.0 / len(counts)] * len(counts)
    low, high = mover_interval(
        rates, [lo for lo, _ in intervals], [hi for _, hi in intervals], weights
    )
    rate = float(np.mean(rates))
    # The limits are the weighted sum's, which rounds differently from the mean: 29 tasks all
    # solved sum to 0.9999999999999998. An interval always holds its estimate.
    return {
        "rate": rate,
        "ci_low": max(0.0, min(low, rate)),
        "ci_high": min(1.0, max(high, rate)),
    }


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar test on paired binary outcomes, computed by SciPy.

    ``b``: episodes only policy A solved; ``c``: episodes only policy B solved (episodes both
    or neither solved carry no information). Under the null each discordant episode is a fair
    coin, so the p-value is that of the two-sided binomial test of ``b`` successes in
    ``b + c`` trials at 1/2. Returns 1.0 when there are no discordant pairs.
    """
    from scipy import stats  # imported when used: it costs 0.7 s

    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    if b + c == 0:
        return 1.0
    return float(stats.binomtest(int(b), int(b + c), 0.5).pvalue)


def unpaired_exact(successes_a: int, n_a: int, successes_b: int, n_b: int) -> float:
    """Two-sided p-value that two independent binomial proportions are equal: Boschloo's test.

    Used where two entries share no episode. Boschloo's (1970) unconditional exact test uses
    Fisher's exact p-value as its statistic and maximises the null probability over the
    common success rate, so its size never exceeds the level, like Fisher's, while it is
    uniformly more powerful than Fisher's conditional test (which is conservative for 2x2
    tables with fixed group sizes). The two-sided p-value is twice the smaller one-sided one
    (SciPy's convention), capped at 1.
    """
    from scipy import stats  # imported when used: it costs 0.7 s

    for k, n in ((successes_a, n_a), (successes_b, n_b)):
        if not 0 <= k <= n:
            raise ValueError(f"need 0 <= successes <= n, got successes={k}, n={n}")
    if n_a == 0 or n_b == 0:
        return math.nan
    table = [[successes_a, successes_b], [n_a - successes_a, n_b - successes_b]]
    p = float(stats.boschloo_exact(table, alternative="two-sided").pvalue)
    return min(1.0, p) if math.isfinite(p) else 1.0  # a degenerate table carries no evidence


def holm_adjust(pvalues: Sequence[float]) -> list[float]:
    """Holm's (1979) step-down adjusted p-values: reject where the adjusted value <= alpha.

    The ``i``-th smallest p-value is multiplied by ``m - i + 1`` and the results are made
    non-decreasing in that order (capped at 1), which controls the family-wise error rate at
    alpha over the ``m`` tests under any dependence between them.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    if m == 0:
        return []
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError(f"p-values must lie in [0, 1], got {p.tolist()}")
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, p[order] * (m - np.arange(m)))
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return [float(v) for v in adjusted]


# -- smoothness -------------------------------------------------------------------------------

SPARC_FC_HZ = 10.0
"""SPARC's cut-off frequency (Balasubramanian et al. 2015): the reference value."""
SPARC_AMPLITUDE_THRESHOLD = 0.05
"""SPARC's adaptive-band amplitude threshold (Balasubramanian et al. 2015)."""
SPARC_PADLEVEL = 4
"""SPARC's zero padding: the FFT length is ``2 ** (ceil(log2 N) + 4)`` (the reference's)."""
SPARC_REFERENCE = (
    f"SPARC with Balasubramanian et al. (2015)'s reference parameters: cut-off "
    f"{SPARC_FC_HZ:g} Hz, amplitude threshold {SPARC_AMPLITUDE_THRESHOLD:g}, zero padding "
    f"to 2^(ceil(log2 N)+{SPARC_PADLEVEL}) samples"
)
"""How SPARC values are computed, in words: shown wherever a SPARC value is."""
MOTION_THRESHOLD = 0.05
"""Movement onset/offset: the first and last sample where the speed reaches this fraction of
the path's peak speed."""
MOTION_FLOOR_M_S = 1e-3
"""A path whose peak speed stays below this (m/s) never moved: no movement window."""


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
    a perfectly constant-acceleration profile (zero jerk) gives ``+inf``.
    """
    dj = dimensionless_jerk(speed, fs)
    if math.isnan(dj):
        return math.nan
    return math.inf if dj == 0 else -math.log(abs(dj))


def sparc(
    speed: np.ndarray,
    fs: float,
    padlevel: int = SPARC_PADLEVEL,
    fc: float = SPARC_FC_HZ,
    amp_th: float = SPARC_AMPLITUDE_THRESHOLD,
) -> float:
    """Spectral arc length (SPARC; Balasubramanian et al. 2015, J NeuroEng Rehabil 12:112).

    The arc length of the normalised Fourier magnitude spectrum of the speed profile, over
    the band from 0 Hz up to the last frequency (at most ``fc``) where the magnitude is at
    least ``amp_th``; frequency is normalised by that band's width. Higher (closer to zero)
    is smoother. ``fc`` is capped at the Nyquist frequency ``fs/2``: below ``fs = 2 fc`` the
    value is not comparable with the literature's (see :func:`path_smoothness`).
    """
    v = np.asarray(speed, dtype=np.float64)
    if v.size < 2 or not np.any(v):
        return math.nan
    nfft = int(2 ** (math.ceil(math.log2(v.size)) + padlevel))
    # The speed is real, so the spectrum is symmetric: its first half (the real FFT, 4x
    # cheaper) holds the whole spectrum's maximum and every frequency up to Nyquist.
    spectrum = np.abs(np.fft.rfft(v, nfft))
    # The band is a prefix of the frequencies k * fs / nfft; only it is normalised and searched.
    step, top = fs / nfft, min(fc, fs / 2)
    bins = spectrum.size
    size = min(bins, int(top / step) + 1)
    while size < bins and size * step <= top:
        size += 1
    while size > 0 and (size - 1) * step > top:
        size -= 1
    freqs = np.arange(size) * step
    magnitude = spectrum[:size] / spectrum.max()
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


def movement_window(path: np.ndarray, fs: float, end: int | None = None) -> tuple[int, int] | None:
    """The samples ``path[start:stop]`` that make up the movement, or None if it never moved.

    ``start`` is the first sample from which the speed reaches :data:`MOTION_THRESHOLD` (5%)
    of the path's peak speed (the idle wait before the first motion is left out). ``stop``
    is ``end`` when given (the exclusive sample index at which the episode succeeded: the
    movement is "start to success"), else one past the last sample at which the speed is
    still at 5% of its peak (the idle tail after the last motion is left out). A path whose
    peak speed stays below :data:`MOTION_FLOOR_M_S` never moved. The peak is taken over the
    samples before ``end``.
    """
    p = np.asarray(path, dtype=np.float64)
    if p.ndim == 1:
        p = p[:, None]
    limit = p.shape[0] if end is None else max(0, min(int(end), p.shape[0]))
    speed = speed_profile(p[:limit], fs)
    if speed.size == 0 or float(speed.max()) < MOTION_FLOOR_M_S:
        return None
    moving = np.flatnonzero(speed >= MOTION_THRESHOLD * float(speed.max()))
    start = int(moving[0])
    stop = limit if end is not None else int(moving[-1]) + 2
    return (start, stop)


def path_smoothness(path: np.ndarray, fs: float, end: int | None) -> dict[str, float]:
    """Smoothness of an end-effector path over its movement window (see :func:`movement_window`).

    ``path``: ``N x 3`` positions (m) sampled at ``fs`` Hz: the simulator's physics rate
    where the env reports it (``info["ee_path"]``), since at a 10 Hz control rate a ripple
    at the control rate is invisible. ``end``: the exclusive sample index of success, or
    None to end at the last motion. Returns (NaN where undefined):

    - ``ldlj``: log dimensionless jerk of the speed profile (:func:`ldlj`; higher is smoother)
    - ``sparc``: spectral arc length with the reference parameters (:data:`SPARC_REFERENCE`)
      when ``fs >= 2 * fc``; below that the cut-off is capped at ``fs / 2`` (see
      :func:`sparc`) and the value is not comparable with the literature's
    - ``mean_squared_jerk``: m^2/s^6 (:func:`mean_squared_jerk`)
    - ``path_length_m``: distance travelled in the window
    - ``movement_s``: duration of the window
    - ``smoothness_fs``: ``fs``, the rate (Hz) the values were computed at

    The keys are the smoothness fields of :class:`harness.results.EpisodeResult`.
    """
    out = {
        "ldlj": math.nan,
        "sparc": math.nan,
        "mean_squared_jerk": math.nan,
        "path_length_m": math.nan,
        "movement_s": math.nan,
        "smoothness_fs": float(fs),
    }
    window = movement_window(path, fs, end)
    if window is None:
        return out
    start, stop = window
    segment = np.asarray(path, dtype=np.float64)[start:stop]
    speed = speed_profile(segment, fs)
    out["ldlj"] = ldlj(speed, fs)
    out["sparc"] = sparc(speed, fs)
    out["mean_squared_jerk"] = mean_squared_jerk(segment, fs)
    out["path_length_m"] = float(np.sum(speed) / fs)
    out["movement_s"] = (segment.shape[0] - 1) / fs
    return out


ACTION_GROUPS: Mapping[str, frozenset[str]] = {
    "translation": frozenset({"dx", "dy", "dz", "x", "y", "z"}),
    "rotation": frozenset({"droll", "dpitch", "dyaw", "roll", "pitch", "yaw", "ax", "ay", "az"}),
    "gripper": frozenset({"gripper", "grip"}),
}
"""Dimension groups of an action space, by field name (any case): values in one group share a
unit (metres, radians, gripper command), so groups are never mixed."""


def action_groups(names: Sequence[str]) -> dict[str, list[int]]:
    """Column indices per group of :data:`ACTION_GROUPS` for an action space's field names.

    A field in no known group forms a group of its own (named after it), so metres, radians
    and gripper commands are never summed together.
    """
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        known = (g for g, members in ACTION_GROUPS.items() if name.lower() in members)
        group = next(known, name)
        groups.setdefault(group, []).append(i)
    return groups


def chunk_jump_ratios(
    actions: np.ndarray,
    chunk_ids: Sequence[int] | np.ndarray,
    groups: Mapping[str, Sequence[int]],
) -> dict[str, float]:
    """How much bigger the action change is at chunk boundaries than inside a chunk, per group.

    For each group of action columns: the mean norm of ``a[t] - a[t-1]`` over steps where a
    new chunk starts, divided by the same mean over steps inside a chunk. Pass the actions the
    policy asked for, before any clipping to the task's limits. About 1 means chunks join
    seamlessly; large values are the visible "jerk at every re-plan" of chunked policies.
    NaN when there is no boundary or no inside step; ``inf`` when nothing changes inside
    chunks but something does at boundaries.
    """
    a = np.asarray(actions, dtype=np.float64)
    chunks = np.asarray(chunk_ids)
    nan = {name: math.nan for name in groups}
    if a.ndim != 2 or a.shape[0] < 2:
        return nan
    boundary = chunks[1:] != chunks[:-1]
    if not boundary.any() or boundary.all():
        return nan
    steps = np.diff(a, axis=0)
    out = {}
    for name, columns in groups.items():
        deltas = np.linalg.norm(steps[:, list(columns)], axis=1)
        inside = float(deltas[~boundary].mean())
        at_boundary = float(deltas[boundary].mean())
        if inside == 0.0:
            out[name] = math.inf if at_boundary > 0 else 1.0
        else:
            out[name] = at_boundary / inside
    return out


# -- latency ----------------------------------------------------------------------------------


def latency_percentiles(
    seconds: Sequence[float] | np.ndarray, qs: Sequence[float] = (50, 95, 99)
) -> dict[str, float]:
    """Percentiles (linear interpolation) of finite latencies: ``{"p50": ..., "p95": ...}``.

    The values are NumPy's ``percentile(method="linear")`` (Hyndman & Fan's definition 7, the
    default of NumPy, R and Excel), bit for bit: the same index ``(n - 1) q / 100`` and the same
    two-sided interpolation, from one sort. ``np.percentile`` itself costs ~40 us per call in
    argument handling, which the runner paid twice per episode.
    """
    x = np.asarray(seconds, dtype=np.float64)
    x = np.sort(x[np.isfinite(x)])
    n = x.size
    if n == 0:
        return {f"p{q:g}": math.nan for q in qs}
    out = {}
    for q in qs:
        index = (n - 1) * (q / 100)
        if index >= n - 1:
            value = float(x[-1])
        elif index <= 0:
            value = float(x[0])
        else:
            below = math.floor(index)
            a, b = float(x[below]), float(x[below + 1])
            t = index - below
            # NumPy's lerp: from the nearer end, so that t = 1 gives b exactly.
            value = b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t
        out[f"p{q:g}"] = value
    return out


def synchronous_rate(mean_act_s: float, n_action_steps: float, control_hz: float | None) -> float:
    """Actions per second when inference blocks execution, as the runner does.

    Each cycle calls ``act`` (``mean_act_s`` on average), then executes ``n_action_steps``
    actions at the task's control rate (``n_action_steps / control_hz`` seconds on a robot):
    ``rate = n_action_steps / (mean_act_s + n_action_steps / control_hz)``. It never exceeds
    the control rate; NaN when the control rate or the latency is unknown.
    """
    if not control_hz or not math.isfinite(mean_act_s) or not n_action_steps:
        return math.nan
    return n_action_steps / (mean_act_s + n_action_steps / control_hz)


def asynchronous_bound(p95_act_s: float, n_action_steps: float) -> float:
    """Actions per second if inference fully overlapped execution: ``n_action_steps / p95``.

    An upper bound: with the 95th-percentile latency, 19 chunks in 20 are ready before the
    previous chunk runs out at this rate. NaN when the latency is unknown or zero.
    """
    if not math.isfinite(p95_act_s) or p95_act_s <= 0 or not n_action_steps:
        return math.nan
    return n_action_steps / p95_act_s
