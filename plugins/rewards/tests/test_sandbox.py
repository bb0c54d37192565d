"""The reward-code sandbox: failures become reasons, and writes, sockets and memory hogs stop."""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

import pytest
from vla_bench_rewards.eureka.sandbox import CandidateFailed, Limits, RewardSandbox

# One candidate that misbehaves in a different way per action, so that one sandbox process
# (about a second to start) serves several checks: a failed call is a reply, not a crash.
PROBE_CODE = """
import os, socket

def compute_reward(state, action):
    if action == 0:
        with open(state_path(), "w") as f:
            f.write("escaped")
    elif action == 1:
        socket.create_connection(("127.0.0.1", int(state["port"])), timeout=1).close()
    elif action == 2:
        block = bytearray(2 << 30)
        return float(len(block)), {}
    elif action == 3:
        return float(len(os.environ.get("ANTHROPIC_API_KEY", ""))), {}
    elif action == 4:
        with open("inside.txt", "w") as f:
            f.write("fine")
        return 1.0, {}
    elif action == 5:
        return float(len(open("/etc/passwd").read())), {}
    return math.cos(state["x"]) + 2 * action, {"cos": math.cos(state["x"]), "a": 2.0 * action}

def state_path():
    return TARGET
"""


@pytest.fixture
def listener():
    """A TCP server on 127.0.0.1 that records whether anything connected to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    yield server
    server.close()


def connected(server: socket.socket) -> bool:
    try:
        server.accept()[0].close()
        return True
    except TimeoutError:
        return False


def probe(tmp_path: Path, limits: Limits, name: str) -> tuple[RewardSandbox, Path]:
    target = tmp_path / f"outside-{name}.txt"
    code = PROBE_CODE.replace("TARGET", repr(str(target)))
    return RewardSandbox(code, tmp_path / name / "scratch", limits), target


def test_writes_sockets_memory_and_secrets_are_out_of_reach(
    tmp_path: Path, listener, monkeypatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-must-not-reach-the-sandbox")
    box, outside = probe(tmp_path, Limits(memory_mib=512), "all")
    port = listener.getsockname()[1]
    with box:
        assert box({"x": 0.0}, 7) == (pytest.approx(15.0), {"cos": 1.0, "a": 14.0})
        with pytest.raises(CandidateFailed, match=r"PermissionError.*outside the scratch"):
            box({"x": 0.0, "port": port}, 0)
        with pytest.raises(CandidateFailed, match=r"PermissionError.*socket"):
            box({"x": 0.0, "port": port}, 1)
        with pytest.raises(CandidateFailed, match=r"MemoryError"):
            box({"x": 0.0}, 2)
        assert box({"x": 0.0}, 3) == (0.0, {})  # the parent's key is not in its environment
        assert box({"x": 0.0}, 4) == (1.0, {})  # its scratch directory is writable
        assert box({"x": 0.5}, 7)[0] == pytest.approx(14.0 + 0.8775825618903728)  # still alive
    assert not outside.exists() and not connected(listener)
    assert (tmp_path / "all" / "scratch" / "inside.txt").read_text() == "fine"
    assert box.enforced["rlimit_memory_mib"] == 512 and "audit_hook" in box.enforced


def test_the_kernel_layers_hold_without_the_audit_hook(tmp_path: Path, listener) -> None:
    """Landlock and the network namespace each stop what the audit hook would."""
    box, outside = probe(tmp_path, Limits(audit_hook=False), "kernel")
    port = listener.getsockname()[1]
    with box:
        landlock = box.enforced.get("landlock_abi", 0)
        netns = str(box.enforced.get("network", "")).startswith("new network namespace")
        if not landlock and not netns:
            pytest.skip(f"this kernel offers neither Landlock nor user namespaces: {box.enforced}")
        if landlock:
            with pytest.raises(CandidateFailed, match=r"Permission denied"):
                box({"x": 0.0}, 0)
            with pytest.raises(CandidateFailed, match=r"Permission denied.*passwd"):
                box({"x": 0.0}, 5)
        with pytest.raises(CandidateFailed, match=r"Permission denied|unreachable|refused"):
            box({"x": 0.0, "port": port}, 1)
    assert not outside.exists() and not connected(listener)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("def compute_reward(s, a):\n    return s['missing'], {}\n", "raised KeyError: 'missing'"),
        ("def compute_reward(s, a):\n    return float('inf')\n", "non-finite reward inf"),
        ("def compute_reward(s, a):\n    return 1.0, {'x': float('nan')}\n", "non-finite"),
        ("def compute_reward(s, a):\n    return 'high', {}\n", "raised TypeError"),
        ("def compute_reward(s, a) return 1\n", "loading the code failed: SyntaxError"),
        ("reward = 1\n", "defines no function compute_reward"),
    ],
)
def test_bad_code_fails_with_its_reason(code: str, reason: str, tmp_path: Path) -> None:
    with (
        pytest.raises(CandidateFailed, match=re.escape(reason)),
        RewardSandbox(code, tmp_path / "s") as box,
    ):
        box({"x": 0.0}, 0)


def test_an_endless_loop_is_stopped_and_its_process_killed(tmp_path: Path) -> None:
    code = "def compute_reward(s, a):\n    while True:\n        pass\n"
    box = RewardSandbox(code, tmp_path / "s", Limits(call_timeout_s=0.5))
    start = time.monotonic()
    with pytest.raises(CandidateFailed, match=r"did not return within 0.5 s"):
        box({"x": 0.0}, 0)
    assert time.monotonic() - start < 3.0
    assert box.process.poll() is not None  # killed, not left spinning
    with pytest.raises(ProcessLookupError):
        os.killpg(box.process.pid, 0)


def test_the_cpu_time_limit_kills_a_busy_process(tmp_path: Path) -> None:
    code = "def compute_reward(s, a):\n    while True:\n        pass\n"
    box = RewardSandbox(code, tmp_path / "s", Limits(cpu_s=1, call_timeout_s=20))
    start = time.monotonic()
    with pytest.raises(CandidateFailed, match=r"died during call 1: its CPU-time limit"):
        box({"x": 0.0}, 0)
    assert time.monotonic() - start < 15  # the kernel stopped it, not the 20 s call timeout
