"""Setup for the openpi tests: the toy plugin everywhere, and ``bench serve`` processes.

Every server listens on 127.0.0.1 on a free port and stops by itself: processes run under
``timeout`` and are stopped when their test ends (see openpi_kit for servers in threads).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("MUJOCO_GL", "egl")
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))

from openpi_kit import BENCH, SERVER_LIFETIME_S, ServeProcess  # noqa: E402


@pytest.fixture(autouse=True)
def toy_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The toy policy is registered here and in every subprocess, with a fresh registry."""
    from harness import plugins

    monkeypatch.setenv("VLA_BENCH_PLUGINS", "openpi_toy")
    plugins.loaded.cache_clear()
    yield
    plugins.loaded.cache_clear()


@pytest.fixture
def bench_serve(tmp_path: Path) -> Iterator[Callable[..., ServeProcess]]:
    """``bench_serve(*args, port=0, env=None)``: start ``bench serve``, wait until it listens."""
    started: list[ServeProcess] = []

    def start(*args: str, port: int = 0, env: dict[str, str] | None = None) -> ServeProcess:
        log = tmp_path / f"serve-{len(started)}.log"
        command = [shutil.which("timeout") or "timeout", str(SERVER_LIFETIME_S), BENCH, "serve"]
        process = subprocess.Popen(
            [*command, "--port", str(port), *args],
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        assert process.stdout is not None
        line = process.stdout.readline()  # the server prints one line once it listens
        if not line.startswith("serving"):
            process.wait(10)
            raise AssertionError(f"bench serve did not start: {line!r}\n{log.read_text()}")
        server = ServeProcess(process, int(line.split(":")[2].split()[0]), log)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
