"""Fixtures: one studio server on 127.0.0.1 and one headless Chromium page shared by the tests.

The server is the real ``StudioServer`` (port 0, demos into a temporary directory, dataset
images at 32 px); the browser is Debian's Chromium through ChromeDriver with software WebGL
(SwiftShader). Without chromium and chromium-driver the browser tests are skipped, except
under CI, where they fail. The esbuild bundles are rebuilt when a source is newer.
"""

from __future__ import annotations

import os
import tempfile

_HOME = tempfile.mkdtemp(prefix="vla-bench-studio-tests-")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HOME"] = os.path.join(_HOME, "hf")
os.environ["HF_LEROBOT_HOME"] = os.path.join(_HOME, "lerobot")
os.environ.setdefault("MUJOCO_GL", "egl")

import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))  # studio_kit (tests run in importlib mode)

from vla_bench_studio import assets  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def _bundles_fresh() -> bool:
    built = [assets.STUDIO_BUNDLE, assets.REPLAY_BUNDLE]
    if not all(p.is_file() for p in built):
        return False
    newest = max(p.stat().st_mtime for p in (assets.WEB / "js").glob("*.js"))
    return min(p.stat().st_mtime for p in built) >= newest


@pytest.fixture(scope="session")
def built() -> None:
    """The npm packages installed and the bundles current (rebuilt with esbuild if stale)."""
    if not assets.MUJOCO_WASM.is_file():
        pytest.fail(f"the studio's npm packages are missing: {assets.BUILD_HINT}")
    if not _bundles_fresh():
        subprocess.run(["npm", "run", "--silent", "build"], cwd=assets.PACKAGE.parent, check=True)


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A headless Chromium with software WebGL, its console captured."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are missing: run scripts/setup.sh")
        pytest.skip("needs Debian chromium and chromium-driver (scripts/setup.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--use-angle=swiftshader",
        "--enable-unsafe-swiftshader",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
        "--window-size=1280,800",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(300)  # a first demo waits for LeRobot to import (slow when busy)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def server(built: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The studio's server for valve on a free port, demos into a temporary directory."""
    from vla_bench_studio.server import StudioConfig, StudioServer

    out = tmp_path_factory.mktemp("demos")
    lines: list[str] = []
    srv = StudioServer(StudioConfig(port=0, out=out, image_size=(32, 32)), report=lines.append)
    srv.lines = lines  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture(scope="session")
def studio(chromium: Any, server: Any) -> Any:
    """The studio page loaded (MuJoCo WASM up, valve episode 0 shown)."""
    chromium.get(server.url)
    deadline = time.monotonic() + 60
    while not chromium.execute_script("return Boolean(window.studio && window.studio.ready)"):
        failed = chromium.execute_script("return document.getElementById('loading').textContent")
        assert "failed" not in failed, failed
        assert time.monotonic() < deadline, "the studio page did not load in 60 s"
        time.sleep(0.1)
    return chromium
