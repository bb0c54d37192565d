"""Metrics against published reference values and independent computations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from harness import metrics

Z95 = 1.959963984540054  # the 97.5% normal quantile


def _wilson_closed_form(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's (1927) score interval written out, as an independent reference."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


def test_wilson_matches_published_values() -> None:
    # Newcombe (1998), Stat Med 17:857, Table I: 81/263 -> 0.2553-0.3662; 15/148 -> 0.0624-0.1605.
    assert metrics.wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    assert metrics.wilson_interval(15, 148) == pytest.approx((0.0624, 0.1605), abs=5e-5)
    # 0/10: lower bound 0, upper z^2/(n+z^2).
    z2 = Z95**2
    assert metrics.wilson_interval(0, 10) == pytest.approx((0.0, z2 / (10 + z2)))


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 3), (7, 20), (19, 20), (48, 50), (333, 1000)])
def test_wilson_equals_the_closed_form(k: int, n: int) -> None:
    assert metrics.wilson_interval(k, n) == pytest.approx(_wilson_closed_form(k, n), abs=1e-12)


def test_wilson_equals_scipy_bit_for_bit() -> None:
    from scipy import stats
    from scipy.special import ndtri

    assert float(ndtri(0.975)) == metrics.Z_975
    cases = [(k, n, 0.95) for n in range(1, 120) for k in range(n + 1)]
    cases += [(k, n, c) for c in (0.8, 0.9, 0.99) for n in (1, 7, 50, 333) for k in range(n + 1)]
    for k, n, confidence in cases:
        ci = stats.binomtest(k, n).proportion_ci(confidence, method="wilson")
        assert metrics.wilson_interval(k, n, confidence) == (float(ci.low), float(ci.high))


def test_wilson_edges() -> None:
    low, high = metrics.wilson_interval(10, 10)
    assert high == 1.0 and 0.69 < low < 0.73
    assert all(math.isnan(v) for v in metrics.wilson_interval(0, 0))
    with pytest.raises(ValueError, match="successes"):
        metrics.wilson_interval(5, 3)


def _sign_test_by_enumeration(b: int, c: int) -> float:
    """Two-sided exact McNemar by summing binomial terms: 2 * P[X <= min(b, c)], X~Bin(n, 1/2)."""
    n = b + c
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


@pytest.mark.parametrize(("b", "c"), [(1, 6), (0, 5), (10, 12), (3, 3), (0, 20), (7, 0), (2, 9)])
def test_mcnemar_exact_is_the_two_sided_binomial_test(b: int, c: int) -> None:
    assert metrics.mcnemar_exact(b, c) == pytest.approx(_sign_test_by_enumeration(b, c), rel=1e-12)


def test_mcnemar_hand_values() -> None:
    # 0 vs 5 discordant: 2 * 0.5**5 = 0.0625; none discordant: no evidence.
    assert metrics.mcnemar_exact(0, 5) == pytest.approx(0.0625)
    assert metrics.mcnemar_exact(0, 0) == 1.0


def test_unpaired_test_separates_what_wilson_overlap_called_a_tie() -> None:
    # The audit's case: 40/50 vs 28/50 have overlapping Wilson intervals (the old "tie"), yet
    # Fisher's exact test already gives p = 0.018; Boschloo's is at least as powerful.
    assert metrics.wilson_interval(40, 50)[0] < metrics.wilson_interval(28, 50)[1]
    fisher = stats.fisher_exact([[40, 28], [10, 22]]).pvalue
    assert fisher == pytest.approx(0.0177, abs=1e-4)
    p = metrics.unpaired_exact(40, 50, 28, 50)
    assert p < 0.05
    assert metrics.unpaired_exact(10, 20, 10, 20) > 0.9
    assert math.isnan(metrics.unpaired_exact(0, 0, 3, 10))


def test_unpaired_test_keeps_its_level_by_exact_enumeration() -> None:
    # The probability of a p-value <= 5% when both proportions equal p, summed over every
    # possible outcome of 10 vs 10 episodes: never above 5% (the test is exact, not asymptotic).
    n = 10
    p_values = np.array(
        [[metrics.unpaired_exact(a, n, b, n) for b in range(n + 1)] for a in range(n + 1)]
    )
    reject = p_values <= 0.05
    for p in np.linspace(0.05, 0.95, 19):
        pmf = stats.binom.pmf(np.arange(n + 1), n, p)
        size = float(np.sum(np.outer(pmf, pmf)[reject]))
        assert size <= 0.05 + 1e-9, (p, size)


def _holm_by_closed_testing(p: list[float]) -> list[float]:
    """Holm = closed testing with Bonferroni local tests: the adjusted p-value of H_i is the
    largest Bonferroni p-value over every intersection hypothesis that contains H_i."""
    m = len(p)
    out = []
    for i in range(m):
        worst = 0.0
        for size in range(1, m + 1):
            for subset in itertools.combinations(range(m), size):
                if i in subset:
                    worst = max(worst, min(1.0, size * min(p[j] for j in subset)))
        out.append(worst)
    return out


@pytest.mark.parametrize(
    "p",
    [[0.01, 0.04, 0.03, 0.005], [0.2, 0.2, 0.001], [0.5], [0.012, 0.011, 0.3, 0.04, 0.02, 0.9]],
)
def test_holm_equals_closed_testing(p: list[float]) -> None:
    assert metrics.holm_adjust(p) == pytest.approx(_holm_by_closed_testing(p), abs=1e-15)
    assert metrics.holm_adjust([]) == []


def test_mover_reproduces_newcombes_method_10() -> None:
    # Newcombe (1998), Stat Med 17:873, Table II, method 10 (Wilson-score based difference).
    def diff(a: int, m: int, b: int, n: int) -> tuple[float, float]:
        (l1, u1), (l2, u2) = metrics.wilson_interval(a, m), metrics.wilson_interval(b, n)
        return metrics.mover_interval([a / m, b / n], [l1, l2], [u1, u2], [1.0, -1.0])

    assert diff(56, 70, 48, 80) == pytest.approx((0.0524, 0.3339), abs=5e-5)
    assert diff(9, 10, 3, 10) == pytest.approx((0.1705, 0.8090), abs=5e-5)
    assert diff(5, 56, 0, 29) == pytest.approx((-0.0381, 0.1926), abs=5e-5)
    assert diff(0, 10, 0, 20) == pytest.approx((-0.1611, 0.2775), abs=5e-5)


def test_macro_success_weights_tasks_equally() -> None:
    # The audit's suite rows: identical per-task outcomes (task A always solved, task B never)
    # pooled over unequal episode counts gave 83.3% and 16.7%; the macro mean gives 50% to both.
    first = metrics.macro_success([(5, 5), (0, 1)])
    second = metrics.macro_success([(1, 1), (0, 5)])
    assert first["rate"] == second["rate"] == 0.5
    one = metrics.macro_success([(7, 20)])
    assert (one["ci_low"], one["ci_high"]) == pytest.approx(metrics.wilson_interval(7, 20))
    assert math.isnan(metrics.macro_success([(3, 5), (0, 0)])["rate"])


def test_a_suite_interval_always_holds_its_rate() -> None:
    """A suite the policy solves (or fails) on every task is 100% (0%) with the interval's end
    at exactly 1 (0): the weighted sum behind the limits rounds to 0.9999999999999998 for 29
    tasks, which put the rate outside its interval and crashed the report's error bars."""
    rng = np.random.default_rng(0)
    for tasks in range(1, 41):
        solved = metrics.macro_success([(3, 3)] * tasks)
        assert (solved["rate"], solved["ci_high"]) == (1.0, 1.0), tasks
        failed = metrics.macro_success([(0, 4)] * tasks)
        assert (failed["rate"], failed["ci_low"]) == (0.0, 0.0), tasks
        n = rng.integers(1, 30, size=tasks)
        mixed = metrics.macro_success([(int(rng.integers(0, m + 1)), int(m)) for m in n])
        assert 0.0 <= mixed["ci_low"] <= mixed["rate"] <= mixed["ci_high"] <= 1.0, tasks


