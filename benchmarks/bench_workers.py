"""`bench run --workers 1` versus `--workers 2`: wall time and CPU time of the whole command.

    uv run python benchmarks/bench_workers.py --policy random --task pick_place --episodes 12

Each repetition runs both commands (alternating which goes first, so machine noise hits both
alike) in fresh processes, as a user does; prints the medians, the speed-up and the CPU
seconds each spent (the process and its children). It also times the run itself
(``harness.run.execute`` in a new process after its imports, workers forked from it as
``bench run`` does): the whole command adds a fixed, serial start-up (Python imports, the
plan) and summary that workers cannot share. Target on this 2-core
machine: >= 1.7x. Results must be identical: the script checks the two runs' episodes match.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def one(args: argparse.Namespace, workers: int, out: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one ``bench run`` into ``out``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "harness", "run", "--policy", args.policy, "--task", args.task,
         "--episodes", str(args.episodes), "--workers", str(workers), "--out", str(out)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")},
    )  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def in_process(args: argparse.Namespace, workers: int, out: Path) -> float:
    """Seconds of ``execute`` alone (the run: plan, workers, episodes, commit), timed in a new
    process after its imports, as ``bench run`` runs it: workers forked from that process
    (``fresh_process``), not from the fork server a long-lived caller (a notebook) gets."""
    done = subprocess.run(
        [sys.executable, __file__, "--policy", args.policy, "--task", args.task,
         "--episodes", str(args.episodes), "--time-run", str(workers), str(out)],
        check=True, capture_output=True, text=True,
        env={**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")},
    )  # fmt: skip
    return float(done.stdout.split()[-1])


def time_run(args: argparse.Namespace, workers: int, out: Path) -> None:
    """In the child: import what ``bench run`` imports, then time ``execute`` alone."""
    from harness.contract import PolicyConfig
    from harness.record import RunSettings
    from harness.run import execute

    start = time.perf_counter()
    settings = RunSettings(episodes=args.episodes, workers=workers)
    execute(PolicyConfig(args.policy), args.task, settings, out, ["benchmark"], fresh_process=True)
    print(time.perf_counter() - start)


BURN = "x = 0\nfor i in range(20_000_000):\n    x += i\n"


def machine_ceiling() -> float:
    """How much faster two CPU-bound processes finish than one after the other, on this machine
    now: the most any two-worker run can gain here (2.0 on two free cores)."""

    def timed(n: int) -> float:
        start = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(n)]
        for proc in procs:
            proc.wait()
        return time.perf_counter() - start

    one, two = timed(1), timed(2)
    return 2 * one / two


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="random")
    parser.add_argument("--task", default="pick_place")
    parser.add_argument("--episodes", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--time-run", nargs=2, help=argparse.SUPPRESS)  # WORKERS OUT (a child)
    args = parser.parse_args()
    if args.time_run:
        time_run(args, int(args.time_run[0]), Path(args.time_run[1]))
        return
    ceiling = machine_ceiling()
    root = Path(tempfile.mkdtemp(prefix="vla-bench-workers-"))
    walls: dict[int, list[float]] = {1: [], 2: []}
    cpus: dict[int, list[float]] = {1: [], 2: []}
    runs: dict[int, list[float]] = {1: [], 2: []}
    try:
        one(args, 1, root / "warm")  # page cache, compiled shaders
        for rep in range(args.repeats):
            for workers in (1, 2) if rep % 2 == 0 else (2, 1):
                wall, cpu = one(args, workers, root / f"w{workers}-{rep}")
                walls[workers].append(wall)
                cpus[workers].append(cpu)
                runs[workers].append(in_process(args, workers, root / f"i{workers}-{rep}"))
        columns = ["episode", "seed", "outcome", "steps", "episode_return"]
        a = pd.read_parquet(root / "w1-0" / "episodes.parquet")[columns]
        b = pd.read_parquet(root / "w2-0" / "episodes.parquet")[columns]
        pd.testing.assert_frame_equal(a.sort_values("episode"), b.sort_values("episode"))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    w1, w2 = statistics.median(walls[1]), statistics.median(walls[2])
    print(
        f"policy={args.policy} task={args.task} episodes={args.episodes} "
        f"repeats={args.repeats} cpus={os.cpu_count()} load={os.getloadavg()[0]:.2f}"
    )
    for workers in (1, 2):
        print(
            f"--workers {workers}: wall median {statistics.median(walls[workers]):.2f} s "
            f"(all {', '.join(f'{x:.2f}' for x in walls[workers])}), "
            f"CPU median {statistics.median(cpus[workers]):.2f} s"
        )
    print(f"speed-up with 2 workers, whole command (medians): {w1 / w2:.2f}x   target >= 1.7x")
    print(
        f"this machine's ceiling now (two CPU-bound processes vs one after the other): "
        f"{ceiling:.2f}x"
    )
    r1, r2 = statistics.median(runs[1]), statistics.median(runs[2])
    print(
        f"the run itself (execute, imports done): {r1:.2f} s vs {r2:.2f} s, speed-up {r1 / r2:.2f}x"
    )
    print(
        f"the rest of the command (start-up, imports, summary; serial): "
        f"{w1 - r1:.2f} s with 1 worker, {w2 - r2:.2f} s with 2"
    )
    print("results identical: yes")


if __name__ == "__main__":
    main()
