"""Where episodes run: in the runner's process, or in env-worker processes around a policy host.

:class:`InlineExecutor` runs every episode in this process with the policy built here: the
fastest path, used for pure-Python policies registered ``in_process`` (the baselines) with one
worker, or when asked (``--isolate none``).

:class:`ProcessExecutor` is used otherwise. It forks ``workers`` env-worker processes, each
running the episode loop; the policy runs

- in a *policy host* process holding one model for all workers (``placement=host``, the
  default): a shared policy (``fork()``) answers the workers' observations in dynamic
  batches, any other keeps one copy per worker there;
- or in each env worker (``placement=worker``; the default for the pure-Python baselines,
  and always for privileged policies, which read the worker's simulator).

Why processes even for one worker: a policy that segfaults, is OOM-killed, calls ``os._exit``
or hangs in native code then ends one episode, recorded as ``policy_crash`` /
``policy_timeout`` with the exit signal, instead of the run (and a resume would hit the same
episode forever). The dead process is replaced and the run goes on. Workers are forked from
this process while it runs a single thread (no writer thread, a progress display without its
refresh thread), before any model is loaded, so they start in milliseconds without importing
again; each asks the kernel to kill it when this process dies (``PR_SET_PDEATHSIG``), so
``kill -9`` of the runner leaves no orphans holding memory or GPUs.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from multiprocessing.connection import Connection, Listener, wait
from pathlib import Path
from typing import Any, Protocol

from harness import pipes
from harness.contract import BudgetExceeded, EpisodeSpec, PolicyConfig, Spending
from harness.deadline import HANG_GRACE_S, Deadline
from harness.episode import describe_exception
from harness.evaluate import EpisodeEvaluator, Evaluated
from harness.policies import PolicyBuildError, PolicyTraits, build_policy
from harness.record import RunSettings
from harness.results import STEP_SCHEMA, EpisodeResult


@dataclass(frozen=True)
class Job:
    """One episode to run; ``alone`` when it runs with no other episode in flight (a retry
    after a policy-host crash, to find out which episode caused it)."""

    key: int
    task: str
    episode: EpisodeSpec
    alone: bool = False


@dataclass(frozen=True)
class PolicyFacts:
    """What the run record needs from a built policy: its description, the chunk length
    executed and whether it looks at images."""

    describe: dict[str, Any]
    n_action_steps: int | None
    uses_images: bool

    @classmethod
    def of(cls, evaluator: EpisodeEvaluator) -> PolicyFacts:
        """The facts of the policy an evaluator runs."""
        return cls(
            evaluator.describe(),
            evaluator.n_action_steps,
            bool(getattr(evaluator.policy, "uses_images", True)),
        )


class Sink(Protocol):
    """What an executor reports to: finished episodes, what is happening, when to stop."""

    def commit(self, job: Job, evaluated: Evaluated, facts: PolicyFacts | None) -> None:
        """Store one finished episode."""

    def phase(self, text: str) -> None:
        """Show what is happening now."""

    def stop_reason(self) -> str | None:
        """Why the run should stop early (e.g. ``--max-errors`` reached), or None."""


class StopRun(Exception):
    """Raised by an executor when the sink asked to stop; finished episodes are committed."""


# -- in this process ---------------------------------------------------------------------------


class InlineExecutor:
    """Every episode in this process (see the module docstring)."""

    def __init__(
        self,
        config: PolicyConfig,
        settings: RunSettings,
        out: Path,
        invocation: int,
        spending: Spending,
    ) -> None:
        self.config, self.settings, self.out = config, settings, out
        self.invocation, self.spending = invocation, spending
        self.warnings: list[str] = []

    def run(self, jobs: list[Job], sink: Sink) -> None:
        """Run ``jobs`` in order, committing each."""
        if not jobs:
            return
        sink.phase(f"loading policy {self.config.name}")
        policy, traits = build_policy(self.config)
        deadline = Deadline()
        deadline.install()
        evaluator = EpisodeEvaluator(
            policy,
            privileged=traits.privileged,
            settings=self.settings,
            out=self.out,
            invocation=self.invocation,
            spending=self.spending,
            deadline=deadline,
            phase=sink.phase,
        )
        try:
            for job in jobs:
                if (reason := sink.stop_reason()) is not None:
                    raise StopRun(reason)
                evaluated = evaluator.evaluate(job.task, job.episode)
                sink.commit(job, evaluated, PolicyFacts.of(evaluator))
        finally:
            deadline.remove()
            if (warning := evaluator.close()) is not None:
                self.warnings.append(warning)


# -- in worker processes -----------------------------------------------------------------------

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask the kernel for SIGKILL when the parent dies (Linux): the runner, or the fork server,
    which exits when the runner does. A parent that died before this took effect is gone
    already (this process was re-parented to init)."""
    parent = os.getppid()
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent == 1 or os.getppid() != parent:
        os._exit(1)