def _gaussian_speed() -> np.ndarray:
    t = np.arange(-1, 1, 0.01)
    return np.exp(-5 * t**2)


def test_sparc_and_ldlj_match_the_reference_implementation_docs() -> None:
    # What Balasubramanian et al.'s reference code publishes for this Gaussian profile, in its
    # doctests ('%.5f' % value): github.com/siva82kb/SPARC, scripts/smoothness.py @ 3650934.
    speed = _gaussian_speed()
    assert f"{metrics.sparc(speed, fs=100.0):.5f}" == "-1.41403"
    assert f"{metrics.dimensionless_jerk(speed, fs=100.0):.5f}" == "-335.74684"
    assert f"{metrics.ldlj(speed, fs=100.0):.5f}" == "-5.81636"


def test_smoothness_orders_smooth_before_jerky() -> None:
    smooth = _gaussian_speed()
    rng = np.random.default_rng(0)
    jerky = np.abs(smooth + rng.normal(0, 0.05, smooth.size))
    assert metrics.sparc(smooth, 100.0) > metrics.sparc(jerky, 100.0)
    assert metrics.ldlj(smooth, 100.0) > metrics.ldlj(jerky, 100.0)


def test_sparc_caps_cutoff_at_nyquist() -> None:
    speed = _gaussian_speed()[::10]  # the same movement sampled at 10 Hz
    value = metrics.sparc(speed, fs=10.0)
    assert -3.0 < value < -1.0
    assert math.isnan(metrics.sparc(np.zeros(10), 10.0))


