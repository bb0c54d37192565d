"""Episodes per minute with the Ray executor against the local one, 1 and 2 env workers.

    uv run python benchmarks/bench_ray.py --policy random --task pick_place --episodes 12

One Ray cluster of this machine (127.0.0.1 only) is started first and timed: that is Ray's
fixed cost of a ``bench run --executor ray`` without ``--ray-address``. Then each repetition
runs the same episodes through ``harness.run.execute`` four ways (local and Ray, 1 and 2 env
workers; the order rotates so that machine noise hits all alike) into fresh run directories.
A Ray run includes starting its actors (a Python process each, importing the engine), which a
local run pays as a fork. Prints medians, episodes/min and the Ray/local ratio per worker
count, and checks that every run holds the same episodes. On a 2-core machine two workers
cannot gain more than the machine's parallel ceiling, printed beside.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # bind 127.0.0.1 only
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd  # noqa: E402
from bench_workers import machine_ceiling  # noqa: E402

from harness.contract import PolicyConfig  # noqa: E402
from harness.record import RunSettings  # noqa: E402
from harness.results import load_run  # noqa: E402
from harness.run import execute  # noqa: E402

COLUMNS = ["episode", "seed", "outcome", "steps", "episode_return", "obs_state_digest"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="random")
    parser.add_argument("--task", default="pick_place")
    parser.add_argument("--episodes", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import ray

    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    startup = time.perf_counter() - start
    ways = [("local", 1), ("local", 2), ("ray", 1), ("ray", 2)]
    times: dict[tuple[str, int], list[float]] = {way: [] for way in ways}
    reference: pd.DataFrame | None = None
    root = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    try:
        for repeat in range(args.repeats):
            shift = repeat % len(ways)
            for executor, workers in ways[shift:] + ways[:shift]:
                out = root / f"{executor}-{workers}-{repeat}"
                settings = RunSettings(episodes=args.episodes, workers=workers, executor=executor)
                began = time.perf_counter()
                execute(PolicyConfig(args.policy), args.task, settings, out, ["benchmark"])
                times[(executor, workers)].append(time.perf_counter() - began)
                episodes = load_run(out).episodes[COLUMNS].reset_index(drop=True)
                if reference is None:
                    reference = episodes
                pd.testing.assert_frame_equal(episodes, reference)
                shutil.rmtree(out)
        ceiling = machine_ceiling()
    finally:
        ray.shutdown()
        shutil.rmtree(root, ignore_errors=True)

    n = args.episodes
    print(f"{args.policy} on {args.task}, {n} episodes, {args.repeats} repetitions (medians)")
    print(f"Ray start-up (a cluster of this machine): {startup:.2f} s")
    for executor, workers in ways:
        median = statistics.median(times[(executor, workers)])
        rate = 60 * n / median
        print(f"  {executor:5} {workers} env worker(s): {median:6.2f} s  {rate:6.1f} ep/min")
    for workers in (1, 2):
        ratio = statistics.median(times[("ray", workers)]) / statistics.median(
            times[("local", workers)]
        )
        print(f"Ray / local wall time, {workers} env worker(s): {ratio:.2f}")
    for executor in ("local", "ray"):
        gain = statistics.median(times[(executor, 1)]) / statistics.median(times[(executor, 2)])
        print(f"{executor}: 2 env workers {gain:.2f}x faster than 1")
    print(f"this machine's parallel ceiling for two processes now: {ceiling:.2f}x")
    print("results identical in every run: yes")


if __name__ == "__main__":
    main()
