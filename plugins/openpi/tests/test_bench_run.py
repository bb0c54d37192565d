"""``bench run --policy openpi`` against ``bench serve``: the same episodes as in process.

The runner runs here (as ``bench run`` does, minus the command line), the server is a real
``bench serve`` process, the task is the manipulation suite's ``valve`` at 32x32 pixels, and the
policy is the toy (tests/openpi_toy.py), which reads images, state, instruction, episode seed and
step count, so any difference in what crosses the wire changes the actions.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from openpi_kit import ServeProcess, free_port, thread_server, toy, wait_for

from harness.contract import PolicyConfig
from harness.results import ERROR_OUTCOMES, load_run

TASK_OPTIONS = {"image_size": "32"}
EPISODES = 4
_reference: dict[str, Any] = {}


class Progress:
    """A run observer calling ``on_episode(result)`` after each committed episode."""

    def __init__(self, on_episode: Callable[[Any], None]) -> None:
        self.on_episode = on_episode

    def phase(self, text: str) -> None:
        """Not needed here."""

    def episode(self, result: Any, done: int, total: int) -> None:
        """Pass the committed episode on."""
        self.on_episode(result)


def run(
    policy: str,
    args: str | None,
    out: Path,
    on_episode: Callable[[Any], None] | None = None,
    episodes: int = EPISODES,
    n_action_steps: int | None = None,
) -> Any:
    """One ``bench run --isolate none`` of ``policy`` on valve (first ``episodes``) to ``out``."""
    from harness.record import RunSettings
    from harness.run import execute

    settings = RunSettings(
        episodes=episodes,
        task_options=TASK_OPTIONS,
        isolate="none",
        n_action_steps=n_action_steps,
    )
    config = PolicyConfig.parse_args(policy, args)
    observer = Progress(on_episode) if on_episode else None
    return execute(config, "valve", settings, out, ["bench", "run"], observer)


def episodes(out: Path) -> dict[int, dict[str, Any]]:
    """Outcome, error and executed actions of each committed episode."""
    loaded = load_run(out)
    steps = loaded.steps()
    table = {}
    for row in loaded.episodes.itertuples():
        mine = steps[steps.episode == row.episode].sort_values("step")
        table[int(row.episode)] = {
            "outcome": row.outcome,
            "error": row.error,
            "actions": np.array(mine.action.tolist()),
            "chunks": mine.chunk.tolist(),
            "model_s": mine.model_s.dropna().tolist(),
        }
    return table


@pytest.fixture
def in_process(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, Any]]:
    """The toy run in process: the reference every remote run must reproduce."""
    if not _reference:
        out = tmp_path_factory.mktemp("reference") / "run"
        assert run("toy", None, out).status == "complete"
        _reference.update(episodes(out))
    return _reference


@pytest.mark.slow
def test_remote_episodes_are_the_in_process_episodes(
    bench_serve: Callable[..., ServeProcess],
    in_process: dict[int, dict[str, Any]],
    tmp_path: Path,
) -> None:
    server = bench_serve("--policy", "toy", "--max-batch", "4", "--max-wait-ms", "2")
    report = run("openpi", f"url={server.url}", tmp_path / "remote")
    assert report.status == "complete"
    remote = episodes(tmp_path / "remote")
    assert sorted(remote) == sorted(in_process)
    for index, episode in remote.items():
        mine = in_process[index]
        assert episode["outcome"] == mine["outcome"] and episode["chunks"] == mine["chunks"]
        np.testing.assert_array_equal(episode["actions"], mine["actions"])
        assert episode["model_s"] == pytest.approx([1e-4] * len(episode["model_s"]))
    describe = load_run(tmp_path / "remote").record.policy.describe or {}
    assert describe["remote_policy"] == "toy" and describe["server"] == server.url


@pytest.mark.slow
def test_killing_the_server_records_policy_errors_and_a_resume_completes(
    bench_serve: Callable[..., ServeProcess],
    in_process: dict[int, dict[str, Any]],
    tmp_path: Path,
) -> None:
    port = free_port()
    hanging = tmp_path / "hanging"
    # The toy hangs on its 50th act (episode 1; episode 0 takes 40), with the request in flight.
    server = bench_serve(
        "--policy", "toy", "--policy-args", f"hang_after=50,hang_file={hanging}", port=port
    )
    args = f"url={server.url},connect_window=3"
    out = tmp_path / "run"
    interrupted = []

    def kill_when_hanging() -> None:
        wait_for(hanging.exists)
        server.kill()

    def progress(result: Any) -> None:
        if result.outcome in ERROR_OUTCOMES and not interrupted:
            interrupted.append(result.episode)
            os.kill(os.getpid(), signal.SIGINT)  # the user stops the run (Ctrl-C)

    killer = threading.Thread(target=kill_when_hanging)
    killer.start()
    # --n-action-steps 2 (the toy's own): the engine refuses to resume a run whose policy set
    # its chunk length itself (its config hash changes after the first episode).
    first = run("openpi", args, out, progress, n_action_steps=2)
    killer.join()
    assert first.status == "interrupted" and interrupted == [1]
    errors = {i: e for i, e in episodes(out).items() if e["outcome"] in ERROR_OUTCOMES}
    # The server died under a request: a crash of the policy's process, as the engine names it.
    assert errors and all(e["outcome"] == "policy_crash" for e in errors.values())
    assert "closed the connection" in errors[1]["error"] and server.url in errors[1]["error"]

    committed = len(episodes(out))
    assert committed < EPISODES
    bench_serve("--policy", "toy", port=port)  # back on the same address
    second = run("openpi", args, out, n_action_steps=2)
    assert second.status == "complete" and second.ran == EPISODES - committed
    final = episodes(out)
    assert sorted(final) == list(range(EPISODES))
    for index, episode in final.items():
        if index in errors:
            continue
        np.testing.assert_array_equal(episode["actions"], in_process[index]["actions"])
    assert set(errors) == {i for i, e in final.items() if e["outcome"] in ERROR_OUTCOMES}


def test_the_api_key_reaches_the_server_and_no_file_of_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "never-record-this-4f1c9e"
    monkeypatch.setenv("OPENPI_SERVER_KEY", key)
    with thread_server(toy(), api_key=key) as (_, url):
        report = run("openpi", f"url={url},api_key_env=OPENPI_SERVER_KEY", tmp_path / "r", None, 1)
    assert report.status == "complete"
    files = [p for p in (tmp_path / "r").rglob("*") if p.is_file()]
    assert files and not [p for p in files if key.encode() in p.read_bytes()]
    assert "OPENPI_SERVER_KEY" in (tmp_path / "r" / "run.json").read_text()