def test_speed_profile_and_mean_squared_jerk() -> None:
    fs = 10.0
    t = np.arange(0, 2, 1 / fs)
    path = np.stack([t**3, np.zeros_like(t), np.zeros_like(t)], axis=1)  # jerk = 6 everywhere
    assert metrics.mean_squared_jerk(path, fs) == pytest.approx(36.0)
    speed = metrics.speed_profile(np.stack([t, 2 * t], axis=1), fs)
    assert speed == pytest.approx(np.full(t.size - 1, math.sqrt(5)))


def _minimum_jerk(fs: float, ripple: float = 0.0, hold_s: float = 0.0) -> np.ndarray:
    """A 0.3 m minimum-jerk reach in 2 s (Flash & Hogan 1985) sampled at ``fs``, optionally
    with a position ripple at the 10 Hz control rate whose speed amplitude is ``ripple`` times
    the peak speed, then held still for ``hold_s`` seconds."""
    duration, distance = 2.0, 0.3
    t = np.arange(0, duration + 1e-9, 1 / fs)
    s = t / duration
    x = distance * (10 * s**3 - 15 * s**4 + 6 * s**5)
    peak_speed = 1.875 * distance / duration
    x = x + ripple * peak_speed / (2 * np.pi * 10.0) * np.sin(2 * np.pi * 10.0 * t)
    x = np.concatenate([x, np.full(round(hold_s * fs), x[-1])])
    return np.stack([x, 0.5 * x, np.zeros_like(x)], axis=1)


def test_a_control_rate_ripple_is_invisible_at_10_hz_and_seen_at_the_physics_rate() -> None:
    clean10, rippled10 = _minimum_jerk(10.0), _minimum_jerk(10.0, ripple=0.3)
    assert np.allclose(clean10, rippled10, atol=1e-15)  # the ripple's nodes are the samples
    at10 = metrics.path_smoothness(rippled10, 10.0, None)
    assert at10["ldlj"] == pytest.approx(metrics.path_smoothness(clean10, 10.0, None)["ldlj"])
    assert at10["sparc"] == pytest.approx(metrics.path_smoothness(clean10, 10.0, None)["sparc"])
    clean, rippled = (
        metrics.path_smoothness(_minimum_jerk(500.0, r), 500.0, None) for r in (0.0, 0.3)
    )
    assert clean["smoothness_fs"] == 500.0
    assert clean["sparc"] == pytest.approx(-1.40, abs=0.01)  # minimum jerk's known SPARC
    assert clean["ldlj"] - rippled["ldlj"] > 8.0
    assert clean["sparc"] - rippled["sparc"] > 0.6


