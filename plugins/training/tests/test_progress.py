"""Progress of long commands when piped: phases, then a counter's lines with elapsed time and
an ETA, at most one per interval and always the last."""

from __future__ import annotations

import io

from vla_bench_training.progress import Progress, format_seconds


def test_piped_progress_is_rate_limited_lines_with_an_eta() -> None:
    now = [100.0]
    out = io.StringIO()
    progress = Progress(out, live=False, interval_s=10.0, clock=lambda: now[0])
    progress.phase("loading the dataset")
    with progress.counter("step", 100) as counter:
        for step in range(1, 101):
            now[0] += 0.5  # half a second a step
            counter.update(step, f"loss {1 / step:.2f}")
    lines = out.getvalue().splitlines()
    assert lines[0] == "loading the dataset ..."
    # one line per 10 s of work (20 steps) and the last: 5 in all, not 100
    assert len(lines) == 1 + 5
    assert lines[1] == "step 20/100 loss 0.05 (10 s elapsed, ETA 40 s)"
    assert lines[-1] == "step 100/100 loss 0.01 (50 s elapsed)"


def test_durations_read_as_a_person_says_them() -> None:
    assert [format_seconds(s) for s in (4.2, 185, 7620)] == ["4 s", "3 min 05 s", "2 h 07 min"]


def test_a_terminal_gets_a_bar() -> None:
    out = io.StringIO()
    progress = Progress(out, live=True)
    with progress.counter("episode", 3) as counter:
        for done in range(1, 4):
            counter.update(done, "ok")
    assert "episode" in out.getvalue() and "3/3" in out.getvalue()