@dataclass(frozen=True)
class _Inherit:
    """What a worker takes from the runner as it is now, not as the fork server was started:
    the environment (plugins to load, API keys) and the import path."""

    environ: dict[str, str]
    path: list[str]

    @classmethod
    def now(cls) -> _Inherit:
        """The runner's environment and import path at this moment."""
        return cls(dict(os.environ), list(sys.path))


def _child_setup(inherit: _Inherit) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if dict(os.environ) != inherit.environ:
        os.environ.clear()
        os.environ.update(inherit.environ)
    sys.path[:] = inherit.path


def _signal_text(exitcode: int | None) -> str:
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


# Python 3.12 warns when a process with several OS threads forks. The forks here happen in a
# fresh `bench` process or in multiprocessing's fork server, whose other threads are native
# pools (OpenBLAS, Arrow) idle between calls, which both libraries make fork-safe with atfork
# handlers; no other Python thread runs, and the child runs only this module's code.
warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)


def process_context(fresh: bool) -> Any:
    """How worker processes start. ``fresh``: this process is a ``bench`` command that has
    created no GL context, CUDA context or thread of its own, so forking it is safe and makes
    a worker start in milliseconds. Anything else (a notebook, a test process, a library
    caller that rendered before) starts workers from multiprocessing's fork server: a clean
    interpreter with the engine imported, itself forked per worker, because a child forked
    from a process holding a GL context hangs when it renders."""
    if fresh:
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["harness.executors"])
    return context


@dataclass(frozen=True)
class _HostAddress:
    path: str
    authkey: bytes


def _worker_main(
    inherit: _Inherit,
    worker_id: int,
    conn: Connection,
    config: PolicyConfig,
    settings: RunSettings,
    out: Path,
    invocation: int,
    spending: Spending,
    host: _HostAddress | None,
) -> None:
    _child_setup(inherit)
    code = 0
    try:
        _worker_loop(worker_id, conn, config, settings, out, invocation, spending, host)
    except BaseException:  # reported to the parent as fatal below
        code = 1
    finally:
        conn.close()
        os._exit(code)  # never run the parent's atexit handlers in a forked child


