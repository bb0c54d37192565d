"""Loopback round trip of one LIBERO-style request: our server and client against openpi's own.

The request is what openpi's LIBERO example sends: two 224x224x3 uint8 images, an 8-d state
and a prompt; the policy is a dummy answering a 10x7 zero chunk, so the figure is the protocol
(encode, WebSocket over 127.0.0.1, decode, the server's own work) and nothing else. Server and
client are separate processes, as in use; our server batches (``max_batch`` 8, 5 ms), as
``bench serve --max-batch 8`` would, so a lone client's requests must skip the batching wait.
Besides wall-clock percentiles it prints each server's CPU time per request (read from
/proc), a figure that a busy shared machine disturbs far less. Our server runs on the event
loop ``bench serve`` uses (uvloop where installed); ``--asyncio-too`` adds it on asyncio's own
loop, as openpi's server runs. openpi's reference on this kind
of machine: p50 0.32 ms with a dummy policy.

    python plugins/openpi/benchmarks/bench_roundtrip.py [--requests 500] [--rounds 5]

With openpi-client installed in a throwaway numpy<2 venv (0.1.2 imports typing_extensions
without declaring it), the same run measures openpi's own
server (its source file, unchanged) and client too, every server with every client::

    python3.12 -m venv /tmp/openpi-venv
    /tmp/openpi-venv/bin/pip install openpi-client==0.1.2 "numpy<2" typing_extensions
    git -C <openpi checkout> show HEAD:src/openpi/serving/websocket_policy_server.py \\
        > /tmp/openpi_websocket_policy_server.py
    python plugins/openpi/benchmarks/bench_roundtrip.py \\
        --openpi-python /tmp/openpi-venv/bin/python \\
        --openpi-server /tmp/openpi_websocket_policy_server.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
REFERENCE_P50_MS = 0.32
WARMUP = 100  # requests before the timed ones


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def request() -> dict[str, Any]:
    """openpi's LIBERO example request (random pixels, fixed seed)."""
    import numpy as np

    rng = np.random.default_rng(0)
    return {
        "observation/image": rng.integers(0, 256, (224, 224, 3), dtype=np.uint8),
        "observation/wrist_image": rng.integers(0, 256, (224, 224, 3), dtype=np.uint8),
        "observation/state": rng.normal(size=8).astype(np.float32),
        "prompt": "put both the alphabet soup and the tomato sauce in the basket",
    }


# -- roles, each run in its own process --------------------------------------------------------
def serve_ours(loop: str) -> None:
    """``bench serve``'s server and host around a dummy policy (run by this workspace), on
    the event loop ``bench serve`` runs (uvloop where installed), or on asyncio's own."""
    import asyncio

    import numpy as np
    from vla_bench_openpi.server import PolicyServer, ServerSettings, run_event_loop

    from harness.contract import EE_DELTA_7D, ActionChunk, PolicyBase, PolicyConfig, TaskSpec
    from harness.host import PolicyHost

    class Dummy(PolicyBase):
        def fork(self) -> Dummy:
            return self

        def act(self, observation: Any) -> ActionChunk:
            return ActionChunk(np.zeros((10, 7)))

    task = TaskSpec(
        "libero_like", "1", "bench", "do something", 20.0, 300, EE_DELTA_7D,
        tuple(f"s{i}" for i in range(8)), {"agentview": (224, 224), "wrist": (224, 224)},
    )  # fmt: skip
    policy = Dummy(PolicyConfig("dummy"))
    host = PolicyHost(policy, max_batch=8, max_wait_s=0.005)
    server = PolicyServer("dummy", policy, host, ServerSettings(port=0), task=task)
    run = asyncio.run if loop == "asyncio" else run_event_loop
    run(server.run(lambda port: print(f"serving on {port}", flush=True)))


