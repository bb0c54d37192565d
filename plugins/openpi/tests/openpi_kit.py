"""Helpers for the openpi tests: free ports, servers in processes or threads, a task spec."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = str(Path(sys.executable).with_name("bench"))
SERVER_LIFETIME_S = 120  # a server a crashed test leaves behind stops after this


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServeProcess:
    """A running ``bench serve``; its stderr (the server log) goes to ``log``."""

    process: subprocess.Popen[str]
    port: int
    log: Path

    @property
    def url(self) -> str:
        """Its WebSocket address."""
        return f"ws://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """Kill it at once (no goodbye to clients)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """Ask it to stop (SIGTERM) and wait."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.contextmanager
def thread_server(policy: Any, name: str = "toy", **settings: Any) -> Iterator[tuple[Any, str]]:
    """The server of ``bench serve`` in a thread (for protocol tests that need no process);
    yields the server and its URL."""
    from vla_bench_openpi.server import PolicyServer, ServerSettings

    from harness.host import CopiesHost, PolicyHost

    max_batch = settings.pop("max_batch", 1)
    max_wait_s = settings.pop("max_wait_s", 0.0)
    task = settings.pop("task", None)
    host: Any = (
        PolicyHost(policy, max_batch=max_batch, max_wait_s=max_wait_s)
        if hasattr(policy, "fork")
        else CopiesHost(policy, lambda: type(policy)(policy.config))
    )
    server = PolicyServer(name, policy, host, ServerSettings(port=0, **settings), task=task)
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    port: list[int] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.run(lambda p: (port.append(p), ready.set()), stop))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10), "server did not start"
    try:
        yield server, f"ws://127.0.0.1:{port[0]}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        host.close()
        loop.close()


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll ``predicate`` until it holds (or fail after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def make_task(size: int = 32, name: str = "valve") -> Any:
    """A manipulation-shaped task spec: front and wrist cameras, 8-d state, ee_delta_7d."""
    from harness.contract import EE_DELTA_7D, TaskSpec

    return TaskSpec(
        name=name,
        version="test",
        suite="test",
        instruction="turn the valve",
        control_hz=10.0,
        max_steps=20,
        action_space=EE_DELTA_7D,
        state_fields=tuple(f"s{i}" for i in range(8)),
        cameras={"front": (size, size), "wrist": (size, size)},
        has_ee_pose=True,
    )


def make_observation(seed: int, size: int = 32) -> dict[str, Any]:
    """A deterministic observation for ``make_task(size)``, different per seed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return {
        "images": {
            c: rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for c in ("front", "wrist")
        },
        "state": rng.normal(size=8).astype(np.float32),
        "instruction": f"turn the valve {seed}",
    }


def toy(**options: str) -> Any:
    """The toy policy (tests/openpi_toy.py) built directly."""
    from openpi_toy import ToyPolicy

    from harness.contract import PolicyConfig

    return ToyPolicy(PolicyConfig("toy", options=options))


@contextlib.contextmanager
def openpi_style_server(
    reply: Callable[[dict[str, Any]], Any], port: int = 0, metadata: Any = None
) -> Iterator[tuple[list[Any], str]]:
    """A loopback stand-in for openpi's ``WebsocketPolicyServer``, as its source behaves.

    One metadata frame on connect, then ``reply(observation)`` for each request, with
    ``server_timing.infer_ms`` added (``prev_total_ms`` from the second on); an exception becomes
    a traceback text frame and close 1011. Yields the list of requests it received and its URL.
    """
    import traceback

    from vla_bench_openpi import codec
    from websockets.asyncio.server import serve

    received: list[Any] = []

    async def handler(ws: Any) -> None:
        await ws.send(codec.pack(metadata if metadata is not None else {}))
        prev = None
        async for frame in ws:
            start = time.monotonic()
            try:
                obs = codec.unpack(frame)
                received.append(obs)
                action = dict(reply(obs))
                action["server_timing"] = {"infer_ms": 13.0}
                if prev is not None:
                    action["server_timing"]["prev_total_ms"] = prev
                await ws.send(codec.pack(action))
                prev = (time.monotonic() - start) * 1e3
            except Exception:
                await ws.send(traceback.format_exc())
                await ws.close(1011, "Internal server error. Traceback included in previous frame.")
                return

    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    bound: list[int] = []

    async def main() -> None:
        async with serve(handler, "127.0.0.1", port, compression=None, max_size=None) as server:
            bound.append(next(iter(server.sockets)).getsockname()[1])
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    assert ready.wait(10), "stand-in server did not start"
    try:
        yield received, f"ws://127.0.0.1:{bound[0]}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
