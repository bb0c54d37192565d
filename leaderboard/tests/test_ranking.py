"""The ranking's error rate and its tests, on simulated outcomes (no runs needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from vla_bench_leaderboard.ranking import MIN_EPISODES, Evidence, pairwise_tests, rank

from harness import metrics

TRIALS = 600
BOUND = 0.05 + 3 * math.sqrt(0.05 * 0.95 / TRIALS)
"""The family-wise level plus three Monte-Carlo standard errors at 5% (7.7% for 600 trials)."""


def entry(outcomes: np.ndarray, keys: range | None = None) -> Evidence:
    """An entry whose episode ``i`` (or ``keys[i]``) ended as ``outcomes[i]``."""
    keys = keys or range(len(outcomes))
    return Evidence(
        float(np.mean(outcomes)),
        0.0,
        {("pick", "v1", k): (bool(o),) for k, o in zip(keys, outcomes, strict=True)},
    )


@pytest.mark.parametrize("k", [2, 5, 10, 20])
def test_identical_policies_are_rarely_separated(k: int) -> None:
    # The audit's simulation: K policies of equal skill (p = 0.5) on the same 50 episodes.
    # Testing each against the data-chosen leader at 5% separated at least one wrongly in
    # 3.1% (K=2), 17.6% (K=5), 47% (K=10) and 79% (K=20) of trials.
    rng = np.random.default_rng(1000 + k)
    separated = 0
    for _ in range(TRIALS):
        outcomes = rng.random((k, 50)) < 0.5
        verdicts = rank([entry(o) for o in outcomes])
        separated += any(v.status == "below" for v in verdicts)
    assert separated / TRIALS <= BOUND, f"K={k}: {separated / TRIALS:.3f}"


def test_a_real_difference_is_still_found() -> None:
    # 45/50 against 25/50 (and two more entries): separated after Holm.
    rng = np.random.default_rng(7)
    strong = rng.random(50) < 0.9
    weak = strong & (rng.random(50) < 0.55)
    others = [rng.random(50) < 0.85 for _ in range(2)]
    verdicts = rank([entry(strong), entry(weak), *(entry(o) for o in others)])
    assert verdicts[0].status == "leader"
    assert verdicts[1].status == "below" and verdicts[1].test is not None
    assert verdicts[1].test.adjusted <= 0.05 < 1.0


def test_entries_sharing_no_episode_get_boschlooo_not_interval_overlap() -> None:
    # 40/50 vs 28/50 on disjoint episodes: overlapping Wilson intervals (once called a tie).
    a = entry(np.array([1] * 40 + [0] * 10), range(0, 50))
    b = entry(np.array([1] * 28 + [0] * 22), range(100, 150))
    leader, other = rank([a, b])
    assert leader.status == "leader" and other.status == "below"
    assert other.test is not None and other.test.method == "unpaired"
    assert other.test.p_value == pytest.approx(metrics.unpaired_exact(40, 50, 28, 50))


def test_too_few_episodes_and_too_few_shared_ones() -> None:
    few = entry(np.ones(3))
    many = entry(np.r_[np.ones(48), np.zeros(2)])
    shifted = entry(np.r_[np.ones(30), np.zeros(20)], range(45, 95))  # shares 5 episodes
    verdicts = rank([few, many, shifted])
    assert verdicts[0].status == "too few" and verdicts[0].position is None
    assert f"< {MIN_EPISODES}" in verdicts[0].explanation
    assert verdicts[1].status == "leader"
    assert verdicts[2].status == "not compared" and "shares only 5" in verdicts[2].explanation
    assert rank([many])[0].status == "alone"


def test_replicates_are_compared_episode_by_episode() -> None:
    # A: two seeds per episode; B: one. Each episode compares A's first seed with B's.
    keys = [("pick", "v1", i) for i in range(12)]
    a = Evidence(0.5, 0.0, {k: (i < 10, False) for i, k in enumerate(keys)})
    b = Evidence(0.0, 0.0, {k: (False,) for k in keys})
    ((pair, test),) = pairwise_tests([a, b]).items()
    assert pair == (0, 1) and test.method == "paired" and test.shared == 12
    assert (test.first_only, test.second_only) == (10, 0)
    # with the same replicate count both sides' totals are compared
    c = Evidence(0.5, 0.0, {k: (False, i < 11) for i, k in enumerate(keys)})
    ((_, test),) = pairwise_tests([a, c]).items()
    assert (test.first_only, test.second_only) == (0, 1)  # episode 10: 1 of 2 vs 1 of 2 ties
