"""What must hold whatever a policy, a simulator or a user does: no data lost, no run killed by
one episode, no orphaned processes, one clear line for bad input. Real processes, real
signals, real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from test_cli import bench

from harness.contract import PolicyConfig
from harness.errors import RunConfigError, RunFormatError
from harness.record import RunSettings
from harness.results import RunStore, load_run
from harness.run import execute
from harness.signals import interrupts_held


def run(
    out: Path, policy: str, args: str | None = None, task: str = "reach", **settings: object
) -> pd.DataFrame:
    config = PolicyConfig.parse_args(policy, args)
    execute(config, task, RunSettings(**settings), out, ["test"])  # type: ignore[arg-type]
    return load_run(out).episodes


def outcomes(episodes: pd.DataFrame) -> list[str]:
    return list(episodes.sort_values("episode")["outcome"])


# -- the user's files ------------------------------------------------------------------------


def _user_files(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (but run locks, which name the last process to hold them)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and p.name != ".lock"
    }


def test_a_failing_policy_never_removes_a_directory_it_did_not_create(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for name in ("a", "b"):
        bench("run", "--policy", "flaky", "--task", "reach", "--episodes", "1",
              "--out", str(runs / name))  # fmt: skip
    (runs / "notes.txt").write_text("my notes")
    before = _user_files(runs)
    for out in (str(runs), "."):
        result = bench("run", "--policy", "unbuildable", "--task", "reach", "--out", out,
                       check=False, cwd=runs)  # fmt: skip
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert "non-empty directory that holds no run" in result.stderr
    assert _user_files(runs) == before
    # a run directory whose policy fails to build on resume keeps every episode
    result = bench("run", "--policy", "flaky", "--task", "reach", "--episodes", "2",
                   "--out", str(runs / "a"), check=False, env={"TOY_FAIL_BUILD": "1"})  # fmt: skip
    assert result.returncode == 1 and "the checkpoint went away" in result.stderr
    assert load_run(runs / "a").record.status == "failed"
    after = _user_files(runs)
    assert {k: v for k, v in after.items() if k != "a/run.json"} == {
        k: v for k, v in before.items() if k != "a/run.json"
    }


def test_episodes_without_a_run_record_are_never_adopted(tmp_path: Path) -> None:
    out = tmp_path / "r"
    run(out, "scripted", episodes=2)
    (out / "run.json").unlink()
    with pytest.raises(RunConfigError, match=r"holds episodes \(parts/\) but no run.json"):
        run(out, "random", episodes=2)
    assert len(list(out.glob("parts/reach/*.episode.json"))) == 2


def test_a_second_run_into_the_same_directory_is_refused_while_the_first_runs(
    tmp_path: Path,
) -> None:
    out = tmp_path / "r"
    first = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "--policy", "bad", "--policy-args",
         "mode=slow,sleep=0.05", "--task", "reach", "--episodes", "4", "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (out / "run.json").exists():
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        args = ("--policy-args", "mode=slow,sleep=0.05", "--episodes", "4", "--out", str(out))
        second = bench("run", "--policy", "bad", "--task", "reach", *args, check=False)
        assert second.returncode == 1
        assert f"is in use by PID {first.pid}" in second.stderr
    finally:
        first.wait(timeout=120)
    assert first.returncode == 0
    assert sorted(load_run(out).episodes["episode"]) == [0, 1, 2, 3]


def test_resume_keeps_each_invocation_and_refuses_a_different_step_timeout(tmp_path: Path) -> None:
    out = tmp_path / "r"
    run(out, "scripted", episodes=2)
    (out / "parts" / "reach" / ".vla-tmp.000005.steps.arrow.x1y2").write_bytes(b"torn")
    episodes = run(out, "scripted", episodes=4)
    record = load_run(out).record
    assert len(record.invocations) == 2 and record.invocations[0].ran == 2
    assert record.invocations[1].ran == 2 and record.invocations[0].provenance["git"]
    assert dict(zip(episodes["episode"], episodes["invocation"], strict=True)) == {
        0: 0, 1: 0, 2: 1, 3: 1
    }  # fmt: skip
    assert not list(out.rglob(".vla-tmp.*")), "a killed writer's temporaries are removed"
    with pytest.raises(RunConfigError, match=r"step_timeout_s 300\.0 != 5\.0"):
        run(out, "scripted", episodes=4, step_timeout_s=5.0)


def test_an_edited_or_torn_part_is_named_not_silently_merged(tmp_path: Path) -> None:
    out = tmp_path / "r"
    run(out, "scripted", episodes=3)
    row_path = out / "parts" / "reach" / "000001.episode.json"
    row = json.loads(row_path.read_text())
    row_path.write_text(json.dumps({**row, "episode": 2}))
    with pytest.raises(RunFormatError, match=r"parts/reach/000001.episode.json does not hold"):
        run(out, "scripted", episodes=4)  # a resume consolidates: the edited row is named
    assert RunStore(out).read_record().status == "failed"  # type: ignore[union-attr]
    row_path.write_text(json.dumps(row))
    (out / "parts" / "reach" / "000002.steps.arrow").write_bytes(b"\x00torn")
    with pytest.raises(RunFormatError, match=r"000002.steps.arrow is unreadable"):
        run(out, "scripted", episodes=4)
    result = bench("compare", str(out), str(out), check=False)
    assert result.returncode == 1 and "000002.steps.arrow is unreadable" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(list(out.glob("parts/reach/*.episode.json"))) == 4, "nothing was deleted"


def test_a_parts_folder_linked_out_of_the_run_directory_is_refused(tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "r", tmp_path / "elsewhere"
    run(out, "scripted", episodes=1)
    elsewhere.mkdir()
    folder = out / "parts" / "reach"
    for part in folder.iterdir():
        part.rename(elsewhere / part.name)
    before = sorted(p.name for p in elsewhere.iterdir())
    folder.rmdir()
    folder.symlink_to(elsewhere)
    with pytest.raises(RunFormatError, match=r"parts/reach leaves the run directory"):
        run(out, "scripted", episodes=2)
    assert sorted(p.name for p in elsewhere.iterdir()) == before, "nothing written through it"


# -- misbehaving policies and simulators ------------------------------------------------------


@pytest.mark.parametrize("placement", ["host", "worker"])
@pytest.mark.parametrize("mode", ["segfault", "exit"])
def test_a_crashing_policy_ends_its_episode_and_the_run_goes_on(
    tmp_path: Path, mode: str, placement: str
) -> None:
    out = tmp_path / "r"
    args = f"mode={mode},on_episode=1"
    episodes = run(out, "bad", args, episodes=4, workers=2, placement=placement)
    assert outcomes(episodes) == ["timeout", "policy_crash", "timeout", "timeout"]
    error = episodes.set_index("episode").loc[1, "error"]
    assert ("SIGSEGV" if mode == "segfault" else "exit code 7") in error
    assert load_run(out).record.status == "complete"
    # resuming does not run the crashed episode again
    report = execute(PolicyConfig.parse_args("bad", args), "reach",
                     RunSettings(episodes=5, placement=placement), out, ["test"])  # fmt: skip
    assert (report.ran, report.skipped) == (1, 4)


_LOSE_THE_HOST = """
import gc, sys, threading
from multiprocessing.connection import Listener
from harness import pipes
from harness.episode import PolicyCrash
from harness.host import RemotePolicy

