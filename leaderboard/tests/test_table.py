"""The analysis every format shares: ranks and ties, grouping, merging and the figures."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from vla_bench_leaderboard.table import (
    UNRANKED_PRIVILEGED,
    UNRANKED_RANDOM,
    Cell,
    Leaderboard,
    build,
)

from harness import metrics
from harness.results import load_run


def wins(k: int, n: int = 20) -> list[bool]:
    """The first ``k`` of ``n`` episodes succeed."""
    return [True] * k + [False] * (n - k)


def board_of(*roots: Path) -> Leaderboard:
    return build([load_run(r) for r in roots], [])


def cell(board: Leaderboard, policy: str, task: str = "pick") -> Cell:
    (found,) = [c for c in board.cells if c.policy.name == policy and c.task.name == task]
    return found


def test_paired_mcnemar_marks_ties_with_the_leader(make_run: Callable[..., Path]) -> None:
    a = make_run("a", {"pick": wins(14)}, policy="a")
    b = make_run("b", {"pick": wins(12)}, policy="b")  # 2 discordant episodes: p = 0.5
    c = make_run("c", {"pick": wins(4)}, policy="c")  # 10 discordant: p = 0.002
    board = board_of(a, b, c)
    ra, rb, rc = (cell(board, p).rank for p in "abc")
    assert (ra.label, rb.label, rc.label) == ("=1", "=1", "3")
    assert ra.leader and not rb.leader
    assert rb.tied and rb.p_value == pytest.approx(metrics.mcnemar_exact(2, 0))
    assert not rc.tied and rc.p_value == pytest.approx(metrics.mcnemar_exact(10, 0))
    assert "20 shared episodes" in rc.method


def test_a_clear_winner_is_ranked_alone(make_run: Callable[..., Path]) -> None:
    a = make_run("a", {"pick": wins(19)}, policy="a")
    b = make_run("b", {"pick": wins(3)}, policy="b")
    board = board_of(a, b)
    assert [c.rank.label for c in board.cells] == ["1", "2"]
    assert not cell(board, "a").rank.tied


def test_unpaired_runs_fall_back_to_wilson_overlap(make_run: Callable[..., Path]) -> None:
    other_seeds = {"pick": list(range(5000, 5020))}
    a = make_run("a", {"pick": wins(15)}, policy="a")
    near = make_run("near", {"pick": wins(12)}, policy="near", seeds=other_seeds)
    far = make_run("far", {"pick": wins(1)}, policy="far", seeds=other_seeds)
    board = board_of(a, near, far)
    leader, n, f = cell(board, "a").stats, cell(board, "near"), cell(board, "far")
    assert n.stats.ci_high >= leader.ci_low and n.rank.tied
    assert f.stats.ci_high < leader.ci_low and not f.rank.tied
    assert math.isnan(n.rank.p_value) and "Wilson" in n.rank.method


def test_random_weights_and_privileged_experts_are_never_ranked(
    make_run: Callable[..., Path],
) -> None:
    a = make_run("a", {"pick": wins(5)}, policy="a")
    r = make_run("r", {"pick": wins(20)}, policy="smolvla", weights="random")
    s = make_run("s", {"pick": wins(20)}, policy="scripted", weights="scripted", privileged=True)
    board = board_of(a, r, s)
    assert cell(board, "a").rank.label == "1"
    assert cell(board, "smolvla").rank.position is None
    assert cell(board, "smolvla").rank.reason == UNRANKED_RANDOM
    assert cell(board, "scripted").rank.reason == UNRANKED_PRIVILEGED
    assert cell(board, "smolvla").stats.act_p50_s > 0  # still shown for latency


def test_different_track_versions_are_ranked_apart_with_a_note(
    make_run: Callable[..., Path], task: Callable[..., dict[str, Any]]
) -> None:
    a = make_run("a", {"pick": wins(10)}, policy="a")
    b = make_run("b", {"pick": wins(18)}, policy="b", tasks={"pick": task("pick", track="2")})
    c = make_run("c", {"pick": wins(4)}, policy="c", tasks={"pick": task("pick", version="2")})
    board = board_of(a, b, c)
    assert len(board.task_groups) == 3
    assert all(g.members[0].rank.label == "1" for g in board.task_groups)
    note = next(n for n in board.notes if "'pick'" in n and "ranked separately" in n)
    assert "track 2" in note and "task v2" in note
    # the suite rows cover different versions, so they are ranked apart as well
    assert len(board.suite_groups) == 3


def test_errors_are_counted_apart_from_failures(make_run: Callable[..., Path]) -> None:
    outcomes = [True, True, False, "terminated", "policy_error", "sim_error", "bad_action"]
    s = board_of(make_run("a", {"pick": outcomes}, policy="a")).cells[0].stats
    assert (s.successes, s.failures, s.errors) == (2, 2, 3)
    assert s.error_kinds == {"policy_error": 1, "sim_error": 1, "bad_action": 1}
    assert s.first_error == "RuntimeError: the model fell over"
    assert s.success_rate == pytest.approx(2 / 7)
    assert (s.ci_low, s.ci_high) == pytest.approx(metrics.wilson_interval(2, 7))


def test_latency_comes_from_every_act_call_and_sets_the_control_rate(
    make_run: Callable[..., Path],
) -> None:
    root = make_run("a", {"pick": wins(5, 10)}, policy="a", act_s=0.05, n_action_steps=4)
    run = load_run(root)
    s = build([run], []).cells[0].stats
    calls = run.steps()["act_s"].dropna().to_numpy()
    assert s.latency_source == "steps" and s.act_calls == len(calls) == 10 * 2
    assert s.act_p50_s == pytest.approx(metrics.latency_percentiles(calls)["p50"])
    assert s.chunk_hz == pytest.approx(1 / s.act_p50_s)
    assert s.action_hz == pytest.approx(4 / s.act_p50_s)
    assert s.realtime is True  # 4 actions per ~60 ms is far above the task's 10 Hz


def test_smoothness_only_where_the_task_has_an_end_effector(
    make_run: Callable[..., Path], task: Callable[..., dict[str, Any]]
) -> None:
    tasks = {"lander": task("lander", suite="games", has_ee=False)}
    board = board_of(
        make_run("a", {"pick": wins(3, 5)}, policy="a"),
        make_run("b", {"lander": wins(3, 5)}, policy="a", tasks=tasks),
    )
    assert math.isfinite(cell(board, "a", "pick").stats.ldlj)
    assert math.isnan(cell(board, "a", "lander").stats.ldlj)
    assert math.isnan(cell(board, "a", "lander").stats.sparc)
    assert board.suites == ["demo", "games"]


def test_runs_of_the_same_policy_merge_by_seed_newest_first(
    make_run: Callable[..., Path],
) -> None:
    old = make_run("old", {"pick": [False] * 10}, policy="a", created="2026-01-01T00:00:00+00:00")
    new = make_run(
        "new",
        {"pick": [True] * 5},
        policy="a",
        created="2026-02-01T00:00:00+00:00",
        seeds={"pick": [1005, 1006, 1007, 1008, 1009]},
    )
    board = board_of(old, new)
    (c,) = board.cells
    assert c.stats.episodes == 10  # seeds 1000-1009 once each
    assert c.stats.successes == 5  # the five re-run seeds take the newer result
    assert [s.run_id for s in c.sources] == ["new", "old"]
    assert any("merged 2 runs" in n and "5 repeated" in n for n in c.notes)


def test_a_different_checkpoint_is_a_different_row(make_run: Callable[..., Path]) -> None:
    board = board_of(
        make_run("a", {"pick": wins(5)}, policy="a", checkpoint="org/a-v1"),
        make_run("b", {"pick": wins(6)}, policy="a", checkpoint="org/a-v2"),
    )
    assert len(board.rows) == 2
    assert sorted(board.labels().values()) == ["a (org/a-v1)", "a (org/a-v2)"]


def test_cost_is_shown_only_where_reported(make_run: Callable[..., Path]) -> None:
    board = board_of(
        make_run("a", {"pick": wins(2, 4)}, policy="claude", cost_usd=0.031),
        make_run("b", {"pick": wins(2, 4)}, policy="b"),
    )
    assert cell(board, "claude").stats.cost_per_episode == pytest.approx(0.031)
    assert cell(board, "claude").stats.tokens_per_episode == pytest.approx(1240)
    assert cell(board, "b").stats.cost_per_episode is None


def test_suite_rows_pool_their_tasks(make_run: Callable[..., Path]) -> None:
    board = board_of(make_run("a", {"pick": wins(10), "stack": wins(4)}, policy="a"))
    (row,) = board.rows
    assert row.stats.episodes == 40 and row.stats.successes == 14
    assert [c.task.name for c in row.cells] == ["pick", "stack"]
    assert row.rank.label == "1" and "only ranked" in row.rank.method


def test_rollout_media_picks_a_success_and_a_failure(
    make_run: Callable[..., Path], gif: Callable[..., bytes]
) -> None:
    videos = {
        ("pick", 0): gif((200, 0, 0)),
        ("pick", 1): gif((0, 200, 0)),
        ("pick", 5): gif((0, 0, 200)),
    }
    board = board_of(make_run("a", {"pick": wins(3, 8)}, policy="a", videos=videos))
    media = board.cells[0].media
    assert [(m.kind, m.episode) for m in media] == [("success", 0), ("failure", 5)]