def test_an_idle_tail_does_not_change_the_movement_window() -> None:
    fs = 500.0
    moving, held = _minimum_jerk(fs), _minimum_jerk(fs, hold_s=8.0)
    # over the whole episode, holding still until a step limit changes LDLJ by several units
    whole = metrics.ldlj(metrics.speed_profile(moving, fs), fs)
    whole_held = metrics.ldlj(metrics.speed_profile(held, fs), fs)
    assert whole - whole_held > 3.0
    window = metrics.movement_window(held, fs)
    assert window == metrics.movement_window(moving, fs)
    a, b = metrics.path_smoothness(moving, fs, None), metrics.path_smoothness(held, fs, None)
    assert a == b
    assert a["movement_s"] < 2.0 and a["path_length_m"] == pytest.approx(0.3 * 1.25**0.5, rel=0.01)
    # "start to success": an explicit end sample overrides the last-motion rule
    cut = metrics.path_smoothness(held, fs, end=500)
    assert cut["movement_s"] < 1.0 and cut["ldlj"] != a["ldlj"]
    assert math.isnan(metrics.path_smoothness(np.zeros((50, 3)), fs, None)["ldlj"])


def test_chunk_jump_ratios_per_group_are_not_dominated_by_the_gripper() -> None:
    # 10 chunks of 8: translation creeps 1 mm inside a chunk and jumps 50.6 mm at each
    # re-plan; the gripper closes once, inside a chunk (a change of 2 in [-1, 1] units).
    steps = 80
    chunks = np.arange(steps) // 8
    actions = np.zeros((steps, 7))
    dx = np.where(np.diff(chunks, prepend=0) != 0, 0.0506, 0.001)
    actions[:, 0] = np.cumsum(dx)
    actions[:, 3] = 0.01 * np.sin(np.arange(steps))
    actions[:, 6] = np.where(np.arange(steps) >= 13, 1.0, -1.0)
    groups = metrics.action_groups(("dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper"))
    assert groups == {"translation": [0, 1, 2], "rotation": [3, 4, 5], "gripper": [6]}
    ratios = metrics.chunk_jump_ratios(actions, chunks, groups)
    assert ratios["translation"] == pytest.approx(50.6)
    assert ratios["gripper"] == 0.0  # the one gripper change was inside a chunk
    assert 0.5 < ratios["rotation"] < 2.0
    # all columns as one group, as the old ratio did: the gripper's unit swamps the metres
    assert metrics.chunk_jump_ratios(actions, chunks, {"all": range(7)})["all"] < 2.0


def test_chunk_jump_ratio_edges() -> None:
    actions = np.array([[0.0], [1], [2], [5], [6], [7], [10]])
    chunks = [0, 0, 0, 1, 1, 1, 2]
    assert metrics.chunk_jump_ratios(actions, chunks, {"x": [0]}) == {"x": pytest.approx(3.0)}
    one = {"x": [0]}
    assert math.isnan(metrics.chunk_jump_ratios(actions, [0] * 7, one)["x"])  # no boundary
    assert math.isnan(metrics.chunk_jump_ratios(actions, list(range(7)), one)["x"])  # no inside
    assert metrics.action_groups(("steer", "throttle")) == {"steer": [0], "throttle": [1]}


