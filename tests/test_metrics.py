"""Metrics against published reference values and independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from harness import metrics


def test_wilson_matches_published_values() -> None:
    # Newcombe (1998), Stat Med 17:857, Table I: 81/263 -> 0.2553-0.3662; 15/148 -> 0.0624-0.1605.
    assert metrics.wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    assert metrics.wilson_interval(15, 148) == pytest.approx((0.0624, 0.1605), abs=5e-5)
    # 0/10: lower bound 0, upper z^2/(n+z^2).
    z2 = stats.norm.ppf(0.975) ** 2
    assert metrics.wilson_interval(0, 10) == pytest.approx((0.0, z2 / (10 + z2)))


def test_wilson_edges() -> None:
    low, high = metrics.wilson_interval(10, 10)
    assert high == 1.0 and 0.69 < low < 0.73
    assert all(math.isnan(v) for v in metrics.wilson_interval(0, 0))
    with pytest.raises(ValueError, match="successes"):
        metrics.wilson_interval(5, 3)


@pytest.mark.parametrize(("b", "c"), [(1, 6), (0, 5), (10, 12), (3, 3), (0, 20), (7, 0)])
def test_mcnemar_exact_is_the_two_sided_binomial_test(b: int, c: int) -> None:
    expected = stats.binomtest(b, b + c, 0.5, alternative="two-sided").pvalue
    assert metrics.mcnemar_exact(b, c) == pytest.approx(expected)


def test_mcnemar_hand_values() -> None:
    # 0 vs 5 discordant: 2 * 0.5**5 = 0.0625; none discordant: no evidence.
    assert metrics.mcnemar_exact(0, 5) == pytest.approx(0.0625)
    assert metrics.mcnemar_exact(0, 0) == 1.0


def _gaussian_speed() -> np.ndarray:
    t = np.arange(-1, 1, 0.01)
    return np.exp(-5 * t**2)


def test_sparc_and_ldlj_match_the_reference_implementation_docs() -> None:
    # Values documented by Balasubramanian et al.'s reference code for this Gaussian profile.
    speed = _gaussian_speed()
    assert metrics.sparc(speed, fs=100.0) == pytest.approx(-1.41403126171, abs=1e-9)
    assert metrics.dimensionless_jerk(speed, fs=100.0) == pytest.approx(-335.746837033, rel=1e-9)
    assert metrics.ldlj(speed, fs=100.0) == pytest.approx(-5.81635741476, abs=1e-9)


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


def test_chunk_jump_ratio() -> None:
    # Inside chunks the action moves by 1 per step; at each boundary it jumps by 3.
    actions = np.array([[0.0], [1], [2], [5], [6], [7], [10]])
    chunks = [0, 0, 0, 1, 1, 1, 2]
    assert metrics.chunk_jump_ratio(actions, chunks) == pytest.approx(3.0)
    assert math.isnan(metrics.chunk_jump_ratio(actions, [0] * 7))  # no boundary
    assert math.isnan(metrics.chunk_jump_ratio(actions, list(range(7))))  # no inside steps


def test_latency_percentiles() -> None:
    values = np.arange(1, 101, dtype=float)
    got = metrics.latency_percentiles([*values, math.nan])
    assert got == {
        "p50": pytest.approx(50.5),
        "p95": pytest.approx(95.05),
        "p99": pytest.approx(99.01),
    }
    assert math.isnan(metrics.latency_percentiles([])["p50"])
