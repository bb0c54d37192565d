"""How often K equally good policies are ranked apart: the leaderboard's procedure against the
two it replaced. Prints one line per K (the rate of trials in which at least one policy was
marked below the leader although all are equal).

    python leaderboard/benchmarks/false_separation.py [--trials 2000] [--episodes 50]

Procedures: ``each-vs-leader`` (the old ranking: every entry tested against the data-chosen
leader at 5%, exact McNemar, no multiplicity control), ``holm-vs-leader`` (Holm over those
K-1 tests only: still blind to the leader being chosen from the data) and ``leaderboard``
(``vla_bench_leaderboard.ranking.rank``: Holm over all pairwise tests of the group).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from vla_bench_leaderboard.ranking import Evidence, rank

from harness import metrics


def _vs_leader(outcomes: np.ndarray, holm: bool) -> bool:
    leader = int(np.argmax(outcomes.mean(axis=1)))
    p = [
        metrics.mcnemar_exact(
            int((outcomes[leader] & ~outcomes[j]).sum()),
            int((~outcomes[leader] & outcomes[j]).sum()),
        )
        for j in range(len(outcomes))
        if j != leader
    ]
    if holm:
        return any(v <= 0.05 for v in metrics.holm_adjust(p))
    return any(v < 0.05 for v in p)  # the old rule: tied when p >= 0.05


def _leaderboard(outcomes: np.ndarray) -> bool:
    entries = [
        Evidence(float(o.mean()), 0.0, {i: (bool(x),) for i, x in enumerate(o)}) for o in outcomes
    ]
    return any(v.status == "below" for v in rank(entries))


def main() -> None:
    """Simulate and print the false-separation rate per K and procedure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"K identical policies, p = 0.5, {args.episodes} shared episodes, {args.trials} trials")
    print(f"{'K':>3} {'each-vs-leader':>15} {'holm-vs-leader':>15} {'leaderboard':>12} {'s':>6}")
    for k in (2, 5, 10, 20):
        counts = np.zeros(3)
        start = time.perf_counter()
        for _ in range(args.trials):
            outcomes = rng.random((k, args.episodes)) < 0.5
            counts += [
                _vs_leader(outcomes, holm=False),
                _vs_leader(outcomes, holm=True),
                _leaderboard(outcomes),
            ]
        rates = counts / args.trials
        took = time.perf_counter() - start
        print(f"{k:>3} {rates[0]:>15.3f} {rates[1]:>15.3f} {rates[2]:>12.3f} {took:>6.1f}")


if __name__ == "__main__":
    main()