def serve_openpi(server_file: str) -> None:
    """openpi's ``WebsocketPolicyServer`` (its file, unchanged) around a dummy policy."""
    import importlib.util
    import socket

    import numpy as np

    spec = importlib.util.spec_from_file_location("openpi_server", server_file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    class Dummy:
        def infer(self, obs: dict[str, Any]) -> dict[str, Any]:
            return {"actions": np.zeros((10, 7)), "policy_timing": {"infer_ms": 0.0}}

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    print(f"serving on {port}", flush=True)
    module.WebsocketPolicyServer(Dummy(), host="127.0.0.1", port=port).serve_forever()


def client(kind: str, url: str, n: int) -> None:
    """Time ``n`` requests (after the warm-up ones); print their round trips (ms) as JSON."""
    import numpy as np

    obs = request()
    if kind == "openpi":
        from openpi_client.websocket_client_policy import WebsocketClientPolicy

        policy = WebsocketClientPolicy(url)
        infer = policy.infer
    else:
        from vla_bench_openpi.connection import Connection, Endpoint

        connection = Connection(Endpoint(url))
        connection.open()
        infer = connection.request
    for _ in range(WARMUP):
        infer(obs)
    times = np.empty(n)
    for i in range(n):
        start = time.perf_counter()
        infer(obs)
        times[i] = time.perf_counter() - start
    print(json.dumps((times * 1e3).tolist()))


# -- the orchestration ---------------------------------------------------------------------------
def start(command: list[str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("serving on"):
        process.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return process, f"ws://127.0.0.1:{line.split()[-1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="per pair and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--openpi-python", help="python of a venv with openpi-client 0.1.2")
    parser.add_argument("--openpi-server", help="openpi's websocket_policy_server.py")
    parser.add_argument(
        "--asyncio-too",
        action="store_true",
        help="also measure our server on asyncio's own event loop (as before uvloop)",
    )
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role in ("serve-ours", "serve-ours-asyncio"):
        return serve_ours("asyncio" if args.role.endswith("asyncio") else "default")
    if args.role == "serve-openpi":
        return serve_openpi(args.openpi_server)
    if args.role in ("client-ours", "client-openpi"):
        return client(args.role.split("-")[1], args.url, args.requests)

    me = [str(HERE)]
    servers = {"ours (bench serve)": [sys.executable, *me, "--role", "serve-ours"]}
    if args.asyncio_too:
        servers["ours, asyncio loop"] = [sys.executable, *me, "--role", "serve-ours-asyncio"]
    clients = {"ours": [sys.executable, *me, "--role", "client-ours"]}
    if args.openpi_python and args.openpi_server:
        servers["openpi 15a9616"] = [
            args.openpi_python, *me, "--role", "serve-openpi", "--openpi-server", args.openpi_server
        ]  # fmt: skip
        clients["openpi-client 0.1.2"] = [args.openpi_python, *me, "--role", "client-openpi"]
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs; "
          f"{args.rounds} rounds x {args.requests} requests of 2x224x224x3 uint8 + 8-d state + "
          "prompt per pair, pairs interleaved")  # fmt: skip
    started = {name: start(command) for name, command in servers.items()}
    samples: dict[tuple[str, str], list[float]] = {}
    round_p50: dict[tuple[str, str], list[float]] = {}
    server_cpu: dict[tuple[str, str], list[float]] = {}
    try:
        # Rounds interleave the pairs so that a change in the machine's load hits all alike.
        for _ in range(args.rounds):
            for server_name, (process, url) in started.items():
                for client_name, client_cmd in clients.items():
                    cpu = cpu_seconds(process.pid)
                    out = subprocess.run(
                        [*client_cmd, "--url", url, "--requests", str(args.requests)],
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    per_request = (cpu_seconds(process.pid) - cpu) / (args.requests + WARMUP)
                    times = json.loads(out.stdout.strip().splitlines()[-1])
                    samples.setdefault((server_name, client_name), []).extend(times)
                    round_p50.setdefault((server_name, client_name), []).append(
                        float(statistics.median(times))
                    )
                    server_cpu.setdefault((server_name, client_name), []).append(per_request)
    finally:
        for process, _ in started.values():
            process.terminate()
            process.wait(10)
    import numpy as np

    print(
        f"{'server':<22} {'client':<22} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8} "
        f"{'server CPU ms':>14}"
    )
    for (server_name, client_name), times in samples.items():
        ms = np.asarray(times)
        cpu_ms = np.median(server_cpu[server_name, client_name]) * 1e3
        print(
            f"{server_name:<22} {client_name:<22} {np.percentile(ms, 50):>8.3f} "
            f"{np.percentile(ms, 95):>8.3f} {ms.mean():>8.3f} {cpu_ms:>14.3f}"
        )
    theirs = list(servers)[-1]
    # Each round measured the servers back to back with the same client: the ratio of their
    # p50s within a round is immune to the machine's drift between rounds.
    for ours in list(servers)[:-1] if theirs.startswith("openpi") else []:
        for client_name in clients:
            ratios = [
                a / b
                for a, b in zip(
                    round_p50[ours, client_name], round_p50[theirs, client_name], strict=True
                )
            ]
            print(
                f"client {client_name}: p50 {ours} / {theirs}, median over {len(ratios)} "
                f"rounds {statistics.median(ratios):.3f} (rounds faster: "
                f"{sum(r < 1 for r in ratios)} of {len(ratios)})"
            )
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"openpi's reference (dummy policy, this kind of machine): p50 {REFERENCE_P50_MS} ms")


if __name__ == "__main__":
    main()
