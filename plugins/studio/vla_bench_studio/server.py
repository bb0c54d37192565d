"""The studio's local HTTP server: the page, its scripts, episode exports and demo uploads.

Routes: ``/`` the page; ``/dist/*`` the esbuild bundles; ``/vendor/mujoco_wasm.js`` MuJoCo's
WASM build from npm; ``/api/config``; ``/api/episode?task=T&index=I`` (or ``&seed=S``);
``POST /api/demos``; ``/api/ping`` (the page's heartbeat). Everything is served from this
machine, nothing from a CDN. The server listens on 127.0.0.1 unless told otherwise and stops by
itself after ``idle_timeout`` seconds without a request (a closed tab stops pinging).
"""

from __future__ import annotations

import json
import mimetypes
import ssl
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import mujoco

from vla_bench_studio import assets
from vla_bench_studio.demos import DemoError, DemoStore
from vla_bench_studio.episode import StudioTaskError, build_task, episode_spec, export_episode

MAX_UPLOAD = 64 * 1024 * 1024
"""Largest demo accepted (bytes): a minute of 90 Hz hand samples is ~2 MB."""


@dataclass(frozen=True)
class StudioConfig:
    """What ``bench studio`` was asked for."""

    task: str = "valve"
    episode: int = 0
    seed: int | None = None
    out: Path = Path("data/studio")
    host: str = "127.0.0.1"
    port: int = 8765
    idle_timeout: float = 1800.0
    keep_failed: bool = False
    image_size: tuple[int, int] | None = None
    certfile: Path | None = None
    keyfile: Path | None = None