def _worker_loop(
    worker_id: int,
    conn: Connection,
    config: PolicyConfig,
    settings: RunSettings,
    out: Path,
    invocation: int,
    spending: Spending,
    host: _HostAddress | None,
) -> None:
    current: list[int | None] = [None]

    def on_hang(what: str, seconds: float) -> None:
        with contextlib.suppress(Exception):
            pipes.send(conn, ("hung", worker_id, current[0], what, seconds))
        os._exit(3)

    def phase(text: str) -> None:
        with contextlib.suppress(Exception):
            pipes.send(conn, ("phase", worker_id, text))

    try:
        if host is not None:
            from harness.host import RemotePolicy

            phase("waiting for the policy host")
            policy: Any = RemotePolicy(host.path, host.authkey, settings.step_timeout_s)
            traits = PolicyTraits()
        else:
            phase(f"loading policy {config.name}")
            policy, traits = build_policy(config)
    except BaseException as exc:
        pipes.send(conn, ("fatal", worker_id, fatal_error(exc)))
        raise
    deadline = Deadline(on_hang=on_hang)
    deadline.install()
    evaluator = EpisodeEvaluator(
        policy,
        privileged=traits.privileged,
        settings=settings,
        out=out,
        invocation=invocation,
        spending=spending,
        deadline=deadline,
        in_worker=True,
        phase=phase,
    )
    pipes.send(conn, ("ready", worker_id))
    try:
        while True:
            message = pipes.receive(conn)
            if message[0] == "stop":
                return
            _, key, task, episode = message
            current[0] = key
            try:
                evaluated = evaluator.evaluate(task, episode)
            except BudgetExceeded as exc:
                pipes.send(conn, ("budget", worker_id, key, str(exc)))
                continue
            pipes.send(conn, ("done", worker_id, key, evaluated, PolicyFacts.of(evaluator)))
            current[0] = None
    finally:
        deadline.remove()
        evaluator.close()


def _host_main(
    inherit: _Inherit,
    ready: Connection,
    address: _HostAddress,
    config: PolicyConfig,
    settings: RunSettings,
    spending: Spending,
) -> None:
    _child_setup(inherit)
    try:
        from harness.host import serve

        # A restarted host takes over the address its predecessor left behind.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(address.path)
        listener = Listener(address.path, family="AF_UNIX", authkey=address.authkey)
        host, info = build_host(config, settings, spending)
        pipes.send(ready, ("ready", info))
    except BaseException as exc:
        with contextlib.suppress(Exception):
            pipes.send(ready, ("fatal", fatal_error(exc)))
        os._exit(1)
    ready.close()

    def stop(signum: int, frame: Any) -> None:
        from harness.evaluate import close_quietly

        close_quietly(host, CLOSE_TIMEOUT_S)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)  # the runner's way to end the host: close, then exit
    try:
        serve(listener, host, info)
    finally:
        os._exit(0)


def crashed_episode(job: Job, invocation: int, outcome: str, error: str, crash: str) -> Evaluated:
    """The record of an episode whose process died under it: no steps, ``outcome`` and
    ``error`` say why, ``extra["crash"]`` how the process ended."""
    result = EpisodeResult(
        task=job.task,
        episode=job.episode.index,
        seed=job.episode.seed,
        instruction="",
        success=False,
        outcome=outcome,
        steps=0,
        error=error,
        invocation=invocation,
        extra={"crash": crash},
    )
    return Evaluated(result, STEP_SCHEMA.empty_table(), {})


def build_host(
    config: PolicyConfig, settings: RunSettings, spending: Spending
) -> tuple[Any, dict[str, Any]]:
    """The policy host for ``config`` (a :class:`~harness.host.PolicyHost` around a shared
    policy, else a :class:`~harness.host.CopiesHost`) and what env workers need to know of it."""
    from harness.host import CopiesHost, PolicyHost, observes

    policy, _ = build_policy(config)
    if hasattr(policy, "spending"):
        policy.spending = spending
    host: Any
    if callable(getattr(policy, "fork", None)):
        host = PolicyHost(
            policy, max_batch=settings.max_batch, max_wait_s=settings.max_wait_ms / 1000
        )
    else:
        host = CopiesHost(policy, lambda: _build_copy(config, spending))
    info = {
        "n_action_steps": getattr(policy, "n_action_steps", None),
        "uses_images": bool(getattr(policy, "uses_images", True)),
        "warmup_calls": int(getattr(policy, "warmup_calls", 1)),
        "observes": observes(policy),
        "shared": isinstance(host, PolicyHost),
    }
    return host, info


