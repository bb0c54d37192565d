"""Observations per second through ``bench serve`` with 1, 4 and 8 concurrent clients, max
batch 1 vs 8, serving a tiny ACT (LeRobot 0.6.1, randomly initialised) on CPU.

    python plugins/openpi/benchmarks/bench_batching.py [--seconds 4] [--rounds 3] [--image 96]

A tiny ACT checkpoint (LeRobot's ACT with ResNet18 backbone, a 1-layer 32-wide transformer,
chunk 10) is built for the manipulation suite's valve task at ``--image`` pixels and saved.
Clients are threads of this process, each with its own connection (the ``openpi`` client's
connection class), sending valve-shaped observations after a vla_bench/reset, as many
requests as the server answers in ``--seconds`` (after a warm-up); the cells are interleaved
over ``--rounds`` rounds and the median is printed. ``bench serve --policy act`` at max batch 1
and 8: every client is a ``fork()`` session of the one loaded model, and at max batch 8 the
host answers the clients waiting together with one ``act_batch`` (one ``predict_action_chunk``
on the stacked batch).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

# The LeRobot plugin's tests' tiny ACT (ResNet18 backbone, 1-layer 32-wide transformer).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lerobot" / "tests"))
from lerobot_kit import TINY

TINY_ACT = TINY["act"]


def task(image: int) -> Any:
    """The valve task's spec at ``image`` pixels."""
    from harness.plugins import registry

    return registry().build_task("valve", {"image_size": str(image)}).spec


def build_checkpoint(image: int, directory: Path) -> Path:
    """A tiny random ACT for ``task(image)``, saved as a LeRobot checkpoint."""
    import torch
    from vla_bench_lerobot.backends import BACKENDS
    from vla_bench_lerobot.loading import build_random, save_checkpoint

    torch.manual_seed(0)
    built = build_random(BACKENDS["act"], task(image), "cpu", None, overrides=TINY_ACT)
    return save_checkpoint(built, directory)


def observation(spec: Any, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "images": {
            c: rng.integers(0, 256, (*hw, 3), dtype=np.uint8) for c, hw in spec.cameras.items()
        },
        "state": rng.normal(size=len(spec.state_fields)).astype(np.float32),
        "instruction": spec.instruction,
    }


def throughput(url: str, spec: Any, clients: int, seconds: float) -> tuple[float, float]:
    """Observations answered per second by ``clients`` concurrent clients, and mean latency."""
    from vla_bench_openpi import extension
    from vla_bench_openpi.connection import Connection, Endpoint

    from harness.contract import EpisodeSpec

    counts = [0] * clients
    latency = [0.0] * clients
    go, stop = threading.Barrier(clients + 1), threading.Event()

    def client(i: int) -> None:
        connection = Connection(Endpoint(url, connect_window_s=60, timeout_s=120))
        connection.request(extension.reset_request(spec, EpisodeSpec(i, i)))
        obs = observation(spec, i)
        for _ in range(3):  # warm-up (a copy's first call, thread pools)
            connection.request(obs)
        go.wait()
        while not stop.is_set():
            start = time.perf_counter()
            connection.request(obs)
            latency[i] += time.perf_counter() - start
            counts[i] += 1
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    go.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    total = sum(counts)
    return total / elapsed, sum(latency) / max(total, 1)


def start(command: list[str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("serving"):
        process.kill()
        raise SystemExit(f"server did not start: {line!r}")
    port = re.search(r"ws://\S+:(\d+)", line)
    assert port is not None, line
    return process, f"ws://127.0.0.1:{port.group(1)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--image", type=int, default=96)
    parser.add_argument("--clients", default="1,4,8")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    spec = task(args.image)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = str(build_checkpoint(args.image, Path(tmp) / "act"))
        bench = str(Path(sys.executable).with_name("bench"))
        servers: dict[tuple[str, int], list[str]] = {}
        for max_batch in (1, 8):
            servers["act", max_batch] = [
                bench, "serve", "--policy", "act", "--policy-args", f"checkpoint={checkpoint}",
                "--task", "valve", "--task-args", f"image_size={args.image}", "--port", "0",
                "--max-batch", str(max_batch),
            ]  # fmt: skip
        started = {key: start(command) for key, command in servers.items()}
        rates: dict[tuple[str, int, int], list[float]] = collections.defaultdict(list)
        latencies: dict[tuple[str, int, int], list[float]] = collections.defaultdict(list)
        load = os.getloadavg()
        try:
            # Rounds interleave the cells so that a change in the machine's load hits all alike.
            for _ in range(args.rounds):
                for (name, max_batch), (_, url) in started.items():
                    for clients in map(int, args.clients.split(",")):
                        rate, mean = throughput(url, spec, clients, args.seconds)
                        rates[name, max_batch, clients].append(rate)
                        latencies[name, max_batch, clients].append(mean)
        finally:
            for process, _ in started.values():
                process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(20)
        after = os.getloadavg()
        print(
            f"load average before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, after "
            f"{after[0]:.2f} {after[1]:.2f} {after[2]:.2f}; {os.cpu_count()} CPUs; tiny ACT, "
            f"valve at {args.image}x{args.image}; median of {args.rounds} rounds x "
            f"{args.seconds:g} s per cell"
        )
        print(f"{'server':<10} {'max batch':>9} {'clients':>7} {'obs/s':>8} {'latency ms':>11}")
        for (name, max_batch, clients), values in sorted(rates.items()):
            latency = float(np.median(latencies[name, max_batch, clients])) * 1e3
            row = f"{name:<10} {max_batch:>9} {clients:>7} {float(np.median(values)):>8.1f}"
            print(f"{row} {latency:>11.1f}")


if __name__ == "__main__":
    main()
