"""``bench publish``: W&B in its offline mode, and the Hub through its real client against a
loopback stand-in speaking the Hub's HTTP API (the Hub itself is unreachable here)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from boardruns import wins
from click.testing import CliRunner, Result

from harness import cli

TOKEN = "hf_loopback_test_token"


def bench(*args: str | Path) -> Result:
    return CliRunner().invoke(cli.main, [str(a) for a in args], catch_exceptions=False)


class HubStandIn(BaseHTTPRequestHandler):
    """The three calls ``HfApi.create_repo`` and ``upload_folder`` make, answered as the Hub
    answers them: create a repo, tell which files to upload inline, accept an NDJSON commit."""

    repos: dict[str, dict[str, bytes]]
    auth: list[str | None]

    def log_message(self, *args: Any) -> None:
        """Quiet."""

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self.auth.append(self.headers.get("Authorization"))
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        host = f"http://{self.server.server_address[0]}:{self.server.server_address[1]}"
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts[:3] == ["api", "repos", "create"]:
            request = json.loads(body)
            repo = f"{request['organization']}/{request['name']}"
            self.repos.setdefault(repo, {})
            return self._json(200, {"url": f"{host}/{request['type']}s/{repo}"})
        if parts[0] == "api" and len(parts) == 6 and parts[4] == "preupload":
            modes = [
                {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                for f in json.loads(body)["files"]
            ]
            return self._json(200, {"files": modes})
        if parts[0] == "api" and len(parts) == 6 and parts[4] == "commit":
            repo = f"{parts[2]}/{parts[3]}"
            for line in body.splitlines():
                item = json.loads(line)
                if item["key"] == "file":
                    value = item["value"]
                    self.repos[repo][value["path"]] = base64.b64decode(value["content"])
            return self._json(200, {"commitUrl": f"{host}/{repo}/commit/abc", "commitOid": "abc"})
        return self._json(404, {"error": f"no route {self.path}"})


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A stand-in Hub on 127.0.0.1, stopped after the test; offline mode off for the client."""
    import huggingface_hub.constants

    state: dict[str, Any] = {"repos": {}, "auth": []}
    handler = type("Handler", (HubStandIn,), {"repos": state["repos"], "auth": state["auth"]})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def test_publish_to_the_hub_uploads_the_leaderboard_and_the_runs(
    make_run: Callable[..., Path], hub: dict[str, Any]
) -> None:
    root = make_run("a", wins(3, 10), policy="alpha", video=1)
    result = bench("publish", "hub", root, "--repo-id", "lab/results", "--include-runs")
    assert result.exit_code == 0, result.output
    files = hub["repos"]["lab/results"]
    assert set(files) >= {
        "leaderboard.html",
        "leaderboard.json",
        "leaderboard.csv",
        "runs/a/run.json",
        "runs/a/episodes.parquet",
        "runs/a/steps.parquet",
    }
    assert any(name.startswith("runs/a/videos/") for name in files)
    assert files["runs/a/run.json"] == (root / "run.json").read_bytes()
    (record,) = json.loads(files["leaderboard.json"])["records"]
    assert (record["policy"], record["successes"], record["episodes"]) == ("alpha", 3, 10)
    assert set(hub["auth"]) == {f"Bearer {TOKEN}"}


def test_publish_to_the_hub_offline_says_so(
    make_run: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    root = make_run("a", wins(3, 10), policy="alpha")
    result = bench("publish", "hub", root, "--repo-id", "lab/results")
    assert result.exit_code != 0 and "HF_HUB_OFFLINE is set" in result.output


@pytest.mark.slow
def test_publish_to_wandb_offline_logs_the_leaderboard_and_episodes(
    make_run: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    roots = [make_run("a", wins(3, 10), policy="alpha"), make_run("b", wins(6, 10), policy="beta")]
    result = bench("publish", "wandb", *roots, "--project", "vla-bench-test")
    assert result.exit_code == 0, result.output
    assert "logged 2 record(s) and 20 episode(s)" in result.output
    (run_dir,) = (tmp_path / "wandb").glob("offline-run-*")
    tables = {p.name.split("_")[0]: p for p in (run_dir / "files" / "media" / "table").iterdir()}
    board = json.loads(tables["leaderboard"].read_text())
    index = board["columns"].index("successes")
    assert sorted(row[index] for row in board["data"]) == [3, 6]
    episodes = json.loads(tables["episodes"].read_text())
    assert len(episodes["data"]) == 20 and "outcome" in episodes["columns"]
