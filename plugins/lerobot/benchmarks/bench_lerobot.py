"""Latency and memory of each LeRobot backend at full size with random weights.

    python plugins/lerobot/benchmarks/bench_lerobot.py                  # all, CPU
    python plugins/lerobot/benchmarks/bench_lerobot.py --device cuda --iters 20
    python plugins/lerobot/benchmarks/bench_lerobot.py --backends smolvla,act --json

Each backend runs in its own process (one after the other, so peak RSS is its own) through
the plugin's real path: ``weights=random`` builds LeRobot 0.6.1's architecture at full size
for a task shaped like the manipulation suite (front + wrist cameras 224x224, 8-value state,
ee_delta_7d actions), then ``reset`` and ``act`` as the runner calls them.

Printed per backend: parameters; precision; chunk length T and executed steps k; peak memory
(process RSS on CPU, ``torch.cuda.max_memory_allocated`` on CUDA); p50/p95 of one chunk
(``act``: preprocess + ``predict_action_chunk`` + postprocess) and of the model call alone;
p50/p95 of one step, i.e. a chunk's latency amortised over the k actions executed from it.
π0-FAST with random weights never emits its end-of-action token, so it always decodes
``--fast-tokens`` tokens (real checkpoints stop after ~30-60 for a one-second chunk).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np

BACKENDS = ("smolvla", "diffusion", "act", "pi0fast", "pi0", "pi05")
PI_FAMILY = {"pi0", "pi05", "pi0fast"}


def task_spec() -> Any:
    """The registered ``valve`` task's spec when the manipulation suite is installed, else a
    spec of the same shape."""
    from harness.contract import EE_DELTA_7D, TaskSpec
    from harness.plugins import registry

    with_valve = "valve" in registry().names("task")
    if with_valve:
        return registry().get("task", "valve").load()().spec
    return TaskSpec(
        name="valve-shaped",
        version="bench",
        suite="manipulation",
        instruction="turn the valve clockwise by ninety degrees",
        control_hz=10.0,
        max_steps=200,
        action_space=EE_DELTA_7D,
        state_fields=("ee_x", "ee_y", "ee_z", "ee_qw", "ee_qx", "ee_qy", "ee_qz", "gripper"),
        cameras={"front": (224, 224), "wrist": (224, 224)},
        has_ee_pose=True,
    )


def measure(backend: str, device: str, dtype: str | None, iters: int, fast_tokens: int) -> dict:
    """Build one backend, warm it up once, time ``iters`` act() calls."""
    import torch
    from vla_bench_lerobot.backends import BACKENDS as SPECS
    from vla_bench_lerobot.policy import LeRobotPolicy

    from harness.contract import EpisodeSpec, PolicyConfig

    if backend == "pi0fast":
        SPECS[backend].random_config["max_decoding_steps"] = fast_tokens  # type: ignore[index]
    task = task_spec()
    config = PolicyConfig(name=backend, device=device, dtype=dtype, options={"weights": "random"})
    started = time.perf_counter()
    policy = LeRobotPolicy(config)
    policy.reset(task, EpisodeSpec(0, 0), None)
    build_s = time.perf_counter() - started
    rng = np.random.default_rng(0)

    def observation() -> dict[str, Any]:
        return {
            "images": {
                c: rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                for c, (h, w) in task.cameras.items()
            },
            "state": rng.normal(size=len(task.state_fields)).astype(np.float32),
            "instruction": task.instruction,
        }

    t0 = time.perf_counter()
    first = policy.act(observation())
    cold_s = time.perf_counter() - t0
    chunk_s, model_s = [], []
    for _ in range(iters):
        obs = observation()
        t0 = time.perf_counter()
        chunk = policy.act(obs)
        chunk_s.append(time.perf_counter() - t0)
        model_s.append(chunk.model_time_s or float("nan"))
    described = policy.describe()
    k = policy.n_action_steps or len(first.actions)
    cuda = device.startswith("cuda")
    return {
        "backend": backend,
        "device": device,
        "device_name": torch.cuda.get_device_name(device) if cuda else _cpu_name(),
        "threads": torch.get_num_threads(),
        "dtype": dtype or "float32",
        "parameters": described.get("parameters"),
        "chunk_len": len(first.actions),
        "n_action_steps": k,
        "build_s": build_s,
        "cold_s": cold_s,
        "iters": iters,
        "chunk_p50_s": float(np.percentile(chunk_s, 50)),
        "chunk_p95_s": float(np.percentile(chunk_s, 95)),
        "model_p50_s": float(np.nanpercentile(model_s, 50)),
        "step_p50_s": float(np.percentile(chunk_s, 50)) / k,
        "step_p95_s": float(np.percentile(chunk_s, 95)) / k,
        "peak_bytes": (
            int(torch.cuda.max_memory_allocated(device))
            if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        ),
        "peak_kind": "cuda max allocated" if cuda else "process max RSS",
        "fast_tokens": fast_tokens if backend == "pi0fast" else None,
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "cpu"


def _table(rows: list[dict]) -> str:
    head = (
        f"{'backend':<10}{'params':>8}{'dtype':>10}{'T/k':>8}{'peak':>9}"
        f"{'chunk p50':>11}{'p95':>9}{'model p50':>11}{'step p50':>10}{'p95':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['backend']:<10}  failed: {r['error']}")
            continue
        lines.append(
            f"{r['backend']:<10}{r['parameters'] / 1e6:>7.0f}M{r['dtype']:>10}"
            f"{str(r['chunk_len']) + '/' + str(r['n_action_steps']):>8}"
            f"{r['peak_bytes'] / 2**30:>7.1f}Gi"
            f"{r['chunk_p50_s'] * 1e3:>9.0f}ms{r['chunk_p95_s'] * 1e3:>7.0f}ms"
            f"{r['model_p50_s'] * 1e3:>9.0f}ms"
            f"{r['step_p50_s'] * 1e3:>8.1f}ms{r['step_p95_s'] * 1e3:>7.1f}ms"
        )
    return "\n".join(lines)


def main() -> None:
    """Run each backend in a child process and print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--dtype",
        default=None,
        help="float32 or bfloat16 for the π family (default: bfloat16 on CPU to halve memory, "
        "float32 elsewhere); the others always run float32",
    )
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--fast-tokens", type=int, default=64)
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per backend")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        result = measure(args.child, args.device, args.dtype, args.iters, args.fast_tokens)
        print("RESULT " + json.dumps(result), flush=True)
        return

    rows = []
    for backend in filter(None, args.backends.split(",")):
        dtype = args.dtype
        if backend in PI_FAMILY and dtype is None:
            dtype = "bfloat16" if args.device == "cpu" else "float32"
        if backend not in PI_FAMILY:
            dtype = None
        command = [
            sys.executable,
            __file__,
            "--child",
            backend,
            "--device",
            args.device,
            "--iters",
            str(args.iters),
            "--fast-tokens",
            str(args.fast_tokens),
        ]
        if dtype:
            command += ["--dtype", dtype]
        print(f"... {backend} on {args.device}", file=sys.stderr, flush=True)
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=args.timeout,
                env={**os.environ, "HF_HUB_OFFLINE": "1"},
            )
            lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
            if lines:
                rows.append(json.loads(lines[-1].removeprefix("RESULT ")))
            else:
                tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
                rows.append({"backend": backend, "error": f"exit {done.returncode}: {tail}"})
        except subprocess.TimeoutExpired:
            rows.append({"backend": backend, "error": f"timed out after {args.timeout}s"})
        if not args.json:
            print(_table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    first = next((r for r in rows if "error" not in r), None)
    if first:
        print(
            f"device: {first['device_name']} ({first['device']}, {first['threads']} threads); "
            f"random weights, batch 1, {first['iters']} timed calls after 1 warm-up"
        )
    print(_table(rows))


if __name__ == "__main__":
    main()
