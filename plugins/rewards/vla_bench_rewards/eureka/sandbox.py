"""Running LLM-written reward code in a confined process, one reward per call.

Each candidate runs in its own process (``eureka/worker.py``), started with an empty
environment (no API keys; ``python -I``) in its scratch directory, which then confines
itself before it reads the code. What holds, on Linux (each layer is reported per candidate
in ``result.json`` under ``sandbox``, and a layer the kernel refuses is named there):

- CPU time: ``RLIMIT_CPU`` (the kernel kills the process past it), and each call must
  answer within ``call_timeout_s`` of wall time or the parent kills the process group;
- memory: ``RLIMIT_AS`` (an allocation past it raises ``MemoryError``); file size
  ``RLIMIT_FSIZE``; open files ``RLIMIT_NOFILE``; no core dumps;
- network: a new user + network namespace (``unshare``: no interface but a downed
  loopback), Landlock's TCP bind/connect denial (ABI ≥ 4), and socket creation refused by
  an audit hook — three independent layers;
- files: Landlock (ABI ≥ 1) allows writes only beneath the scratch directory and reads only
  beneath the Python installation and ``sys.path``; the audit hook also refuses writes,
  renames and removals outside scratch (the only file guard where Landlock is missing);
- processes: the audit hook refuses ``subprocess``, ``os.system``, ``exec``, ``fork``,
  ``kill`` and ``ctypes`` (so the code cannot call libc around the hook); Landlock ABI ≥ 6
  also scopes signals and abstract Unix sockets to the sandbox;
- inputs: the function gets only the documented state dict and the action index, as JSON;
  it never sees the simulator, the training process or the fitness.

Not enforced: the audit hook is a CPython mechanism, not a security boundary by itself —
native code could bypass it, which is why ``ctypes`` is refused and the kernel layers exist;
thread creation is not limited (threads count against the CPU and memory limits); on a
kernel without Landlock or user namespaces only the rlimits and the audit hook remain.

A failure of the code — it raises, loops, returns a non-number or a non-finite one, runs out
of memory, or the process dies — raises :class:`CandidateFailed` with the reason.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REWARD_FILE = "reward.py"
STDERR_FILE = "stderr.txt"


@dataclass(frozen=True)
class Limits:
    """What a candidate's process may use (see the module docstring)."""

    cpu_s: int = 600
    memory_mib: int = 512
    file_mib: int = 16
    open_files: int = 64
    call_timeout_s: float = 1.0
    start_timeout_s: float = 30.0
    network_namespace: bool = True
    landlock: bool = True
    audit_hook: bool = True


class CandidateFailed(RuntimeError):
    """The candidate reward code failed; ``reason`` says how."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RewardSandbox:
    """One candidate's confined process; call it as ``reward, components = box(state, action)``."""

    def __init__(self, code: str, scratch: Path, limits: Limits = Limits()) -> None:
        self.scratch = Path(scratch).resolve()
        self.limits = limits
        self.scratch.mkdir(parents=True, exist_ok=True)
        (self.scratch / REWARD_FILE).write_text(code)
        self.calls = 0
        self.enforced: dict[str, Any] = {}
        self._buffer = b""
        self._stderr = open(self.scratch / STDERR_FILE, "wb")  # noqa: SIM115  (closed in close())
        env = {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            # one thread: unshare(CLONE_NEWUSER) refuses a multithreaded process
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-I",
                "-m",
                "vla_bench_rewards.eureka.worker",
                str(self.scratch),
                json.dumps(asdict(limits)),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=self.scratch,
            env=env,
            start_new_session=True,  # its own process group: killed as a whole
        )
        hello = self._read(limits.start_timeout_s, "start")
        self.enforced = dict(hello.get("enforced") or {})
        if "error" in hello:
            self.close()
            raise CandidateFailed(f"loading the code failed: {hello['error']}")

    def __call__(self, state: dict[str, float], action: int) -> tuple[float, dict[str, float]]:
        """The candidate's (reward, components) for ``state``; CandidateFailed if it fails."""
        assert self.process.stdin is not None
        self.calls += 1
        try:
            self.process.stdin.write(
                json.dumps({"state": state, "action": action}).encode() + b"\n"
            )
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise CandidateFailed(self._died("before the call")) from None
        reply = self._read(self.limits.call_timeout_s, "call")
        if "error" in reply:
            raise CandidateFailed(f"raised {reply['error']} (call {self.calls})")
        reward = reply.get("reward")
        components = reply.get("components") or {}
        values = [reward, *components.values()]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            raise CandidateFailed(f"returned a non-number (call {self.calls}): {reply}")
        bad = [v for v in values if not math.isfinite(v)]
        if bad:
            raise CandidateFailed(f"returned a non-finite reward {bad[0]} (call {self.calls})")
        return float(reward), {str(k): float(v) for k, v in components.items()}  # type: ignore[arg-type]

    def _read(self, timeout: float, what: str) -> dict[str, Any]:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            ready = select.select([fd], [], [], max(left, 0))[0] if left > 0 else []
            if not ready:
                self.close()
                if what == "start":
                    raise CandidateFailed(f"the sandbox did not start within {timeout:g} s")
                raise CandidateFailed(
                    f"did not return within {timeout:g} s (call {self.calls}; an endless loop?)"
                )
            chunk = os.read(fd, 65536)
            if not chunk:
                raise CandidateFailed(self._died(f"during {what} {self.calls}"))
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            reply: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            raise CandidateFailed(f"the sandbox answered garbage: {line[:80]!r}") from None
        return reply

    def _died(self, when: str) -> str:
        code = self.process.wait(timeout=5)
        self.close()
        why = {
            -signal.SIGXCPU: "its CPU-time limit",
            -signal.SIGKILL: "SIGKILL (CPU-time or memory limit)",
        }.get(code, f"exit status {code}")
        tail = self.stderr_tail()
        return f"the sandbox process died {when}: {why}" + (f"; stderr: {tail}" if tail else "")

    def stderr_tail(self, chars: int = 300) -> str:
        """The end of the process's stderr (the candidate's prints and crashes)."""
        path = self.scratch / STDERR_FILE
        text = path.read_text(errors="replace") if path.exists() else ""
        return text[-chars:].strip()

    def close(self) -> None:
        """Stop the process (and anything it started) and release the pipes."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._stderr.close()

    def __enter__(self) -> RewardSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
