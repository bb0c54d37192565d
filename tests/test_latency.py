"""Latency-aware evaluation: the simulated clock, held steps, replayed profiles, degradation.

Runs are real (toy reach task and Gymnasium CartPole with its scripted expert), in this
process (``--isolate none``); expected figures are worked out here from the documented rules,
never read back from the code under test.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from harness.cli import main
from harness.contract import EE_DELTA_7D, ActionSpace
from harness.errors import RunConfigError
from harness.latency import Timing, TimingError, degradation, steps_in_flight
from harness.metrics import mcnemar_exact
from harness.record import RunSettings
from harness.results import load_run
from harness.run import execute

TIMING_COLUMNS = ("act_s", "model_s")  # wall-clock measurements: never equal twice


def profile(path: Path, samples: list[float]) -> Path:
    """A latency profile file written as a user would, from the documented format."""
    path.write_text(
        json.dumps({"format": "vla-bench latency profile", "version": 1, "samples_s": samples})
    )
    return path


def run(out: Path, policy: str, task: str = "reach", **settings: Any) -> Any:
    from harness.contract import PolicyConfig

    config = PolicyConfig(policy, seed=int(settings.get("seed", 0)))
    if "timing" in settings:
        settings["timing"] = Timing.parse(settings["timing"]).text()
    settings.setdefault("isolate", "none")
    execute(config, task, RunSettings(**settings), out, ["test"])
    return load_run(out)


def step_digest(steps: pd.DataFrame) -> str:
    h = hashlib.sha256()
    for col in ("episode", "step", "chunk", "chunk_pos", "reward", "success", "ee_x", "ee_y"):
        h.update(np.round(np.asarray(steps[col], dtype=float), 9).tobytes())
    h.update(np.round(np.stack(steps["action"].to_numpy()), 9).tobytes())
    return h.hexdigest()[:16]


# Recorded with main at 2ae6b47, before latency-aware timing existed (3 episodes of reach).
SYNC_DIGESTS = {"chunky": "845f4e1767496739", "scripted": "a9ae88d360b82cb3"}


@pytest.mark.parametrize("policy", sorted(SYNC_DIGESTS))
def test_sync_runs_are_what_they_were_before_timing_existed(tmp_path: Path, policy: str) -> None:
    loaded = run(tmp_path / policy, policy, episodes=3)
    steps = loaded.steps()
    assert step_digest(steps) == SYNC_DIGESTS[policy]
    assert loaded.record.settings.timing == "sync"
    assert (loaded.episodes["held_steps"] == 0).all()
    assert loaded.episodes["stale_ratio"].isna().all()
    assert (steps["chunk_pos"] >= 0).all()


def test_zero_latency_on_the_clock_is_the_synchronous_run(tmp_path: Path) -> None:
    sync = run(tmp_path / "sync", "chunky", episodes=2).steps()
    zero = profile(tmp_path / "zero.json", [0.0])
    timed = run(tmp_path / "zero", "chunky", episodes=2, timing=f"profile:{zero}").steps()
    pd.testing.assert_frame_equal(sync.drop(columns=list(TIMING_COLUMNS)),
                                  timed.drop(columns=list(TIMING_COLUMNS)))  # fmt: skip


def test_steps_in_flight_rounds_up_whole_control_steps() -> None:
    # 0.14 * 50 is 7.000000000000001 in floating point: 140 ms at 50 Hz is 7 steps, not 8.
    cases = [(0.0, 50, 0), (0.001, 50, 1), (0.02, 50, 1), (0.0201, 50, 2), (0.14, 50, 7),
             (0.28, 50, 14), (0.141, 50, 8), (0.3, 10, 3), (2.5, 20, 50)]  # fmt: skip
    assert [steps_in_flight(latency, hz) for latency, hz, _ in cases] == [d for *_, d in cases]
    with pytest.raises(TimingError, match="finite number"):
        steps_in_flight(math.nan, 10)


def predicted_held(steps: int, k: int, d: int, align: str) -> int:
    """Held steps in an episode of ``steps`` steps: each call holds d steps, then executes
    the chunk's window of k rows less the d stale ones (at least one) or, aligned at the
    start, all k."""
    held = t = 0
    while t < steps:
        wait = min(d, steps - t)
        held += wait
        t += wait
        t += k if align == "start" else max(k - d, 1)
    return held


@pytest.mark.parametrize(
    ("latency", "align", "d"),
    [(0.15, "now", 2), (0.7, "now", 7), (0.55, "now", 6), (0.15, "start", 2), (0.1, "now", 1)],
)
def test_held_steps_are_exactly_the_latency_in_control_steps(
    tmp_path: Path, latency: float, align: str, d: int
) -> None:
    # reach runs at 10 Hz for 40 steps; chunky executes chunks of 4 rows (x = .01 .. .04).
    file = profile(tmp_path / "fixed.json", [latency])
    loaded = run(tmp_path / "r", "chunky", episodes=2, timing=f"profile:{file},align={align}")
    episodes, steps = loaded.episodes, loaded.steps()
    assert (episodes["outcome"] == "timeout").all() and (episodes["steps"] == 40).all()
    expected = predicted_held(40, 4, d, align)
    assert list(episodes["held_steps"]) == [expected, expected]
    assert episodes["stale_ratio"].tolist() == pytest.approx([expected / 40] * 2)
    assert episodes["effective_hz"].tolist() == pytest.approx([(40 - expected) * 10 / 40] * 2)
    first = steps[steps["episode"] == 0]
    held = first["chunk_pos"] == -1
    assert int(held.sum()) == expected
    actions = np.stack(first["action"].to_numpy())
    assert not actions[held.to_numpy()].any(), "the delta space holds still (all zeros)"
    # The first call holds from reset: the episode starts with d held steps.
    assert list(first["chunk_pos"][: d + 1]) == [-1] * d + [min(d, 3) if align == "now" else 0]
    # Each call's round trip is on the first step of its wait, once per chunk.
    calls = first.groupby("chunk")["act_s"].apply(lambda s: int(s.notna().sum()))
    assert (calls == 1).all()
    x = actions[~held.to_numpy(), 0]
    if align == "now" and d < 4:  # the stale rows of .01 .. .04 are dropped
        assert set(np.round(x, 3)) == set(np.round(np.linspace(0.01, 0.04, 4)[d:], 3))
    if align == "now" and d < 3:
        # Jumps are between the actions the policy chose: .04 -> the next chunk's first kept
        # row (.01 * (d + 1)) at boundaries, .01 inside; hold steps are no chunk's rows.
        jumps = json.loads(episodes.loc[0, "chunk_jumps"])
        assert jumps["translation"] == pytest.approx(abs(0.01 * (d + 1) - 0.04) / 0.01)


def test_hold_action_follows_the_declared_rule() -> None:
    previous = np.array([0.01, 0.02, 0.03, 0.1, 0.1, 0.1, 0.7])
    assert EE_DELTA_7D.hold_action(previous).tolist() == [0, 0, 0, 0, 0, 0, 0.7]
    assert EE_DELTA_7D.hold_action(None).tolist() == [0] * 7
    undeclared = ActionSpace("joints", ("a", "b"), (-1.0, -1.0), (1.0, 1.0))
    assert undeclared.hold_action(np.array([0.3, -0.4])).tolist() == [0.3, -0.4]
    discrete = ActionSpace("d", ("left", "noop", "right"), discrete=True, hold=(1,))
    assert discrete.hold_action(np.array([2.0])).tolist() == [1]
    repeat = ActionSpace("d", ("left", "right"), discrete=True)
    assert repeat.hold_action(np.array([1.0])).tolist() == [1]
    with pytest.raises(ValueError, match="one entry per dimension"):
        ActionSpace("bad", ("a",), (0.0,), (1.0,), hold=(0.0, 0.0))


def held_per_call(steps: pd.DataFrame) -> list[int]:
    rows = steps[steps["episode"] == 0]
    return [int(n) for n in rows.groupby("chunk")["chunk_pos"].apply(lambda s: (s == -1).sum())]


def test_profile_replays_bit_identically_and_a_seed_changes_the_draws(tmp_path: Path) -> None:
    samples = [0.0, 0.05, 0.12, 0.25, 0.31]
    file = profile(tmp_path / "spread.json", samples)
    timing = f"profile:{file}"
    a = run(tmp_path / "a", "chunky", episodes=2, timing=timing).steps()
    b = run(tmp_path / "b", "chunky", episodes=2, timing=timing).steps()
    pd.testing.assert_frame_equal(a.drop(columns=list(TIMING_COLUMNS)),
                                  b.drop(columns=list(TIMING_COLUMNS)))  # fmt: skip
    other = run(tmp_path / "c", "chunky", episodes=2, timing=timing, seed=1).steps()
    assert held_per_call(other) != held_per_call(a)
    # The documented draw: sample rng.integers(n) of a generator seeded (run seed, episode
    # seed, call index); reach's episode 0 has seed 1000 and runs at 10 Hz.
    for seed, steps in ((0, a), (1, other)):
        held = held_per_call(steps)
        expected = [
            math.ceil(samples[np.random.default_rng([seed, 1000, i]).integers(5)] * 10 - 1e-9)
            for i in range(len(held))
        ]
        assert held[:-1] == expected[:-1]  # the last wait may be cut short by the step limit
        assert held[-1] <= expected[-1]


def cartpole(tmp_path: Path, name: str, timing: str = "sync") -> Any:
    return run(tmp_path / name, "scripted", task="cartpole", episodes=4, timing=timing)


def test_success_falls_as_latency_grows_and_degradation_is_tested(tmp_path: Path) -> None:
    # CartPole at 50 Hz with its one-step expert: a late push balances worse, and while the
    # chunk is in flight the cart gets no push at all (the task's declared hold).
    sync = cartpole(tmp_path, "sync")
    rates, runs = [], {}
    for ms in (0, 100, 300):
        file = profile(tmp_path / f"p{ms}.json", [ms / 1000])
        runs[ms] = cartpole(tmp_path, f"t{ms}", f"profile:{file}")
        rates.append(float(runs[ms].episodes["success"].mean()))
    assert rates == sorted(rates, reverse=True), rates
    assert rates[-1] < rates[0], rates
    assert float(sync.episodes["success"].mean()) == rates[0]

    rows = degradation(sync, runs[300])
    assert len(rows) == 1
    row = rows[0]
    a = sync.episodes.set_index("seed")["success"]
    b = runs[300].episodes.set_index("seed")["success"]
    only_sync, only_timed = int((a & ~b).sum()), int((~a & b).sum())
    assert (row["sync_only"], row["timed_only"], row["paired"]) == (only_sync, only_timed, 4)
    assert row["p_value"] == pytest.approx(
        stats.binomtest(only_sync, only_sync + only_timed, 0.5).pvalue
    )
    assert row["success_delta"] == pytest.approx(rates[-1] - rates[0])
    # 300 ms at 50 Hz: 15 held steps before every single-step chunk.
    assert row["stale_ratio"] == pytest.approx(
        runs[300].episodes["held_steps"].sum() / runs[300].episodes["steps"].sum()
    )
    with pytest.raises(TimingError, match="is a synchronous run"):
        degradation(sync, sync)


def test_mcnemar_hand_worked() -> None:
    # b = 4 sync-only, c = 0: two-sided P = 2 * (1/2)^4; b = 1, c = 4: 2 * (1 + 5) / 32.
    assert mcnemar_exact(4, 0) == pytest.approx(0.125)
    assert mcnemar_exact(1, 4) == pytest.approx(0.375)
    for b, c in ((3, 9), (0, 1), (7, 7)):
        assert mcnemar_exact(b, c) == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue)


def test_resume_refuses_another_timing(tmp_path: Path) -> None:
    run(tmp_path / "r", "chunky", episodes=1)
    with pytest.raises(RunConfigError, match="timing sync != measured"):
        run(tmp_path / "r", "chunky", episodes=1, timing="measured")
    file = profile(tmp_path / "p.json", [0.1])
    run(tmp_path / "p", "chunky", episodes=1, timing=f"profile:{file}")
    profile(file, [0.2])  # the file changed: its digest no longer matches the run's
    with pytest.raises(RunConfigError, match="sha256"):
        run(tmp_path / "p", "chunky", episodes=2, timing=f"profile:{file}")


def test_measured_timing_uses_each_call_round_trip(tmp_path: Path) -> None:
    loaded = run(tmp_path / "m", "chunky", episodes=1, timing="measured")
    steps = loaded.steps()
    # Each call's own round trip (well under 0.1 s here) sets its wait: ceil(L * 10 Hz).
    per_call = steps.groupby("chunk").agg(
        act=("act_s", "max"), held=("chunk_pos", lambda s: int((s == -1).sum()))
    )
    full = per_call.iloc[:-1]
    assert (full["held"] == np.ceil(full["act"] * 10 - 1e-9).astype(int)).all()
    assert loaded.record.settings.timing == "measured,align=now"


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_cli_profile_round_trip_and_degradation_report(tmp_path: Path) -> None:
    sync = tmp_path / "sync"
    result = invoke("run", "--policy", "chunky", "--task", "reach", "--episodes", "2",
                    "--isolate", "none", "--out", str(sync))  # fmt: skip
    assert result.exit_code == 0, result.output
    file = tmp_path / "chunky.json"
    result = invoke("latency-profile", str(sync), "-o", str(file))
    assert result.exit_code == 0, result.output
    data = json.loads(file.read_text())
    act = load_run(sync).steps()["act_s"].dropna().tolist()
    assert data["samples_s"] == act and data["calls"] == 20
    assert data["quantiles_s"]["p50"] == pytest.approx(float(np.median(act)))
    assert data["policy"]["name"] == "chunky" and data["source_run"]["path"] == str(sync)

    timed = tmp_path / "timed"
    result = invoke("run", "--policy", "chunky", "--task", "reach", "--episodes", "2",
                    "--isolate", "none", "--timing", f"profile:{file}", "--out", str(timed),
                    "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)["tasks"][0]
    assert summary["stale_ratio"] is not None and summary["effective_hz"] is not None
    episodes = load_run(timed).episodes
    assert summary["stale_ratio"] == pytest.approx(
        episodes["held_steps"].sum() / episodes["steps"].sum()
    )

    result = invoke("report", str(sync), str(timed), "--degradation", "--format", "json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert row["paired"] == 2 and row["p_value"] == 1.0  # chunky never succeeds either way

    from vla_bench_leaderboard.table import build

    board = build([load_run(sync), load_run(timed)])
    assert [c.sources[0].root for c in board.cells] == [str(sync)]  # never merged
    assert any("ran with --timing profile:" in note for note in board.notes)


def test_cli_refuses_bad_timing_and_runs_without_latency(tmp_path: Path) -> None:
    result = invoke("run", "--policy", "chunky", "--task", "reach", "--timing", "fast")
    assert result.exit_code != 0 and "is not sync, measured or profile:FILE" in result.output
    result = invoke("run", "--policy", "chunky", "--task", "reach",
                    "--timing", f"profile:{tmp_path / 'none.json'}")  # fmt: skip
    assert result.exit_code != 0 and "does not exist" in result.output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "vla-bench latency profile", "version": 1,
                               "samples_s": [0.1, -1]}))  # fmt: skip
    result = invoke("run", "--policy", "chunky", "--task", "reach", "--timing", f"profile:{bad}")
    assert result.exit_code != 0 and "finite numbers >= 0" in result.output
    # Every call returns NaN (a bad action), so the run has no timed act() call to extract.
    crashed = tmp_path / "crashed"
    run(crashed, "bad", episodes=1)
    result = invoke("latency-profile", str(crashed), "-o", str(tmp_path / "x.json"))
    assert result.exit_code != 0 and "no timed act() calls" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_profile_replay_does_not_depend_on_workers_or_the_policy_host(tmp_path: Path) -> None:
    file = profile(tmp_path / "spread.json", [0.0, 0.05, 0.12, 0.25, 0.31])
    timing = f"profile:{file}"
    tables = [
        run(tmp_path / "inline", "linear", episodes=4, timing=timing).steps(),
        run(
            tmp_path / "host",
            "linear",
            episodes=4,
            timing=timing,
            workers=2,
            isolate="process",
            placement="host",
        ).steps(),
    ]
    # chunk_info carries the host's batch size, a fact of the placement, not of the episode.
    a, b = (
        t.drop(columns=[*TIMING_COLUMNS, "chunk_info"])
        .sort_values(["episode", "step"])
        .reset_index(drop=True)
        for t in tables
    )
    assert int((a["chunk_pos"] == -1).sum()) > 0
    pd.testing.assert_frame_equal(a, b)
