"""The sandboxed process that runs one candidate reward function (started by ``sandbox.py``).

Order matters: everything the candidate may use (``math``, ``numpy``) is imported first;
then the process confines itself — resource limits, a new user and network namespace,
``no_new_privs``, a Landlock ruleset, an audit hook — and only then reads and runs the
candidate's code. Each confinement step that the kernel refuses is recorded, and the parent
is told exactly which ones hold. The protocol is one JSON object per line on private copies
of stdin/stdout; the candidate's own prints go to the stderr log instead.

Invoked as ``python -I -m vla_bench_rewards.eureka.worker SCRATCH LIMITS_JSON``.
"""

from __future__ import annotations

import builtins
import ctypes
import json
import math
import os
import resource
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy

# Landlock (linux/landlock.h): the syscalls share one number on every architecture
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38
FS_EXECUTE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 2, 1 << 3
FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = (
        ("allowed_access", ctypes.c_uint64),
        ("parent_fd", ctypes.c_int32),
    )


def _fs_rights(abi: int) -> int:
    return next(FS_RIGHTS_BY_ABI[a] for a in sorted(FS_RIGHTS_BY_ABI, reverse=True) if abi >= a)


def landlock(scratch: Path, readable: list[str]) -> dict[str, Any]:
    """Confine file access to reading ``readable`` and anything in ``scratch``; no TCP."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = int(libc.syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), CREATE_RULESET_VERSION))
    if abi < 1:
        return {"landlock_abi": 0, "landlock": f"unavailable ({os.strerror(ctypes.get_errno())})"}
    fs = _fs_rights(abi)
    attr = _RulesetAttr(fs, NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0, 0)
    if abi >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = int(libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0))
    if ruleset < 0:
        return {"landlock_abi": abi, "landlock": f"failed ({os.strerror(ctypes.get_errno())})"}
    allowed = [(str(scratch), fs)] + [
        (p, FS_EXECUTE | FS_READ_FILE | FS_READ_DIR) for p in readable
    ]
    for path, rights in allowed:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        # a rule on a file (not a directory) may only carry file rights
        if not os.path.isdir(path):
            rights &= FS_EXECUTE | FS_READ_FILE | (1 << 1) | (1 << 14)
        rule = _PathBeneath(rights & fs, fd)
        libc.syscall(SYS_ADD_RULE, ruleset, RULE_PATH_BENEATH, ctypes.byref(rule), 0)
        os.close(fd)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return {"landlock_abi": abi, "landlock": "failed (no_new_privs refused)"}
    if int(libc.syscall(SYS_RESTRICT_SELF, ruleset, 0)) != 0:
        return {"landlock_abi": abi, "landlock": f"failed ({os.strerror(ctypes.get_errno())})"}
    os.close(ruleset)
    return {
        "landlock_abi": abi,
        "landlock": "files: read-only outside scratch" + (", no TCP" if abi >= 4 else ""),
    }


def network_namespace() -> str:
    """Move into a new user and network namespace (no interface but a downed loopback)."""
    uid, gid = os.getuid(), os.getgid()
    try:
        os.unshare(os.CLONE_NEWUSER | os.CLONE_NEWNET)
    except (OSError, AttributeError) as exc:
        return f"unavailable ({exc})"
    # map our own ids so files written in scratch keep their owner
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
    Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    return "new network namespace: no route anywhere"


BLOCKED_EVENTS = frozenset(
    {
        "socket.__new__",
        "socket.connect",
        "socket.bind",
        "socket.sendto",
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "os.forkpty",
        "os.kill",
        "os.killpg",
        "ctypes.dlopen",
        "ctypes.dlsym",
        "ctypes.cdata",
        "ctypes.call_function",
    }
)
PATH_EVENTS = frozenset(
    {"os.remove", "os.rename", "os.mkdir", "os.rmdir", "os.chmod", "os.chown", "os.link",
     "os.symlink", "os.truncate", "os.utime", "shutil.rmtree", "shutil.copyfile"}
)  # fmt: skip


def audit_hook(scratch: Path) -> None:
    """Refuse process, socket, ctypes and out-of-scratch write events from here on."""
    root = str(scratch.resolve())

    def inside(path: Any) -> bool:
        if isinstance(path, int):  # an already open descriptor: opened before the hook or allowed
            return True
        try:
            resolved = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        return resolved == root or resolved.startswith(root + os.sep)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in BLOCKED_EVENTS:
            raise PermissionError(f"sandbox: {event} is not allowed in reward code")
        if event == "open" and len(args) >= 2:
            path, mode = args[0], args[1]
            writing = isinstance(mode, str) and any(c in mode for c in "wax+")
            flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
            writing = writing or bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            if writing and path is not None and not inside(path):
                raise PermissionError(f"sandbox: writing {path!r} outside the scratch directory")
        elif (
            event in PATH_EVENTS and args and not all(inside(a) for a in args[:2] if a is not None)
        ):
            raise PermissionError(f"sandbox: {event} outside the scratch directory")

    sys.addaudithook(hook)


def confine(scratch: Path, limits: dict[str, Any]) -> dict[str, Any]:
    """Apply every confinement the limits ask for; report what holds."""
    enforced: dict[str, Any] = {}
    mib = 1 << 20
    rlimits = {
        "cpu_s": (resource.RLIMIT_CPU, int(limits["cpu_s"]), int(limits["cpu_s"]) + 1),
        "memory_mib": (resource.RLIMIT_AS, int(limits["memory_mib"]) * mib, None),
        "file_mib": (resource.RLIMIT_FSIZE, int(limits["file_mib"]) * mib, None),
        "open_files": (resource.RLIMIT_NOFILE, int(limits["open_files"]), None),
        "core": (resource.RLIMIT_CORE, 0, None),
    }
    for name, (which, soft, hard) in rlimits.items():
        resource.setrlimit(which, (soft, soft if hard is None else hard))
        enforced[f"rlimit_{name}"] = limits.get(name, soft)
    if limits.get("network_namespace", True):
        enforced["network"] = network_namespace()
    if limits.get("landlock", True):
        readable = sorted(
            {sys.prefix, sys.base_prefix, sys.exec_prefix, *(p for p in sys.path if p)}
        )
        enforced.update(landlock(scratch, readable))
    if limits.get("audit_hook", True):
        audit_hook(scratch)
        enforced["audit_hook"] = "process, socket, ctypes and out-of-scratch write events refused"
    return enforced


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | numpy.number):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)


def main() -> None:
    """Confine, load the candidate, then answer reward requests until stdin closes."""
    scratch = Path(sys.argv[1]).resolve()
    limits = json.loads(sys.argv[2])
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # the candidate's prints land in the stderr log, not in the protocol
    sys.stdout = sys.stderr

    def send(obj: dict[str, Any]) -> None:
        replies.write(json.dumps(obj).encode() + b"\n")
        replies.flush()

    enforced = confine(scratch, limits)
    os.chdir(scratch)
    namespace: dict[str, Any] = {
        "__builtins__": builtins,
        "math": math,
        "np": numpy,
        "numpy": numpy,
    }
    try:
        code = (scratch / "reward.py").read_text()
        exec(compile(code, "reward.py", "exec"), namespace)
        function = namespace.get("compute_reward")
        if not callable(function):
            raise NameError("the code defines no function compute_reward(state, action)")
    except BaseException as exc:
        send({"error": _describe(exc), "enforced": enforced})
        return
    send({"ready": True, "enforced": enforced})
    for line in requests:
        request = json.loads(line)
        try:
            out = function(dict(request["state"]), int(request["action"]))
            if isinstance(out, tuple) and len(out) == 2:
                total, parts = _number(out[0]), out[1]
                if not isinstance(parts, dict):
                    raise TypeError("the components must be a dict of name -> number")
                components = {str(k): _number(v) for k, v in parts.items()}
            else:
                total, components = _number(out), {}
            send({"reward": total, "components": components})
        except BaseException as exc:  # the candidate's failure is a reply, not a crash
            send({"error": _describe(exc)})


def _describe(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "reward.py"]
    where = f" (reward.py line {frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


if __name__ == "__main__":
    main()