def test_latency_percentiles() -> None:
    values = np.arange(1, 101, dtype=float)
    got = metrics.latency_percentiles([*values, math.nan])
    assert got == {
        "p50": pytest.approx(50.5),
        "p95": pytest.approx(95.05),
        "p99": pytest.approx(99.01),
    }
    assert math.isnan(metrics.latency_percentiles([])["p50"])


def test_latency_percentiles_equal_numpys_linear_method_bit_for_bit() -> None:
    rng = np.random.default_rng(7)
    qs = (0, 1, 37.5, 50, 90, 95, 99, 99.9, 100)
    for n in (*range(1, 40), 101, 1000):
        for draw in range(3):
            x = rng.lognormal(-3, 1, n)
            if draw == 1:
                x = np.round(x, 2)  # ties
            if draw == 2 and n > 2:
                x[:2] = [math.nan, math.inf]  # dropped, as np.percentile of the finite values
            finite = x[np.isfinite(x)]
            if finite.size == 0:
                continue
            expected = np.percentile(finite, qs)
            got = metrics.latency_percentiles(list(x), qs)
            assert list(got.values()) == [float(v) for v in expected], (n, draw)
            assert list(got) == [f"p{q:g}" for q in qs]


def test_synchronous_rate_never_exceeds_the_control_rate() -> None:
    # 4 actions per chunk at 10 Hz take 0.4 s; a 0.1 s act() call makes the cycle 0.5 s.
    assert metrics.synchronous_rate(0.1, 4, 10.0) == pytest.approx(8.0)
    assert metrics.synchronous_rate(1e-6, 1, 10.0) == pytest.approx(10.0, rel=1e-4)
    assert math.isnan(metrics.synchronous_rate(0.1, 4, None))
    assert metrics.asynchronous_bound(0.2, 4) == pytest.approx(20.0)
    assert math.isnan(metrics.asynchronous_bound(math.nan, 4))


def _sparc_over_the_whole_spectrum(speed: np.ndarray, fs: float) -> float:
    """SPARC as the reference code writes it: the whole spectrum, then a boolean band mask."""
    nfft = int(2 ** (math.ceil(math.log2(speed.size)) + metrics.SPARC_PADLEVEL))
    freqs = np.arange(nfft) * (fs / nfft)
    magnitude = np.abs(np.fft.fft(speed, nfft))
    magnitude = magnitude / magnitude.max()
    band = freqs <= min(metrics.SPARC_FC_HZ, fs / 2)
    freqs, magnitude = freqs[band], magnitude[band]
    above = np.flatnonzero(magnitude >= metrics.SPARC_AMPLITUDE_THRESHOLD)
    f_sel = freqs[above[0] : above[-1] + 1]
    m_sel = magnitude[above[0] : above[-1] + 1]
    if f_sel.size < 2:
        return 0.0
    width = f_sel[-1] - f_sel[0]
    return -float(np.sum(np.sqrt((np.diff(f_sel) / width) ** 2 + np.diff(m_sel) ** 2)))


@pytest.mark.parametrize(
    ("size", "fs"),
    [
        (200, 100.0),  # the reference's example rate
        (1350, 500.0),  # a manipulation episode at the physics rate
        (64, 20.0),  # the cut-off is exactly Nyquist
        (40, 10.0),  # below 2 fc: the band is capped at Nyquist
        (100, 640.0),  # fs / nfft divides fc: the band ends exactly on a bin
        (3, 1000.0),
    ],
)
def test_sparc_equals_the_whole_spectrum_computation(size: int, fs: float) -> None:
    # sparc() takes the real FFT (the first half of the spectrum) and normalises and searches
    # only the frequency band: the same value, up to the FFTs' rounding (~1e-16 relative).
    rng = np.random.default_rng(size)
    speed = np.abs(np.sin(np.linspace(0, 3, size))) + rng.uniform(0, 0.2, size)
    assert metrics.sparc(speed, fs) == pytest.approx(
        _sparc_over_the_whole_spectrum(speed, fs), rel=1e-12, abs=0
    )
