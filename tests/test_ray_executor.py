"""``--executor ray`` on a real two-node Ray cluster of this machine (127.0.0.1 only).

The nodes differ in resources (the second one carries a custom ``second`` resource) and env
workers spread over both; every run is compared with the same episodes run locally.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.contract import PolicyConfig
from harness.record import RunSettings
from harness.results import load_run
from harness.run import execute

pytestmark = pytest.mark.xdist_group("ray")  # one cluster, on one xdist worker

# Every Ray process of the test cluster binds to 127.0.0.1 (Ray's local-only mode).
LOCAL_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
EPISODE_COLUMNS = ["episode", "seed", "outcome", "steps", "episode_return", "obs_state_digest"]
STEP_COLUMNS = ["episode", "step", "action", "reward", "ee_x", "ee_y", "ee_z"]


@pytest.fixture(scope="session")
def cluster() -> Iterator[Any]:
    """A head node and a second node with other resources, both on 127.0.0.1 (one per xdist
    worker session: pytest may run other modules' tests between these)."""
    saved = {k: os.environ.get(k) for k in LOCAL_ONLY}
    os.environ.update(LOCAL_ONLY)
    from ray.cluster_utils import Cluster

    small = {"object_store_memory": 80 * 2**20, "include_dashboard": False}
    head = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, **small})
    try:
        head.add_node(num_cpus=1, resources={"second": 1}, **small)
        head.wait_for_nodes()
        yield head
    finally:
        head.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run(
    out: Path, policy: str, args: str | None = None, task: str = "reach", **settings: Any
) -> pd.DataFrame:
    """Run ``policy`` on ``task`` (the toy reach task by default); its episodes table."""
    config = PolicyConfig.parse_args(policy, args)
    execute(config, task, RunSettings(**settings), out, ["test"])
    return load_run(out).episodes


def assert_same_episodes(a: Path, b: Path) -> None:
    """Two runs hold bit-identical episodes: rows, actions, rewards and states."""
    one, two = load_run(a), load_run(b)
    pd.testing.assert_frame_equal(one.episodes[EPISODE_COLUMNS], two.episodes[EPISODE_COLUMNS])
    pd.testing.assert_frame_equal(one.steps()[STEP_COLUMNS], two.steps()[STEP_COLUMNS])


def test_a_two_node_run_with_a_batched_host_is_bit_identical_to_a_local_run(
    cluster: Any, tmp_path: Path
) -> None:
    ray_run = RunSettings(
        episodes=8, workers=2, executor="ray", ray_address=cluster.address, placement="host"
    )
    execute(PolicyConfig("linear"), "reach", ray_run, tmp_path / "ray", ["t"])
    execute(PolicyConfig("linear"), "reach", RunSettings(episodes=8), tmp_path / "local", ["t"])
    assert_same_episodes(tmp_path / "ray", tmp_path / "local")
    episodes = load_run(tmp_path / "ray").episodes
    nodes = {json.loads(e)["ray_node"] for e in episodes["extra"]}
    assert len(nodes) == 2, "the env workers did not spread over both nodes"
    record = load_run(tmp_path / "ray").record
    assert record.status == "complete" and record.settings.executor == "ray"
    assert record.latest.requeued == ()


def test_policies_beside_each_env_worker_and_videos_come_back_to_the_run_directory(
    cluster: Any, tmp_path: Path
) -> None:
    settings = {"task": "pick_place", "episodes": 2, "workers": 2, "video": 2}
    run(tmp_path / "ray", "random", executor="ray", ray_address=cluster.address, **settings)
    run(tmp_path / "local", "random", **settings)
    assert_same_episodes(tmp_path / "ray", tmp_path / "local")
    files = sorted(p.relative_to(tmp_path / "ray") for p in (tmp_path / "ray").rglob("*.*[4f]"))
    local = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*.*[4f]"))
    assert files == local and {p.suffix for p in files} == {".mp4", ".gif"} and len(files) == 4
    for path in files:  # the same frames, rendered on another node (MP4s carry a timestamp)
        if path.suffix == ".gif":
            assert (tmp_path / "ray" / path).read_bytes() == (
                tmp_path / "local" / path
            ).read_bytes()