def resolve_placement(placement: str, traits: PolicyTraits, name: str) -> str:
    """Where the policy runs (``host`` or ``worker``) for ``--placement`` and its traits."""
    if placement == "auto":
        # Experts read the worker's simulator; pure-Python baselines cost nothing to copy.
        placement = "worker" if traits.privileged or traits.in_process else "host"
    if placement == "host" and traits.privileged:
        raise ValueError(
            f"policy {name!r} is privileged (reads the simulator): it runs beside "
            "each env worker; drop --placement host"
        )
    return placement


def fatal_error(exc: BaseException) -> tuple[str, str]:
    """(one line, full traceback) of an error that stops a child from starting."""
    import traceback

    line = str(exc) if isinstance(exc, PolicyBuildError) else describe_exception(exc, limit=0)
    return line, "".join(traceback.format_exception(exc))


def build_error(fatal: tuple[str, str]) -> PolicyBuildError:
    error = PolicyBuildError(fatal[0])
    error.remote_traceback = fatal[1]  # type: ignore[attr-defined]
    return error


def _build_copy(config: PolicyConfig, spending: Spending) -> Any:
    policy, _ = build_policy(config)
    if hasattr(policy, "spending"):
        policy.spending = spending
    return policy


@dataclass
class _Worker:
    id: int
    process: Any
    conn: Connection
    job: Job | None = None
    ready: bool = False
    hung: tuple[str, float] | None = None


CLOSE_TIMEOUT_S = 10.0
"""How long a policy's ``close()`` may take at the end of a run before it is abandoned."""

MAX_START_FAILURES = 3
"""Consecutive worker or host deaths before any progress after which the run fails."""


