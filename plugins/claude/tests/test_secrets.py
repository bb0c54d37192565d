"""No key ever reaches a run directory or a report, even when a server echoes it back.

A loopback HTTP server plays a misbehaving proxy: it answers 400 with the request's headers
in the body, so the SDK's error (and so the episode's error) carries ``Authorization``,
``x-api-key`` and the key itself. The run goes through ``bench run`` in a subprocess; then every
byte the run directory and the HTML report hold is searched for the keys.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

CANARY_ANTHROPIC = "sk-ant-canary-0123456789abcdef-ANTHROPIC"
CANARY_OPENAI = "sk-canary-0123456789abcdefOPENAI"
URL_SECRET = "urlsecret-abcdef123456"


@contextmanager
def echo_server(status: int) -> Iterator[str]:
    """A server on 127.0.0.1 answering every request with ``status`` and its headers."""

    class Echo(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            seen = f"request_headers={dict(self.headers.items())} path={self.path}"
            echoed = {"error": {"type": "invalid_request_error", "message": f"bad: {seen}"}}
            body = json.dumps(echoed).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET = _answer

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _bench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANTHROPIC_API_KEY": CANARY_ANTHROPIC, "OPENAI_API_KEY": CANARY_OPENAI}
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=240)  # fmt: skip


@pytest.mark.parametrize("policy", ["claude", "vlm"])
def test_keys_echoed_by_a_server_never_reach_the_run_or_the_report(
    tmp_path: Path, policy: str
) -> None:
    with echo_server(400) as url:
        base = f"{url}/v1" if policy == "vlm" else url
        args = f"model=test-model,base_url={base}?api_key={URL_SECRET},max_retries=0"
        result = _bench("run", "--policy", policy, "--policy-args", args, "--task", "cartpole",
                        "--episodes", "2", "--out", "runs/r", cwd=tmp_path)  # fmt: skip
    assert "policy_error" in result.stdout, result.stderr
    row = (tmp_path / "runs/r/parts/cartpole/000000.episode.json").read_text()
    assert "request_headers" in row, row
    report = _bench("report", "runs", "-o", "report.html", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    html = (tmp_path / "report.html").read_text()
    assert "Bearer ***" in html, "the report shows the (scrubbed) error"
    stored = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(stored) > 5
    for secret in (CANARY_ANTHROPIC, CANARY_OPENAI, URL_SECRET):
        leaked = [str(p) for p in stored if secret.encode() in p.read_bytes()]
        assert not leaked, f"{secret} written to {leaked}"
        assert secret not in result.stdout + result.stderr + report.stdout + report.stderr