def test_an_env_worker_lost_mid_episode_has_its_episode_run_again(
    cluster: Any, tmp_path: Path
) -> None:
    lost = tmp_path / "lost-once"
    episodes = run(
        tmp_path / "ray",
        "bad",
        f"mode=exit,on_episode=2,once={lost}",
        episodes=5,
        workers=2,
        placement="worker",
        executor="ray",
        ray_address=cluster.address,
    )
    assert lost.exists(), "the worker was never lost"
    assert list(episodes["outcome"]) == ["timeout"] * 5
    requeued = load_run(tmp_path / "ray").record.latest.requeued
    assert [(r["episode"], r["attempt"]) for r in requeued] == [(2, 1)]
    assert "died" in requeued[0]["reason"].lower() or "exit" in requeued[0]["reason"].lower()
    extra = json.loads(episodes.set_index("episode").loc[2, "extra"])
    assert extra["requeued"] == [requeued[0]["reason"]]
    run(tmp_path / "local", "bad", f"mode=exit,on_episode=2,once={lost}", episodes=5)
    assert_same_episodes(tmp_path / "ray", tmp_path / "local")


def test_a_node_lost_mid_run_has_its_episodes_run_again_elsewhere(
    cluster: Any, tmp_path: Path
) -> None:
    """A third node joins, gets one of three env workers, and is removed mid-run (its raylet
    and every process on it killed, as when a machine goes away)."""
    import threading

    doomed = cluster.add_node(num_cpus=1, resources={"doomed": 1}, object_store_memory=80 * 2**20)
    cluster.wait_for_nodes()
    config = PolicyConfig.parse_args("bad", "mode=slow,sleep=0.03")
    settings = RunSettings(episodes=9, workers=3, executor="ray", ray_address=cluster.address)
    out = tmp_path / "ray"
    failure: list[BaseException] = []

    def drive() -> None:
        try:
            execute(config, "reach", settings, out, ["t"])
        except BaseException as exc:
            failure.append(exc)

    driver = threading.Thread(target=drive)
    driver.start()
    deadline = time.monotonic() + 120
    while not list(out.glob("parts/reach/*.episode.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    cluster.remove_node(doomed)
    driver.join(300)
    assert not driver.is_alive() and not failure, failure
    run = load_run(out)
    assert run.record.status == "complete" and sorted(run.episodes["episode"]) == list(range(9))
    requeued = run.record.latest.requeued
    assert requeued, "no episode was in flight on the lost node"
    assert all(r["attempt"] == 1 for r in requeued), requeued
    assert all("died" in r["reason"] for r in requeued), requeued
    local = RunSettings(episodes=9)
    execute(config, "reach", local, tmp_path / "local", ["t"])
    assert_same_episodes(out, tmp_path / "local")


def test_an_episode_that_kills_its_worker_every_time_is_recorded_as_crashed(
    cluster: Any, tmp_path: Path
) -> None:
    episodes = run(
        tmp_path / "ray",
        "bad",
        "mode=exit,on_episode=1",
        episodes=3,
        workers=2,
        placement="worker",
        executor="ray",
        ray_address=cluster.address,
    )
    assert list(episodes["outcome"]) == ["timeout", "policy_crash", "timeout"]
    assert "died 3 times" in episodes.set_index("episode").loc[1, "error"]
    assert len(load_run(tmp_path / "ray").record.latest.requeued) == 3


def test_a_host_crash_is_charged_to_the_episode_that_causes_it(
    cluster: Any, tmp_path: Path
) -> None:
    episodes = run(
        tmp_path / "ray",
        "bad",
        "mode=exit,on_episode=1",
        episodes=4,
        workers=2,
        placement="host",
        executor="ray",
        ray_address=cluster.address,
    )
    assert list(episodes["outcome"]) == ["timeout", "policy_crash", "timeout", "timeout"]
    assert "policy host actor died" in episodes.set_index("episode").loc[1, "error"]
    assert load_run(tmp_path / "ray").record.status == "complete"


def test_a_budget_holds_for_the_whole_cluster(cluster: Any, tmp_path: Path) -> None:
    """Two env workers on two nodes share one budget through their host: together they stop
    at it, not at twice it (each call costs 0.01 USD; an episode makes 40)."""
    config = PolicyConfig.parse_args("bad", "mode=paid,cost=0.01,max_cost=0.25")
    settings = RunSettings(
        episodes=6, workers=2, executor="ray", ray_address=cluster.address, placement="host"
    )
    report = execute(config, "reach", settings, tmp_path / "ray", ["t"])
    assert report.status == "stopped" and "max_cost 0.25 USD reached" in str(report.detail)
    spent = load_run(tmp_path / "ray").record.latest.spent_usd
    # Each session may start one call after the other pushed the total over the budget.
    assert 0.25 <= spent <= 0.25 + 2 * 0.01 + 1e-9


def test_a_policy_hanging_in_its_host_actor_ends_its_episode_as_a_timeout(
    cluster: Any, tmp_path: Path
) -> None:
    episodes = run(
        tmp_path / "ray",
        "bad",
        "mode=hang,on_episode=0",
        episodes=2,
        placement="host",
        step_timeout_s=1.0,
        executor="ray",
        ray_address=cluster.address,
    )
    assert list(episodes["outcome"]) == ["policy_timeout", "timeout"]
    assert "1s" in episodes.set_index("episode").loc[0, "error"]


def _bench(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_killing_the_driver_and_running_again_resumes(cluster: Any, tmp_path: Path) -> None:
    out = tmp_path / "ray"
    args = ["run", "--policy", "bad", "--policy-args", "mode=slow,sleep=0.01", "--task", "reach"]
    args += ["--episodes", "6", "--workers", "2", "--executor", "ray", "--hosts", "2"]
    args += ["--ray-address", cluster.address, "--out", str(out)]
    env = {**os.environ, "VLA_BENCH_PLUGINS": "toyplugin"}
    driver = _bench(*args, env=env)
    parts = out / "parts" / "reach"
    deadline = time.monotonic() + 120
    while not list(parts.glob("*.episode.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    done_before = len(list(parts.glob("*.episode.json")))
    assert 1 <= done_before < 6, "the driver was not killed mid-run"
    again = _bench(*args, env=env)
    output, _ = again.communicate(timeout=300)
    assert again.returncode == 0, output
    assert f"{6 - done_before} ran, {done_before} resumed" in output
    episodes = load_run(out).episodes
    assert sorted(episodes["episode"]) == list(range(6)), "an episode is missing or duplicated"
    run(tmp_path / "local", "bad", "mode=slow,sleep=0.01", episodes=6)
    assert_same_episodes(out, tmp_path / "local")


def test_bench_run_without_ray_never_imports_it_and_asks_for_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from harness.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "assert 'ray' not in sys.modules, 'bench run imported ray'\n"
    )
    env = {**os.environ, "VLA_BENCH_PLUGINS": "toyplugin"}
    local = ["run", "--policy", "linear", "--task", "reach", "--episodes", "2", "--workers", "2"]
    done = subprocess.run(
        [sys.executable, "-c", code, *local, "--out", str(tmp_path / "r")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    hidden = "import sys; sys.modules['ray'] = None  # as if not installed\n" + code.replace(
        "assert not exc.code", "assert exc.code"
    ).replace("assert 'ray' not", "assert sys.modules['ray'] is None or 'ray' not")
    refused = subprocess.run(
        [sys.executable, "-c", hidden, *local, "--executor", "ray", "--out", str(tmp_path / "x")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 0, refused.stderr
    assert "pip install 'vla-bench[ray]'" in refused.stderr
    assert not (tmp_path / "x").exists()
