"""The committed catalog is what the installed LIBERO package defines (names, order, wording)."""

from __future__ import annotations

import contextlib
import io
import os

from vla_bench_libero.catalog import STANDARD_SUITES, pro_suite_names, suites


def test_catalog_matches_the_package() -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        from libero.libero import benchmark, get_libero_path
        from libero.libero.envs.bddl_utils import get_problem_info

    catalog = suites()
    assert list(catalog) == [*STANDARD_SUITES, *pro_suite_names()]
    for name, suite in catalog.items():
        with contextlib.redirect_stdout(io.StringIO()):
            bench = benchmark.get_benchmark_dict()[name]()
        assert [t.libero_name for t in suite.tasks] == bench.get_task_names(), name
        for task in suite.tasks:
            upstream = bench.get_task(task.index)
            if name in STANDARD_SUITES:
                # openpi and LeRobot send task.language for the standard suites.
                assert task.instruction == upstream.language
            else:
                # LIBERO-PRO's runner sends the BDDL instruction, which carries the perturbation.
                bddl = os.path.join(
                    get_libero_path("bddl_files"), upstream.problem_folder, upstream.bddl_file
                )
                assert task.instruction == get_problem_info(bddl)["language_instruction"]


def test_language_perturbations_change_the_wording() -> None:
    catalog = suites()
    for base in ("libero_spatial", "libero_object", "libero_goal", "libero_10"):
        plain = [t.instruction for t in catalog[base].tasks]
        reworded = [t.instruction for t in catalog[f"{base}_lan"].tasks]
        assert all(a != b for a, b in zip(plain, reworded, strict=True)), base