class _Handler(BaseHTTPRequestHandler):
    server: StudioServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the terminal shows the URL and demo outcomes, not every file fetch."""

    def do_GET(self) -> None:
        """Files and GET endpoints."""
        self.server.touch()
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        routes: dict[str, Callable[[dict[str, str]], None]] = {
            "/api/config": self._config,
            "/api/episode": self._episode,
            "/api/ping": lambda q: self._json({"ok": True}),
        }
        try:
            if url.path in routes:
                routes[url.path](query)
            else:
                self._file(url.path)
        except (StudioTaskError, ValueError, LookupError) as exc:
            self._json({"error": str(exc)}, HTTPStatus.BAD_REQUEST)

    def do_POST(self) -> None:
        """``/api/demos``: one recorded demonstration."""
        self.server.touch()
        if urlsplit(self.path).path != "/api/demos":
            self._json({"error": f"no POST endpoint {self.path}"}, HTTPStatus.NOT_FOUND)
            return
        # JSON only: another site's page cannot send that to 127.0.0.1 without a CORS
        # preflight, which this server never grants.
        if self.headers.get_content_type() != "application/json":
            self._json(
                {"error": "send demos as application/json"}, HTTPStatus.UNSUPPORTED_MEDIA_TYPE
            )
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_UPLOAD:
            self._json({"error": f"demo body of {length} bytes"}, HTTPStatus.BAD_REQUEST)
            return
        try:
            demo = json.loads(self.rfile.read(length))
            if not isinstance(demo, dict):
                raise DemoError("a demo is a JSON object")
            result = self.server.store.save(demo)
        except (DemoError, ValueError) as exc:
            self._json({"error": str(exc)}, HTTPStatus.BAD_REQUEST)
            return
        except Exception as exc:  # a failed import must reach the page, not kill the server
            traceback.print_exc()
            self._json({"error": f"import failed: {exc}"}, HTTPStatus.INTERNAL_SERVER_ERROR)
            return
        self.server.report(demo, result.to_dict())
        self._json({**result.to_dict(), **self.server.store.count(demo["task"])})

    # -- endpoints ----------------------------------------------------------------------------
    def _config(self, query: dict[str, str]) -> None:
        cfg = self.server.config
        from vla_bench_manipulation.plugin import TASKS

        self._json(
            {
                "task": cfg.task,
                "episode": cfg.episode,
                "seed": cfg.seed,
                "tasks": sorted(TASKS),
                "mujoco_python": mujoco.__version__,
                "mujoco_js": assets.npm_version("mujoco-js"),
                "three": assets.npm_version("three"),
                "out": str(cfg.out),
                "demos": self.server.store.count(cfg.task),
            }
        )

    def _episode(self, query: dict[str, str]) -> None:
        task = self.server.task(query.get("task") or self.server.config.task)
        index = int(query["index"]) if query.get("index") not in (None, "") else None
        seed = int(query["seed"]) if query.get("seed") not in (None, "") else None
        export = export_episode(task, episode_spec(task, index, seed))
        export["demos"] = self.server.store.count(task.spec.name)
        self._json(export)

    # -- plumbing -----------------------------------------------------------------------------
    def _json(self, body: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def _file(self, path: str) -> None:
        files = {
            "/": assets.WEB / "studio.html",
            "/studio.css": assets.WEB / "studio.css",
            "/vendor/mujoco_wasm.js": assets.MUJOCO_WASM,
            "/dist/studio.js": assets.STUDIO_BUNDLE,
        }
        target = files.get(path)
        if target is None or not target.is_file():
            self._json({"error": f"not found: {path}"}, HTTPStatus.NOT_FOUND)
            return
        data = target.read_bytes()
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        self.send_response(HTTPStatus.OK)
        self.send_header(
            "Content-Type",
            kind
            + ("; charset=utf-8" if kind.startswith("text") or kind.endswith("javascript") else ""),
        )
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _warm_up() -> None:
    """Import the demo import path (LeRobot, torch: seconds) before the first demo arrives."""
    try:
        import lerobot.datasets.lerobot_dataset  # noqa: F401
        import vla_bench_training.handtracking  # noqa: F401
    except ImportError:
        return  # the first demo's import fails with the full message, shown in the page


class StudioServer(ThreadingHTTPServer):
    """The studio's HTTP server (see the module docstring); ``close()`` or idleness stops it."""

    daemon_threads = True

    def __init__(self, config: StudioConfig, report: Callable[[str], None] = print) -> None:
        assets.require(assets.MUJOCO_WASM, assets.STUDIO_BUNDLE)
        self.config = config
        self.store = DemoStore(
            config.out, keep_failed=config.keep_failed, image_size=config.image_size
        )
        self._tasks: dict[str, Any] = {}
        self._tasks_lock = threading.Lock()
        self._report = report
        self.task(config.task)  # a bad --task fails now, with its message
        episode_spec(self.task(config.task), config.episode, config.seed)
        self._last_request = time.monotonic()
        threading.Thread(target=_warm_up, daemon=True).start()
        super().__init__((config.host, config.port), _Handler)
        if config.certfile is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(config.certfile, config.keyfile)
            self.socket = context.wrap_socket(self.socket, server_side=True)

    @property
    def url(self) -> str:
        """Where the page is."""
        scheme = "https" if self.config.certfile is not None else "http"
        host, port = self.server_address[:2]
        return f"{scheme}://{host!s}:{port}/"

    def task(self, name: str) -> Any:
        """The task ``name``, built once."""
        with self._tasks_lock:
            if name not in self._tasks:
                self._tasks[name] = build_task(name)
            return self._tasks[name]

    def touch(self) -> None:
        """A request came: the idle clock restarts."""
        self._last_request = time.monotonic()

    def report(self, demo: dict[str, Any], result: dict[str, Any]) -> None:
        """One line per demo in the terminal."""
        verdict = "replays to success" if result["replay_success"] else "FAILS on replay"
        kept = "kept" if result["kept"] else "not added to the dataset"
        self._report(
            f"demo {result['demo']} ({demo['task']}, seed {demo['seed']}): {verdict}, {kept}"
        )

    def serve_until_idle(self) -> None:
        """Serve until ``idle_timeout`` seconds pass without a request (or Ctrl-C)."""
        watchdog = threading.Thread(target=self._watch_idle, daemon=True)
        watchdog.start()
        self.serve_forever(poll_interval=0.5)

    def _watch_idle(self) -> None:
        while True:
            time.sleep(min(5.0, self.config.idle_timeout / 4))
            if time.monotonic() - self._last_request > self.config.idle_timeout:
                self._report(f"no request for {self.config.idle_timeout:.0f} s: stopping")
                self.shutdown()
                return
