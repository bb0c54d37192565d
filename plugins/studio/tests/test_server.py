"""``bench studio`` and its server: the command, bad input, what is served and from where."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from harness.cli import main


def bench(*args: object) -> Any:
    """``bench ARGS`` in-process through the real CLI (plugin commands included)."""
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def fetch(
    url: str, body: bytes | None = None, kind: str = "application/json"
) -> tuple[int, bytes, str]:
    """(status, body, content type) of a GET, or of a POST of ``body`` as ``kind``."""
    headers = {"Content-Type": kind} if body else {}
    request = urllib.request.Request(
        url, data=body, headers=headers, method="POST" if body else "GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers.get("Content-Type", "")


def test_studio_is_a_plugin_command() -> None:
    result = bench("plugins")
    assert result.exit_code == 0
    assert "studio" in result.output
    result = bench("studio", "--help")
    assert result.exit_code == 0 and "--task" in result.output and "--port" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "cartpole"], "not a MuJoCo manipulation task"),
        (["--task", "valv"], "did you mean 'valve'"),
        (["--episode", "99"], "episode 99 is not on the valve track (0..49)"),
        (["--image-size", "huge"], "image_size must look like 224 or 240x320"),
    ],
)
def test_bad_input_is_one_clear_line(built: None, args: list[str], message: str) -> None:
    result = bench("studio", "--no-browser", "--port", "0", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_busy_port_is_named(built: None) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = bench("studio", "--no-browser", "--port", port)
    assert result.exit_code != 0
    assert f"cannot listen on 127.0.0.1:{port}" in result.output and "--port" in result.output


def test_the_server_stops_by_itself_when_idle(built: None, tmp_path: Path) -> None:
    result = bench("studio", "--no-browser", "--port", "0", "--idle-timeout", "1", "-o", tmp_path)
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:" in result.output
    assert "no request for 1 s: stopping" in result.output


def test_everything_is_served_locally(server: Any) -> None:
    status, page, kind = fetch(server.url)
    assert status == 200 and kind.startswith("text/html")
    html = page.decode()
    assert "https://" not in html and "http://" not in html  # no CDN, no remote asset
    status, wasm, kind = fetch(server.url + "vendor/mujoco_wasm.js")
    assert status == 200 and "javascript" in kind and len(wasm) > 5_000_000
    status, bundle, _ = fetch(server.url + "dist/studio.js")
    assert status == 200 and b"https://cdn" not in bundle
    assert fetch(server.url + "dist/../../studio.html")[0] == 404  # only the listed files
    status, body, _ = fetch(server.url + "api/config")
    config = json.loads(body)
    assert config["task"] == "valve" and config["mujoco_js"] == "0.0.7"


def test_api_errors_name_the_problem(server: Any) -> None:
    status, body, _ = fetch(server.url + "api/episode?task=valve&index=77")
    assert status == 400 and "episode 77 is not on the valve track" in json.loads(body)["error"]
    status, body, _ = fetch(server.url + "api/episode?task=nosuch")
    assert status == 400 and "unknown task 'nosuch'" in json.loads(body)["error"]
    status, body, _ = fetch(server.url + "api/demos", b'{"task": "valve", "seed": "x"}')
    assert status == 400 and "'seed' must be" in json.loads(body)["error"]
    status, body, _ = fetch(server.url + "api/demos", b"not json")
    assert status == 400
    status, body, _ = fetch(server.url + "api/demos", b'{"task": "../../etc", "seed": 1}')
    assert status == 400 and "not one of the studio's tasks" in json.loads(body)["error"]
    # What another site's page could send without a CORS preflight is refused.
    assert fetch(server.url + "api/demos", b'{"task": "valve"}', kind="text/plain")[0] == 415
    assert fetch(server.url + "api/nothing", b"{}")[0] == 404
