"""The analysis every format shares: ranks and ties, identity, merging, suites and latency.

Every run here is written by the real runner (conftest.py); expected values come from
harness.metrics (tested against published references) or from counting by hand.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from boardruns import wins
from vla_bench_leaderboard import records
from vla_bench_leaderboard.table import (
    BY_PATH,
    UNRANKED_PRIVILEGED,
    UNRANKED_RANDOM,
    Cell,
    Leaderboard,
    build,
    latency_flags,
)

from harness import metrics
from harness.results import load_run


def board_of(*roots: Path) -> Leaderboard:
    return build([load_run(r) for r in roots], [])


def cell(board: Leaderboard, policy: str, task: str = "pick") -> Cell:
    (found,) = [c for c in board.cells if c.policy.name == policy and c.task.name == task]
    return found


def test_paired_tests_with_holm_mark_ties_with_the_leader(make_run: Callable[..., Path]) -> None:
    a = make_run("a", wins(14), policy="alpha")
    b = make_run("b", wins(12), policy="beta")  # 2 discordant episodes: p = 0.5
    c = make_run("c", wins(4), policy="gamma")  # 10 discordant: p = 0.002
    board = board_of(a, b, c)
    ra, rb, rc = (cell(board, p).rank for p in ("alpha", "beta", "gamma"))
    assert (ra.label, rb.label, rc.label) == ("=1", "=1", "3")
    assert ra.leader and not rb.leader
    assert rb.tied and rb.p_value == pytest.approx(metrics.mcnemar_exact(2, 0))
    # Holm over the three pairwise tests: the smallest (leader vs gamma) is tripled
    pairs = [metrics.mcnemar_exact(10, 0), metrics.mcnemar_exact(2, 0), metrics.mcnemar_exact(8, 0)]
    assert rc.adjusted_p == pytest.approx(metrics.holm_adjust(pairs)[0])
    assert rc.p_value == pytest.approx(metrics.mcnemar_exact(10, 0))
    assert "20 shared episodes" in rc.method and "Holm" in rc.method


def test_a_clear_winner_is_ranked_alone(make_run: Callable[..., Path]) -> None:
    board = board_of(make_run("a", wins(19), policy="alpha"), make_run("b", wins(3), policy="beta"))
    assert [c.rank.label for c in board.cells] == ["1", "2"]
    assert board.cells[0].rank.leader and not board.cells[0].rank.tied


def test_a_three_episode_entry_is_not_tied_but_has_too_few_episodes(
    make_run: Callable[..., Path],
) -> None:
    # The audit's case: 3/3 against 48/50 on the 3 episodes both ran was shown as "=1".
    short = make_run("short", "111", policy="alpha")
    full = make_run("full", "1" * 48 + "00", policy="beta")
    board = board_of(short, full)
    a, b = cell(board, "alpha"), cell(board, "beta")
    assert a.rank.position is None and a.rank.label == "—"
    assert "not enough episodes" in (a.rank.reason or "")
    # what remains ranked is alone: a rank without a comparison is not a lead
    assert b.rank.status == "alone" and not b.rank.leader and not b.rank.tied
    assert board.ranked == 0


def test_random_weights_and_privileged_experts_are_never_ranked(
    make_run: Callable[..., Path],
) -> None:
    a = make_run("a", wins(5), policy="alpha")
    r = make_run("r", wins(20), policy="untrained", weights="random")
    s = make_run("s", wins(20), policy="scripted")  # the tasks' expert: privileged = True
    board = board_of(a, r, s)
    assert cell(board, "untrained").rank.reason == UNRANKED_RANDOM
    assert cell(board, "scripted").rank.reason == UNRANKED_PRIVILEGED
    assert records.read(load_run(s)).policy.privileged
    assert cell(board, "alpha").rank.status == "alone"
    assert cell(board, "untrained").stats.act_p50_s > 0  # still shown for latency


def test_different_track_versions_are_never_merged_or_ranked_together(
    make_run: Callable[..., Path],
) -> None:
    a = make_run("a", wins(10), policy="alpha")
    b = make_run("b", wins(18), policy="beta", task_args={"track": "2"})
    c = make_run("c", wins(4), policy="gamma", task_args={"version": "2"})
    d = make_run("d", wins(15), policy="alpha", task_args={"track": "2"})
    board = board_of(a, b, c, d)
    assert len(board.task_groups) == 3
    assert {len(cell.stats.outcomes) for cell in board.cells} == {20}  # alpha not pooled
    note = next(n for n in board.notes if "'pick'" in n and "never merged" in n)
    assert "track 2" in note and "pick v2" in note


def test_a_task_fingerprint_separates_runs_of_the_same_declared_version(
    make_run: Callable[..., Path],
) -> None:
    # Same task name, task version and track version, but the policy sees another task (here
    # another instruction): the fingerprint the run records differs, and the runs stay apart.
    plain = make_run("a", wins(10), policy="alpha")
    changed = make_run("b", wins(12), policy="alpha", task_args={"instruction": "lift it"})
    board = board_of(plain, changed)
    assert len({c.task.fingerprint for c in board.cells}) == 2
    assert {(c.task.version, c.task.track_version) for c in board.cells} == {("1", "1")}
    assert sorted(c.stats.episodes for c in board.cells) == [20, 20]  # never merged
    assert len(board.task_groups) == 2


def test_errors_are_counted_apart_from_failures_with_an_explicit_denominator(
    make_run: Callable[..., Path],
) -> None:
    s = board_of(make_run("a", "1100en", policy="alpha")).cells[0].stats
    assert (s.successes, s.failures, s.errors, s.episodes) == (2, 2, 2, 6)
    assert s.error_kinds == {"policy_error": 1, "bad_action": 1}
    assert s.first_error is not None and "the model fell over" in s.first_error
    assert s.success_rate == pytest.approx(2 / 6)
    assert (s.ci_low, s.ci_high) == pytest.approx(metrics.wilson_interval(2, 6))


def test_latency_sets_the_synchronous_rate_and_the_asynchronous_bound(
    make_run: Callable[..., Path],
) -> None:
    root = make_run("a", wins(5, 10), policy="alpha", sleep="0.01", n_action_steps=2)
    run = load_run(root)
    s = build([run], []).cells[0].stats
    calls = run.steps()["act_s"].dropna().to_numpy()
    assert s.latency_source == "steps" and s.act_calls == len(calls)
    assert s.act_p50_s == pytest.approx(metrics.latency_percentiles(calls)["p50"])
    assert s.n_action_steps == 2 and s.control_hz == 10.0
    # 2 actions take 0.2 s on the robot; waiting ~10 ms for each chunk first
    assert s.sync_hz == pytest.approx(2 / (calls.mean() + 0.2))
    assert 8.0 < s.sync_hz < 10.0 <= s.async_hz
    assert s.async_hz == pytest.approx(2 / metrics.latency_percentiles(calls)["p95"])
    assert s.pace == "ok"


def test_a_no_op_policy_gets_a_plausible_control_rate(make_run: Callable[..., Path]) -> None:
    # The old "control rate" n_action_steps / p50 showed a no-op policy at ~20 kHz, in green.
    s = board_of(make_run("a", wins(3, 10), policy="alpha")).cells[0].stats
    assert s.act_p50_s < 1e-3
    assert s.sync_hz <= s.control_hz == 10.0
    assert s.sync_hz > 9.9


def test_smoothness_over_successful_episodes_and_only_with_an_end_effector(
    make_run: Callable[..., Path],
) -> None:
    pick = make_run("a", wins(3, 5), policy="alpha")
    lander = make_run("b", wins(3, 5), policy="alpha", task="lander")
    board = board_of(pick, lander)
    s = cell(board, "alpha", "pick").stats
    assert s.sparc.of == 3  # the three successful episodes, not the two timeouts
    assert s.sparc.n == 3 and math.isfinite(s.sparc.value)
    # the board env reports no physics-rate path: its 10 Hz poses, labelled as such
    assert "at 10 Hz" in s.smoothness_basis and "not comparable" in s.smoothness_basis
    games = cell(board, "alpha", "lander").stats
    assert games.sparc.n == 0 and games.smoothness_basis == ""
    assert board.suites == ["arcade", "demo"]


def test_different_seeds_are_replicates_and_keep_every_episode(
    make_run: Callable[..., Path],
) -> None:
    first = make_run("s0", wins(8), policy="alpha", seed=0)
    second = make_run("s1", wins(12), policy="alpha", seed=1)
    board = board_of(first, second)
    (c,) = board.cells
    assert (c.stats.episodes, c.stats.distinct, c.stats.successes) == (40, 20, 20)
    assert c.stats.replicates == ("0", "1")
    assert c.stats.success_rate == pytest.approx(0.5)
    # the interval counts each episode once: as wide as 20 trials, not 40
    assert (c.stats.ci_low, c.stats.ci_high) == pytest.approx(
        metrics.wilson_interval_effective(0.5, 20)
    )
    assert not c.conflicts and any("replicates" in n for n in c.notes)


def test_the_same_episode_recorded_twice_is_counted_once_or_shown_as_a_conflict(
    make_run: Callable[..., Path],
) -> None:
    old = make_run("old", wins(10), policy="alpha")
    again = make_run("again", wins(10), policy="alpha")
    board = board_of(old, again)
    (c,) = board.cells
    assert c.stats.episodes == 20 and not c.conflicts
    assert any("20 episode(s) recorded by more than one run" in n for n in c.notes)

    rerolled = make_run("rerolled", wins(13), policy="alpha")  # the same seed, other outcomes
    other = make_run("other", wins(10), policy="beta")
    board = board_of(old, rerolled, other)
    c = cell(board, "alpha")
    assert len(c.conflicts) == 3  # episodes 10, 11, 12: not silently replaced
    assert c.stats.episodes == 17  # the 3 conflicting episodes are left out
    assert c.rank.position is None and "different outcomes" in (c.rank.reason or "")
    assert any("old" in x and "rerolled" in x for x in c.conflicts)
    assert cell(board, "beta").rank.status == "alone"


def test_weights_are_identified_by_content_not_path(make_run: Callable[..., Path]) -> None:
    # `bench train --resume` rewrites a checkpoint at the same path
    first = make_run("a", wins(5), policy="alpha", checkpoint="ckpt/act", digest="a" * 64)
    second = make_run("b", wins(15), policy="alpha", checkpoint="ckpt/act", digest="b" * 64)
    board = board_of(first, second)
    assert len(board.rows) == 2 and len(board.cells) == 2
    assert sorted(board.labels().values()) == [
        "alpha (sha256:aaaaaaaaaaaa)",
        "alpha (sha256:bbbbbbbbbbbb)",
    ]
    assert not any(BY_PATH in c.flags for c in board.cells)
    # without a digest the path is all there is: merged, and flagged
    third = make_run("c", wins(5), policy="beta", checkpoint="ckpt/other", seed=1)
    fourth = make_run("d", wins(15), policy="beta", checkpoint="ckpt/other", seed=2)
    (merged,) = [c for c in board_of(third, fourth).cells]
    assert BY_PATH in merged.flags and merged.stats.episodes == 40


def test_cost_is_shown_only_where_reported(make_run: Callable[..., Path]) -> None:
    board = board_of(
        make_run("a", wins(2, 4), policy="alpha", cost="0.031"),
        make_run("b", wins(2, 4), policy="beta"),
    )
    # 0.031 per act() call: one call per success (3 steps), two per timeout (5 steps, chunks of 4)
    assert cell(board, "alpha").stats.cost_per_episode == pytest.approx(0.031 * 6 / 4)
    assert cell(board, "alpha").stats.tokens_per_episode == pytest.approx(1240 * 6 / 4)
    assert cell(board, "beta").stats.cost_per_episode is None


def test_suite_success_is_the_mean_of_task_rates(make_run: Callable[..., Path]) -> None:
    board = board_of(make_run("a", {"pick": wins(10), "stack": wins(4)}, policy="alpha"))
    (row,) = board.rows
    assert row.stats.episodes == 40 and row.stats.successes == 14
    assert row.stats.success_rate == pytest.approx((0.5 + 0.2) / 2)
    (l1, u1), (l2, u2) = metrics.wilson_interval(10, 20), metrics.wilson_interval(4, 20)
    expected = metrics.mover_interval([0.5, 0.2], [l1, l2], [u1, u2], [0.5, 0.5])
    assert (row.stats.ci_low, row.stats.ci_high) == pytest.approx(expected)
    assert [c.task.name for c in row.cells] == ["pick", "stack"]


def test_unequal_episode_counts_give_equal_macro_means_and_no_false_tie(
    make_run: Callable[..., Path],
) -> None:
    # The audit's suite rows: task pick always solved, stack never, by both policies; pooled
    # over 5+1 and 1+5 episodes that read 83.3% and 16.7%, both "=1".
    roots = [
        make_run("a-pick", "11111", policy="alpha"),
        make_run("a-stack", "0", policy="alpha", task="stack"),
        make_run("b-pick", "1", policy="beta"),
        make_run("b-stack", "00000", policy="beta", task="stack"),
    ]
    board = board_of(*roots)
    rates = {r.policy.name: r.stats.success_rate for r in board.rows}
    assert rates == {"alpha": 0.5, "beta": 0.5}
    assert len(board.suite_groups) == 2  # different episodes: not compared
    # Same tasks, other episodes: the titles say how many, so the two groups read apart.
    titles = sorted(g.title.rsplit(" · ", 1)[1] for g in board.suite_groups)
    assert titles == ["6 episodes (pick 1, stack 5)", "6 episodes (pick 5, stack 1)"], titles
    assert all(r.rank.label != "=1" for r in board.rows)
    assert any("separate groups" in n and "different tasks or episodes" in n for n in board.notes)


def test_rollout_media_picks_a_success_and_a_failure(make_run: Callable[..., Path]) -> None:
    board = board_of(make_run("a", "10110", policy="alpha", video=3))
    media = board.cells[0].media
    assert [(m.kind, m.episode) for m in media] == [("success", 0), ("failure", 1)]
    assert all(m.path.is_file() and m.path.suffix == ".gif" for m in media)


def test_latency_flags_name_load_hosts_and_worker_counts(make_run: Callable[..., Path]) -> None:
    record = records.read(load_run(make_run("a", wins(1, 2), policy="alpha")))
    host = record.host
    quiet = dataclasses.replace(host, cpus=4, workers=1, load_before=0.5, load_after=1.4)
    busy = dataclasses.replace(host, cpus=2, workers=1, load_before=1.7, load_after=2.1)
    assert quiet.loaded is False and busy.loaded is True
    assert dataclasses.replace(host, load_before=None, load_after=None).loaded is None
    other = dataclasses.replace(busy, text="other box", workers=2)
    flags = latency_flags(
        [
            dataclasses.replace(record, run_id="r1", hosts=(quiet,)),
            dataclasses.replace(record, run_id="r2", hosts=(other,)),
        ]
    )
    assert any("under load" in f and "r2" in f and "r1" not in f for f in flags)
    assert any("host" in f for f in flags) and any("worker count" in f for f in flags)