class ProcessExecutor:
    """Episodes in forked env workers, the policy in a host or in each worker (see above)."""

    def __init__(
        self,
        config: PolicyConfig,
        settings: RunSettings,
        out: Path,
        invocation: int,
        spending: Spending,
        *,
        traits: PolicyTraits,
        fresh_process: bool = False,
    ) -> None:
        self.config, self.settings, self.out = config, settings, out
        self.invocation, self.spending = invocation, spending
        self.placement = resolve_placement(settings.placement, traits, config.name)
        self.warnings: list[str] = []
        self._context = process_context(fresh_process)
        self._workers: dict[int, _Worker] = {}
        self._host: Any = None
        self._host_ready: Connection | None = None
        self._host_info: dict[str, Any] | None = None
        self._address: _HostAddress | None = None
        self._tmp: str | None = None
        self._failures = 0
        self._queue: list[Job] = []
        self._last_host_exit = "state unknown"

    # -- process management ------------------------------------------------------------------
    def _start_host(self) -> None:
        assert self._address is not None
        ready, child_end = self._context.Pipe(duplex=False)
        self._host = self._context.Process(
            target=_host_main,
            args=(
                _Inherit.now(),
                child_end,
                self._address,
                self.config,
                self.settings,
                self.spending.for_slot(0),
            ),
            name="vla-bench-host",
        )
        self._host.start()
        child_end.close()
        self._host_ready = ready

    def _start_worker(self, worker_id: int) -> None:
        parent_end, child_end = self._context.Pipe()
        process = self._context.Process(
            target=_worker_main,
            args=(
                _Inherit.now(),
                worker_id,
                child_end,
                self.config,
                self.settings,
                self.out,
                self.invocation,
                self.spending.for_slot(worker_id + 1),
                self._address,
            ),
            name=f"vla-bench-worker-{worker_id}",
        )
        process.start()
        child_end.close()
        self._workers[worker_id] = _Worker(worker_id, process, parent_end)

    def _shutdown(self) -> None:
        for worker in self._workers.values():
            with contextlib.suppress(OSError, ValueError):
                pipes.send(worker.conn, ("stop",))
        deadline = time.monotonic() + CLOSE_TIMEOUT_S + 5
        for worker in self._workers.values():
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
                self.warnings.append(f"env worker {worker.id} did not stop; killed")
            worker.conn.close()
        if self._host is not None:
            self._host.terminate()
            self._host.join(CLOSE_TIMEOUT_S + 5)
            if self._host.is_alive():
                self._host.kill()
                self._host.join()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def _kill_all(self) -> None:
        for worker in self._workers.values():
            with contextlib.suppress(Exception):
                worker.process.kill()
        if self._host is not None:
            with contextlib.suppress(Exception):
                self._host.kill()

    # -- the loop ----------------------------------------------------------------------------
    def run(self, jobs: list[Job], sink: Sink) -> None:
        """Run ``jobs`` across the workers, committing each as it finishes."""
        if not jobs:
            return
        queue = list(jobs)
        n_workers = min(self.settings.workers, len(jobs))
        if self.placement == "host":
            self._tmp = tempfile.mkdtemp(prefix="vla-bench-host-")
            self._address = _HostAddress(os.path.join(self._tmp, "host.sock"), os.urandom(32))
        try:
            # Fork the workers first: they block on the host's socket until it is ready.
            for worker_id in range(n_workers):
                self._start_worker(worker_id)
            if self._address is not None:
                sink.phase(f"loading policy {self.config.name} in the policy host")
                self._start_host()
            self._loop(queue, sink)
        except BaseException:
            self._kill_all()
            raise
        finally:
            self._shutdown()

    def _loop(self, queue: list[Job], sink: Sink) -> None:
        self._queue = queue
        in_flight = 0
        while queue or in_flight:
            if (stop := sink.stop_reason()) is not None:
                queue.clear()
                raise StopRun(stop)
            for worker in self._workers.values():
                busy = [w.job for w in self._workers.values() if w.job is not None]
                if not (worker.ready and worker.job is None and queue):
                    continue
                if any(j.alone for j in busy) or (queue[0].alone and busy):
                    break  # a suspect runs alone
                worker.job = queue.pop(0)
                in_flight += 1
                pipes.send(
                    worker.conn, ("job", worker.job.key, worker.job.task, worker.job.episode)
                )
            handles: dict[Any, Any] = {}
            for worker in self._workers.values():
                handles[worker.conn] = ("conn", worker)
                handles[worker.process.sentinel] = ("dead", worker)
            if self._host_ready is not None:
                handles[self._host_ready] = ("host_ready", None)
            if self._host is not None:
                handles[self._host.sentinel] = ("host_dead", None)
            for ready in wait(list(handles), timeout=1.0):
                kind, worker = handles[ready]
                if kind == "conn":
                    in_flight -= self._on_message(worker, sink)
                elif kind == "dead":
                    in_flight -= self._on_worker_death(worker, sink)
                elif kind == "host_ready":
                    self._on_host_ready(sink)
                elif kind == "host_dead":
                    self._on_host_death(sink)

    def _on_message(self, worker: _Worker, sink: Sink) -> int:
        try:
            message = pipes.receive(worker.conn)
        except (EOFError, OSError):
            return 0  # its death is handled through the sentinel
        return self._handle(worker, message, sink)

    def _handle(self, worker: _Worker, message: tuple[Any, ...], sink: Sink) -> int:
        """Act on one message from a worker; returns 1 when it finished an episode."""
        kind = message[0]
        if kind == "ready":
            worker.ready = True
            self._failures = 0
        elif kind == "phase":
            sink.phase(f"worker {worker.id}: {message[2]}")
        elif kind == "hung":
            worker.hung = (message[3], message[4])
        elif kind == "fatal":
            raise build_error(message[2])
        elif kind == "budget":
            raise BudgetExceeded(message[3])
        elif kind == "done":
            _, _, key, evaluated, facts = message
            job = worker.job
            assert job is not None and job.key == key
            worker.job = None
            self._failures = 0
            outcome = evaluated.result.outcome
            if outcome == "policy_crash" and self._host is not None:
                if not job.alone:
                    # The host serves every worker: its crash ended all episodes in flight.
                    # Each runs again with nothing beside it, so the crash is charged to the
                    # episode that causes it (a deterministic crash recurs; the others pass).
                    self._queue.append(dataclasses.replace(job, alone=True))
                    return 1
                evaluated.result.error = f"{evaluated.result.error} ({self._host_exit()})"
            sink.commit(job, evaluated, facts)
            if outcome == "policy_timeout" and self._host is not None:
                self._check_host(sink)
            return 1
        return 0

    def _on_worker_death(self, worker: _Worker, sink: Sink) -> int:
        finished = 0
        while True:  # what it sent before it died counts
            try:
                if not worker.conn.poll():
                    break
                message = pipes.receive(worker.conn)
            except (EOFError, OSError):
                break
            finished += self._handle(worker, message, sink)
        worker.process.join()
        status = _signal_text(worker.process.exitcode)
        job, worker.job = worker.job, None
        worker.conn.close()
        del self._workers[worker.id]
        if job is not None:
            sink.commit(job, self._crash_episode(job, worker, status), None)
            finished += 1
        elif not worker.ready:
            self._failures += 1
            if self._failures >= MAX_START_FAILURES:
                raise PolicyBuildError(f"env workers keep dying before they start ({status})")
        sink.phase(f"worker {worker.id} {status}; starting a new one")
        self._start_worker(worker.id)
        return finished

    def _crash_episode(self, job: Job, worker: _Worker, status: str) -> Evaluated:
        if worker.hung is not None:
            what, seconds = worker.hung
            outcome = "policy_timeout" if what.startswith("act") else "sim_error"
            error = (
                f"{what} was still running {seconds:g}s past its limit and ignored the alarm; "
                f"the worker process was ended ({status})"
            )
        elif self.placement == "worker":
            outcome = "policy_crash"
            error = f"the worker process running the policy and the simulator died ({status})"
        else:
            outcome = "sim_error"
            error = f"the env worker process died while simulating ({status})"
        return crashed_episode(job, self.invocation, outcome, error, status)

    def _host_exit(self) -> str:
        """How the host that a worker just lost ended (it may already have been replaced)."""
        self._host.join(1)  # the one that died, or its successor (then the last death counts)
        if self._host.exitcode is not None:
            return f"policy host {_signal_text(self._host.exitcode)}"
        return f"policy host {self._last_host_exit}"

    def _check_host(self, sink: Sink) -> None:
        """After a timed-out call, make sure the host is not stuck in it: a host whose policy
        thread does not answer a ping within the grace period is killed (and restarted when
        its death is seen), so one hung call cannot stall every later episode."""
        if self._address is None or self._host_ready is not None or not self._host.is_alive():
            return
        from harness.host import RemotePolicy

        alive = False
        with contextlib.suppress(Exception):
            probe = RemotePolicy(self._address.path, self._address.authkey, HANG_GRACE_S)
            alive = probe.ping(HANG_GRACE_S)
            probe.close()
        if not alive:
            sink.phase("the policy host is stuck in a call; restarting it")
            self._host.kill()

    def _on_host_ready(self, sink: Sink) -> None:
        assert self._host_ready is not None
        try:
            message = pipes.receive(self._host_ready)
        except (EOFError, OSError):
            message = None
        self._host_ready.close()
        self._host_ready = None
        if message is None:
            return  # the host died before it could say; handled through its sentinel
        if message[0] == "fatal":
            raise build_error(message[1])
        self._host_info = message[1]
        self._failures = 0
        sink.phase("policy host ready")

    def _on_host_death(self, sink: Sink) -> None:
        self._host.join()
        status = _signal_text(self._host.exitcode)
        self._last_host_exit = status
        if self._host_ready is not None:
            self._host_ready.close()
            self._host_ready = None
            self._failures += 1
            if self._failures >= MAX_START_FAILURES:
                raise PolicyBuildError(f"the policy host keeps dying while it starts ({status})")
        sink.phase(f"policy host {status}; starting a new one")
        self._start_host()
