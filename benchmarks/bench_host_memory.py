"""Peak memory of ``bench run --workers N`` with one shared policy host vs a model per worker.

Runs the same command twice, ``--placement host`` (env workers send observations to one process
holding one model) and ``--placement worker`` (each worker loads its own copy), and samples the
whole process tree's proportional set size (PSS: shared pages split between the processes that
map them, so forked workers' shared memory is not counted twice) every 0.2 s. Prints the peak
PSS of each, their ratio and the model copies each placement held (from ``describe()``).

    .venv/bin/python benchmarks/bench_host_memory.py [--policy smolvla] [--workers 4]
        [--task valve] [--episodes 4]

The default is SmolVLA at full size with random weights (``weights=random``: no hub download),
so a copy is ~0.45 B parameters; the figures are memory, not success.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def pss_bytes(pid: int) -> int:
    """Proportional set size of one process (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def peak_pss(command: list[str]) -> tuple[int, float, subprocess.CompletedProcess[str]]:
    """Run ``command``; the peak PSS of its process tree and its wall time."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], sum(pss_bytes(p) for p in tree(process.pid)))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample)
    start = time.perf_counter()
    sampler.start()
    output, _ = process.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - start
    return peak[0], wall, subprocess.CompletedProcess(command, process.returncode, output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="smolvla")
    parser.add_argument("--policy-args", default="weights=random")
    parser.add_argument("--task", default="valve")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--episodes", type=int, default=4)
    args = parser.parse_args()
    bench = str(Path(sys.executable).with_name("bench"))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for placement in ("host", "worker"):
            out = Path(tmp) / placement
            command = [
                bench, "run", "--policy", args.policy, "--policy-args", args.policy_args,
                "--task", args.task, "--episodes", str(args.episodes),
                "--workers", str(args.workers), "--placement", placement, "--out", str(out),
            ]  # fmt: skip
            peak, wall, done = peak_pss(command)
            if done.returncode != 0:
                sys.exit(f"{placement}: bench run failed ({done.returncode}):\n{done.stdout}")
            record = json.loads((out / "run.json").read_text())
            parameters = record["policy"]["describe"].get("parameters")
            results[placement] = (peak, wall, parameters)
            print(
                f"--placement {placement:<6} peak PSS {peak / 2**30:6.2f} GiB  wall {wall:6.1f} s"
                f"  ({parameters} parameters per model copy)",
                flush=True,
            )
    host, worker = results["host"][0], results["worker"][0]
    print(
        f"{args.policy} {args.policy_args}, {args.task}, {args.episodes} episodes, "
        f"--workers {args.workers}: one host uses {host / worker:.2f}x the memory of a copy per "
        f"worker ({(worker - host) / 2**30:.2f} GiB saved)"
    )


if __name__ == "__main__":
    main()
