"""Where the page's files are: the sources in ``web/``, the bundles esbuild makes and the npm
packages (``mujoco-js``, ``three``) pinned by ``plugins/studio/package-lock.json``."""

from __future__ import annotations

import json
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
WEB = PACKAGE / "web"
DIST = WEB / "dist"
NODE_MODULES = PACKAGE.parent / "node_modules"
MUJOCO_WASM = NODE_MODULES / "mujoco-js" / "dist" / "mujoco_wasm.js"
STUDIO_BUNDLE = DIST / "studio.js"
REPLAY_BUNDLE = DIST / "replay_viewer.js"
BUILD_HINT = (
    "run scripts/setup.sh, or: cd plugins/studio && npm ci --ignore-scripts && npm run build"
)


class StudioAssetsError(RuntimeError):
    """The browser side is not installed or not built; the message says how to fix it."""


def require(*paths: Path) -> None:
    """Raise :class:`StudioAssetsError` naming the first of ``paths`` that is missing."""
    for path in paths:
        if not path.is_file():
            raise StudioAssetsError(f"{path} is missing: {BUILD_HINT}")


def npm_version(package: str) -> str:
    """The installed version of an npm package of the studio (``mujoco-js``, ``three``)."""
    manifest = NODE_MODULES / package / "package.json"
    require(manifest)
    return str(json.loads(manifest.read_text())["version"])
