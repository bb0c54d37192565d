"""Ranking one group of comparable entries with family-wise error control.

The leader is the entry with the highest success rate. Every pair of ranked entries in the
group is tested (paired where they share episodes, unpaired where they share none) and Holm's
step-down procedure is applied to the whole family of pairwise tests. An entry is shown *below*
the leader only when its test against the leader is rejected in that family at 5%; otherwise
it is *tied* with the leader. Because the leader is chosen after seeing the data, testing only
the comparisons with the leader would not control the error (with ten identical policies one
would be wrongly ranked below the leader 8% of the time even after Holm); the comparisons with
the leader are a data-chosen subset of the all-pairs family, whose family-wise guarantee holds
for any such subset.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from harness import metrics

ALPHA = 0.05
"""Family-wise error rate of the comparisons shown in one group."""

MIN_EPISODES = 10
"""Entries with fewer distinct episodes are not ranked, and two entries sharing fewer are not
compared: below 10 paired episodes the exact test can reject only when nearly every shared
episode was solved by one side alone, so a "tie" would only mean "too few episodes"."""

Outcomes = Mapping[Hashable, tuple[bool, ...]]
"""Per episode (task, track, episode seed): the success of each replicate, by policy seed."""


@dataclass(frozen=True)
class Evidence:
    """What one entry brings to the ranking: the rate it is ordered by and its episodes."""

    rate: float
    ci_low: float
    outcomes: Outcomes

    @property
    def episodes(self) -> int:
        """Distinct episodes (replicates of one episode count once)."""
        return len(self.outcomes)


@dataclass(frozen=True)
class PairTest:
    """One pairwise test: its p-value before and after Holm's adjustment, and how it ran."""

    p_value: float
    method: str  # "paired" or "unpaired"
    shared: int
    first_only: int  # paired: episodes only the first entry did better on
    second_only: int
    adjusted: float = math.nan


@dataclass(frozen=True)
class Verdict:
    """Where one entry stands: ``leader``, ``tied``, ``below``, ``alone`` (the only ranked
    entry: nothing to compare with), ``too few`` (fewer than :data:`MIN_EPISODES`) or
    ``not compared`` (shares too few episodes with the leader)."""

    status: str
    position: int | None
    test: PairTest | None = None
    explanation: str = ""


@functools.lru_cache(maxsize=65536)
def _mcnemar(b: int, c: int) -> float:
    return metrics.mcnemar_exact(b, c)


@functools.lru_cache(maxsize=4096)
def _unpaired(ka: int, na: int, kb: int, nb: int) -> float:
    return metrics.unpaired_exact(ka, na, kb, nb)


def pairwise_tests(entries: Sequence[Evidence]) -> dict[tuple[int, int], PairTest]:
    """Every testable pair ``(i, j)``, ``i < j``, of ``entries`` and its test (unadjusted).

    Paired (at least :data:`MIN_EPISODES` shared episodes): the exact sign test on the shared
    episodes, counting those where one entry's successes over its replicates beat the other's
    (with one replicate each this is exact McNemar); where the replicate counts of an episode
    differ, each side's first ``r`` replicates are used (``r`` the smaller count), so that both
    sides have the same distribution under the null. Unpaired (no shared episode): Boschloo's
    exact test on each entry's first replicate of every episode. Pairs sharing 1 to 9 episodes
    are not testable and left out.
    """
    index: dict[Hashable, int] = {}
    for e in entries:
        for key in e.outcomes:
            index.setdefault(key, len(index))
    k, n = len(entries), len(index)
    depth = max((len(o) for e in entries for o in e.outcomes.values()), default=1)
    count = np.zeros((k, n), dtype=np.int64)
    # wins[e, key, r]: successes among the entry's first r replicates of that episode
    wins = np.zeros((k, n, depth + 1), dtype=np.int64)
    rows: list[int] = []
    columns: list[int] = []
    sizes: list[int] = []
    padded: list[bool] = []
    for i, e in enumerate(entries):
        for key, results in e.outcomes.items():
            rows.append(i)
            columns.append(index[key])
            sizes.append(len(results))
            padded.extend(results)
            padded.extend((False,) * (depth - len(results)))
    count[rows, columns] = sizes
    replicates = np.fromiter(padded, dtype=np.int64, count=len(padded)).reshape(-1, depth)
    wins[rows, columns, 1:] = np.cumsum(replicates, axis=1)
    r = np.minimum(count[:, None, :], count[None, :, :])[..., None]
    mine = np.take_along_axis(wins[:, None], r, axis=3)[..., 0]
    theirs = np.take_along_axis(wins[None, :], r, axis=3)[..., 0]
    both = r[..., 0] > 0
    shared = both.sum(axis=2).tolist()
    better = (both & (mine > theirs)).sum(axis=2).tolist()
    firsts = wins[:, :, 1].sum(axis=1).tolist()
    present = (count > 0).sum(axis=1).tolist()
    tests = {}
    for i in range(k):
        for j in range(i + 1, k):
            if shared[i][j] >= MIN_EPISODES:
                b, c = better[i][j], better[j][i]
                tests[(i, j)] = PairTest(_mcnemar(b, c), "paired", shared[i][j], b, c)
            elif shared[i][j] == 0:
                p = _unpaired(firsts[i], present[i], firsts[j], present[j])
                tests[(i, j)] = PairTest(p, "unpaired", 0, 0, 0)
    return tests


