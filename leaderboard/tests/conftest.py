"""Leaderboard test setup: the board plugin loaded, and ``make_run`` for run directories
written by the real runner (see boardruns.py)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))


@pytest.fixture(autouse=True)
def board_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Load the board plugin beside the installed ones, with a fresh registry per test."""
    from harness import plugins

    monkeypatch.setenv("VLA_BENCH_PLUGINS", "boardplugin")
    plugins.loaded.cache_clear()
    yield
    plugins.loaded.cache_clear()


@pytest.fixture(scope="session")
def _run_cache(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {}


@pytest.fixture
def make_run(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, _run_cache: dict[str, Path]
) -> Callable[..., Path]:
    """``make_run("name", plan, **options)`` -> a run directory (see :func:`run_board`).

    Runs are made once per session and shared between tests (read them, never change them);
    ``private=True`` makes one under this test's ``tmp_path/runs/`` for a test that damages it.
    """

    from boardruns import run_board  # importable once this module has put TESTS on sys.path

    def make(
        name: str, plan: str | dict[str, str], *, private: bool = False, **options: Any
    ) -> Path:
        if private:
            return run_board(tmp_path / "runs" / name, plan, **options)
        key = json.dumps([name, plan, options], sort_keys=True, default=str)
        if key not in _run_cache:
            base = tmp_path_factory.mktemp("shared")
            _run_cache[key] = run_board(base / "runs" / name, plan, **options)
        return _run_cache[key]

    return make
