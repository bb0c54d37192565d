"""Fault injection: kill a `bench run` at random moments, resume it, and count what went wrong.

    uv run python benchmarks/fault_injection.py --trials 30

Each trial starts a run with two env workers (alternating a policy served by the policy host
and one copied into each worker), waits a random time, sends SIGKILL, SIGTERM or SIGINT to the
runner, checks that none of its child processes outlives it by more than 5 s, then re-runs the
same command to resume and compares the result with an uninterrupted reference run. Prints,
per signal: trials, episodes lost, episodes duplicated, results that differ from the
reference, orphaned processes, and resumes that failed. Every count should be 0.

The runs use the engine's toy task and policies (tests/toyplugin.py).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
ENV = {
    **os.environ,
    "VLA_BENCH_PLUGINS": "toyplugin",
    "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")])
    ),
    "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"),
}
POLICIES = {
    "host": ["--policy", "linear"],
    "worker": ["--policy", "random"],
}
EPISODES = 12


def command(placement: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "harness", "run", *POLICIES[placement], "--task", "reach",
            "--episodes", str(EPISODES), "--workers", "2", "--out", str(out)]  # fmt: skip


def children(pid: int) -> set[int]:
    found: set[int] = set()
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found |= {int(c) for c in (task / "children").read_text().split()}
    except OSError:
        return found
    for child in list(found):
        found |= children(child)
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def episodes(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "episodes.parquet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="vla-bench-faults-"))
    counts: dict[str, Counter[str]] = {}
    try:
        reference = {}
        for placement in POLICIES:
            subprocess.run(command(placement, root / f"ref-{placement}"), env=ENV, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            reference[placement] = episodes(root / f"ref-{placement}")
        for trial in range(args.trials):
            placement = list(POLICIES)[trial % 2]
            how = ("SIGKILL", "SIGTERM", "SIGINT")[trial % 3]
            count = counts.setdefault(how, Counter())
            count["trials"] += 1
            out = root / f"t{trial}"
            quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
            proc = subprocess.Popen(command(placement, out), env=ENV, **quiet)
            time.sleep(rng.uniform(0.3, 3.0))
            family = children(proc.pid)
            proc.send_signal(getattr(signal, how))
            proc.wait(timeout=120)
            deadline = time.monotonic() + 5
            while any(alive(c) for c in family) and time.monotonic() < deadline:
                time.sleep(0.05)
            count["orphaned"] += sum(alive(c) for c in family)
            resumed = subprocess.run(command(placement, out), env=ENV, **quiet)
            if resumed.returncode != 0:
                count["resume failed"] += 1
                continue
            got = episodes(out)
            count["lost"] += EPISODES - got["episode"].nunique()
            count["duplicated"] += int(got["episode"].duplicated().sum())
            cols = ["episode", "outcome", "steps", "episode_return"]
            merged = got[cols].merge(
                reference[placement][cols], on="episode", suffixes=("", "_ref")
            )
            count["differ"] += int(
                (merged["outcome"] != merged["outcome_ref"]).sum()
                + (merged["steps"] != merged["steps_ref"]).sum()
                + (merged["episode_return"] != merged["episode_return_ref"]).sum()
            )
            steps = pd.read_parquet(out / "steps.parquet")
            count["duplicated"] += int(steps.duplicated(["task", "episode", "step"]).sum())
    finally:
        shutil.rmtree(root, ignore_errors=True)
    keys = ["trials", "lost", "duplicated", "differ", "orphaned", "resume failed"]
    print(f"{'signal':<9}" + "".join(f"{k:>15}" for k in keys))
    for how, count in counts.items():
        print(f"{how:<9}" + "".join(f"{count[k]:>15}" for k in keys))


if __name__ == "__main__":
    main()