def _describe(test: PairTest, below: bool) -> str:
    verdict = "below" if below else "tied with"
    if test.method == "paired":
        how = (
            f"exact McNemar/sign test on {test.shared} shared episodes (leader better on "
            f"{test.first_only}, this on {test.second_only})"
        )
    else:
        how = "no shared episodes: Boschloo's exact test on the two success counts"
    return (
        f"{verdict} the leader: {how}, p = {test.p_value:.3g}, Holm-adjusted over the group's "
        f"pairwise tests p = {test.adjusted:.3g} (family-wise 5%)"
    )


def rank(entries: Sequence[Evidence], alpha: float = ALPHA) -> list[Verdict]:
    """A verdict per entry, in the order given (see the module docstring for the procedure)."""
    verdicts: list[Verdict | None] = [None] * len(entries)
    eligible = []
    for i, e in enumerate(entries):
        if e.episodes < MIN_EPISODES or not math.isfinite(e.rate):
            verdicts[i] = Verdict(
                "too few",
                None,
                explanation=f"not enough episodes to rank ({e.episodes} < {MIN_EPISODES})",
            )
        else:
            eligible.append(i)
    eligible.sort(key=lambda i: (-entries[i].rate, -entries[i].ci_low, -entries[i].episodes))
    if len(eligible) == 1:
        verdicts[eligible[0]] = Verdict(
            "alone",
            1,
            explanation="the only ranked entry here: nothing to compare with, so not a leader",
        )
    if len(eligible) < 2:
        return [v for v in verdicts if v is not None]

    # tests in ranked order, so that the leader is the first of every pair it is part of
    ranked = [entries[i] for i in eligible]
    tests = pairwise_tests(ranked)
    adjusted = metrics.holm_adjust([t.p_value for t in tests.values()])
    against_leader = {
        eligible[j]: dataclasses.replace(t, adjusted=adj)
        for ((i, j), t), adj in zip(tests.items(), adjusted, strict=True)
        if i == 0
    }

    leader = eligible[0]
    any_tied = False
    for position, i in enumerate(eligible[1:], start=2):
        test = against_leader.get(i)
        if test is None:
            verdicts[i] = Verdict(
                "not compared",
                None,
                explanation=(
                    f"shares only {len(entries[leader].outcomes.keys() & entries[i].outcomes)} "
                    f"episodes with the leader (fewer than {MIN_EPISODES}): not compared"
                ),
            )
            continue
        # a rejection against the leader's direction (possible only where the rate shown is a
        # macro mean and the pooled test disagrees with it) separates nothing
        favours_leader = (
            test.first_only > test.second_only
            if test.method == "paired"
            else entries[leader].rate > entries[i].rate
        )
        below = test.adjusted <= alpha and favours_leader
        any_tied |= not below
        verdicts[i] = Verdict(
            "below" if below else "tied", position if below else 1, test, _describe(test, below)
        )
    verdicts[leader] = Verdict(
        "leader", 1, explanation="leader (others tied)" if any_tied else "leader"
    )
    return [v for v in verdicts if v is not None]