address, key = sys.argv[1], b"k" * 32
listener = Listener(address, family="AF_UNIX", authkey=key)

def host():  # answers the worker's first request, then dies (closes everything)
    conn = listener.accept()
    pipes.receive(conn)
    pipes.send(conn, ("ok", {"n_action_steps": None, "uses_images": False}))
    conn.close()
    listener.close()

thread = threading.Thread(target=host)
thread.start()
policy = RemotePolicy(address, key, 0.0)
thread.join()
try:
    policy.act({"state": bytearray(4096)})
except PolicyCrash as exc:
    exc.kept = exc  # a cycle, as the episode that records its error makes
    print(exc)
gc.collect()
print("survived")
"""


def test_a_worker_that_loses_its_policy_host_survives_its_garbage_collection(
    tmp_path: Path,
) -> None:
    """The failed send to a dead host leaves no exported buffer that the collector can free
    in the wrong order (a segfault on Python 3.12.1 with ``Connection.send``)."""
    done = subprocess.run(
        [sys.executable, "-c", _LOSE_THE_HOST, str(tmp_path / "host.sock")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "policy host process died" in done.stdout
    assert done.stdout.rstrip().endswith("survived")
    assert "SystemError" not in done.stderr


def test_one_worker_runs_an_untrusted_policy_in_a_child_process(tmp_path: Path) -> None:
    episodes = run(tmp_path / "r", "bad", "mode=segfault,on_episode=0", episodes=2)
    assert outcomes(episodes) == ["policy_crash", "timeout"]


@pytest.mark.parametrize(
    ("mode", "outcome", "needle"),
    [
        ("unprintable", "policy_error", "<unprintable: __str__ raised RuntimeError>"),
        ("sysexit", "policy_error", "SystemExit: 3"),
        ("ctrlc", "policy_error", "KeyboardInterrupt"),
        ("nancost", "bad_action", "cost_usd=nan"),
        ("catch", "policy_timeout", "--step-timeout 0.5s"),
    ],
)
def test_policies_that_escape_ordinary_errors_are_still_recorded(
    tmp_path: Path, mode: str, outcome: str, needle: str
) -> None:
    episodes = run(tmp_path / "r", "bad", f"mode={mode}", episodes=2, step_timeout_s=0.5)
    assert outcomes(episodes) == [outcome, outcome]
    assert episodes["error"].str.contains(needle, regex=False).all()


def test_describe_and_close_that_raise_or_hang_do_not_end_the_run(tmp_path: Path) -> None:
    episodes = run(tmp_path / "a", "bad", "mode=baddescribe", episodes=1, workers=1)
    assert outcomes(episodes) == ["timeout"]
    describe = load_run(tmp_path / "a").record.policy.describe or {}
    assert "describe exploded" in describe["describe_error"]
    for mode in ("badclose", "hangclose"):
        config = PolicyConfig.parse_args("bad", f"mode={mode}")
        settings = RunSettings(episodes=1, isolate="none")
        report = execute(config, "reach", settings, tmp_path / mode, ["t"])
        assert report.status == "complete"
        assert any("close()" in w for w in report.warnings), report.warnings


@pytest.mark.parametrize(
    ("mode", "needle"),
    [
        ("info_none", "info of type NoneType"),
        ("str_reward", "reward of type str"),
        ("nan_reward", "non-finite reward"),
        ("sleep", "env.step hung for more than 0.5s"),
        ("native_hang", "env.step was still running"),
        ("segfault", "env worker process died while simulating (killed by SIGSEGV)"),
    ],
)
def test_simulator_faults_are_sim_errors_not_policy_errors(
    tmp_path: Path, mode: str, needle: str
) -> None:
    settings = {"episodes": 2, "sim_timeout_s": 0.5, "task_options": {"mode": mode}}
    episodes = run(tmp_path / "r", "bad", "mode=ok", **settings)
    assert outcomes(episodes) == ["sim_error", "sim_error"]
    assert episodes["error"].str.contains(needle, regex=False).all(), episodes["error"][0]


# -- processes and signals --------------------------------------------------------------------


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found |= {int(c) for c in text}
    return found | {g for c in list(found) for g in _children(c)} if found else found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_slow_run(out: Path, marks: Path, *extra: str) -> subprocess.Popen[str]:
    marks.mkdir()
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "--policy", "bad", "--policy-args",
         f"mode=slow,sleep=0.5,mark={marks}", "--task", "reach", "--episodes", "8",
         "--out", str(out), *extra],
        text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _wait_for_calls(marks: Path, processes: int, proc: subprocess.Popen[str]) -> None:
    """Until ``processes`` different processes called the policy (observable, no sleeps)."""
    deadline = time.monotonic() + 90
    while len({p.name.split("-")[0] for p in marks.iterdir()}) < processes:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the workers did not start in time"
        time.sleep(0.05)


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_workers_die_with_the_runner_and_sigterm_stops_cleanly(tmp_path: Path, how: str) -> None:
    out = tmp_path / "r"
    proc = _start_slow_run(out, tmp_path / "marks", "--workers", "2", "--placement", "worker")
    _wait_for_calls(tmp_path / "marks", 2, proc)
    children = _children(proc.pid)
    assert len(children) >= 2
    proc.send_signal(getattr(signal, how))
    _, stderr = proc.communicate(timeout=60)
    deadline = time.monotonic() + 10
    while any(_alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [c for c in children if _alive(c)], "orphaned worker processes"
    status = load_run(out).record.status
    if how == "SIGTERM":
        assert proc.returncode == 143 and status == "interrupted", stderr
    else:
        assert status == "running"  # what a killed run looks like; a resume continues it


def test_ctrl_c_with_workers_stops_without_waiting_for_episodes_in_flight(
    tmp_path: Path,
) -> None:
    """Episodes take 20 s here (40 steps of 0.5 s); Ctrl-C must not wait for them to end."""
    out = tmp_path / "r"
    proc = _start_slow_run(out, tmp_path / "marks", "--workers", "2")
    _wait_for_calls(tmp_path / "marks", 1, proc)  # the host process is answering calls
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=25)
    assert proc.returncode == 130, stderr
    assert time.monotonic() - started < 15
    assert "interrupted" in stdout
    run_ = load_run(out)
    assert run_.record.status == "interrupted"
    assert len(run_.episodes) == 0  # nothing in flight was committed half-done


# -- first contact ----------------------------------------------------------------------------


def test_a_factory_error_is_one_line_and_debug_shows_the_traceback(tmp_path: Path) -> None:
    args = ("run", "--policy", "broken", "--task", "reach", "--out", str(tmp_path / "r"))
    result = bench(*args, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "policy 'broken' could not be built: OSError: no weights at /nowhere" in result.stderr
    result = bench("--debug", *args, check=False)
    assert "Traceback" in result.stderr and "toyplugin.py" in result.stderr


def test_max_errors_stops_a_misconfigured_run_early(tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = bench("run", "--policy", "bad", "--policy-args", "mode=raise", "--task", "reach",
                   "--fail-fast", "--out", str(out), check=False)  # fmt: skip
    assert result.returncode == 1
    record = load_run(out).record
    assert record.status == "stopped" and "--max-errors 1" in str(record.status_detail)
    assert len(load_run(out).episodes) < 12


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: room for a few episodes of the toy task, then ENOSPC."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_one_line_keeps_finished_episodes_and_resumes(small_disk: Path) -> None:
    out = small_disk / "r"
    args = ("run", "--policy", "scripted", "--task", "reach", "--out", str(out))
    result = bench(*args, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "no space left to write" in result.stderr and "re-run the same command" in (
        result.stderr
    )
    rows = sorted(out.glob("parts/reach/*.episode.json"))
    assert 0 < len(rows) < 12
    assert all(json.loads(p.read_text())["outcome"] == "success" for p in rows)
    json.loads((out / "run.json").read_text())  # still whole
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    bench(*args)
    assert sorted(load_run(out).episodes["episode"]) == list(range(12))


def test_a_stop_sent_while_interrupts_are_held_arrives_when_the_block_ends() -> None:
    """The signals come from a thread started before the block, as a data loader's or a
    writer's would be: the kernel may hand it a process's signal, since blocking signals in the
    main thread does not block them there. The block finishes first all the same; then the
    handlers in place see both signals."""
    events: list[str] = []
    terms: list[int] = []
    go, sent = threading.Event(), threading.Event()

    def send() -> None:
        go.wait(10)
        for sig in (signal.SIGINT, signal.SIGTERM):
            os.kill(os.getpid(), sig)
        sent.set()

    sender = threading.Thread(target=send)
    sender.start()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: terms.append(signum))
    try:
        with pytest.raises(KeyboardInterrupt), interrupts_held():
            go.set()
            assert sent.wait(10)
            time.sleep(0.1)  # time for a handler to run, were one to run now
            events.append("block finished")
        assert events == ["block finished"] and terms == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGTERM, previous)
        sender.join()
