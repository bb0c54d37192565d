"""Episodes across a Ray cluster (``bench run --executor ray``).

The layout is :class:`~harness.executors.ProcessExecutor`'s, with Ray actors for processes:

- **env workers** are :class:`EnvWorker` actors, one CPU each, spread over the cluster's nodes.
  Each runs the episode loop (:class:`~harness.evaluate.EpisodeEvaluator`) with the policy
  beside it (``placement=worker``: the baselines, and always privileged experts) or with a
  :class:`HostProxy` whose calls go to a policy host actor;
- **policy hosts** are :class:`Host` actors (``--hosts N``, each with ``--host-gpus G``) holding
  one model each and batching the observations of the env workers bound to them (worker ``i``
  uses host ``i mod N``) through :class:`~harness.host.PolicyHost`;
- **the driver** (this process, the ``bench run`` command) alone writes the run directory: an
  env worker returns each finished episode with the files it wrote (videos, keyframes,
  rollouts, into a scratch folder on its node), and the driver commits them as the local path
  does. Atomic commits, the lock, resume after the driver is killed (its actors die with it:
  Ray ends the actors of a dead driver) and crash recording hold as they do locally.

Losing a node: an env worker actor that dies with an episode in flight (its node lost, its
process killed, or a hang it ended, see :mod:`harness.deadline`) has that episode run again on
a new actor, up to :data:`MAX_ATTEMPTS` times; every re-run is recorded (the episode's
``extra["requeued"]`` and the invocation's ``requeued`` in run.json), and an episode that kills
its worker every time is recorded as crashed (``sim_error``, or ``policy_crash`` when the policy
ran in the worker). A host actor that dies ends the calls in flight as ``policy_crash``; as
locally, those episodes run again one at a time on a new host, so a crash is charged to the
episode that causes it.

Results do not depend on placement: every episode is a function of its seed, wherever it runs
(tests compare a two-node run with a local one, bit for bit).

Environment: actors see the driver's ``VLA_BENCH_*``, ``MUJOCO_*``, ``PYOPENGL_*``, ``HF_*``,
``OMP_*``/``MKL_*``/``OPENBLAS_*`` and ``*_API_KEY`` variables and its import path entries that
exist on their node; the rest is the node's own. Ray is imported only by this module, which
``bench run`` imports only for ``--executor ray``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayError

from harness.contract import (
    ActionChunk,
    BudgetExceeded,
    EpisodeSpec,
    Observation,
    PolicyConfig,
    Spending,
    TaskSpec,
)
from harness.deadline import HANG_GRACE_S, Deadline
from harness.evaluate import EpisodeEvaluator
from harness.executors import (
    CLOSE_TIMEOUT_S,
    MAX_START_FAILURES,
    Job,
    PolicyFacts,
    Sink,
    StopRun,
    build_error,
    build_host,
    crashed_episode,
    fatal_error,
    resolve_placement,
)
from harness.policies import PolicyBuildError, PolicyTraits, build_policy
from harness.record import RunSettings
from harness.results import atomic_write_bytes

MAX_ATTEMPTS = 3
"""How many times an episode runs at most when its env worker actor keeps dying under it."""

PLACEMENT_HINT_S = 30.0
"""After this long without a started env worker, say what the Ray cluster lacks."""

READY_TIMEOUT_S = 600.0
"""How long an env worker waits for a host actor to answer a reset or open (model loading)."""

_PASSED_PREFIXES = ("VLA_BENCH_", "MUJOCO_", "PYOPENGL_", "HF_", "OMP_", "MKL_", "OPENBLAS_")
_PASSED_SUFFIXES = ("_API_KEY",)


@dataclass(frozen=True)
class Inherit:
    """What an actor takes from the driver: the variables named in the module docstring and
    the import path (plugins under development, loaded through ``VLA_BENCH_PLUGINS``)."""

    environ: dict[str, str]
    path: list[str]

    @classmethod
    def now(cls) -> Inherit:
        """The driver's passed variables and import path at this moment."""
        environ = {
            k: v
            for k, v in os.environ.items()
            if k.startswith(_PASSED_PREFIXES) or k.endswith(_PASSED_SUFFIXES)
        }
        return cls(environ, [p for p in sys.path if p])

    def apply(self) -> None:
        """Take the variables over and put the path entries that exist here in front."""
        os.environ.update(self.environ)
        missing = [p for p in self.path if p not in sys.path and os.path.isdir(p)]
        sys.path[:0] = missing


# -- the policy host actor --------------------------------------------------------------------


class Host:
    """A policy host as a Ray actor: one model, the sessions of several env workers batched
    (a threaded actor: each call waits on its own thread while the host thread batches)."""

    def __init__(self, inherit: Inherit) -> None:
        inherit.apply()
        self._host: Any = None
        self._sessions: dict[int, Any] = {}
        self._next = 0
        # 0: what the driver committed; 1: what the episodes in flight here spent so far
        self._ledger = Spending(slots=2)
        self._flight: dict[int, float] = {}
        self._lock = threading.Lock()  # calls arrive on several actor threads at once

    def start(self, config: PolicyConfig, settings: RunSettings) -> tuple[Any, ...]:
        """Build the policy: ``("ready", info)`` or ``("fatal", (line, traceback))``."""
        try:
            self._host, info = build_host(config, settings, self._ledger.for_slot(1))
        except BaseException as exc:
            return ("fatal", fatal_error(exc))
        return ("ready", info)

    def open(self) -> int:
        """A new session; its number."""
        session = self._host.open()
        with self._lock:
            self._next += 1
            self._sessions[self._next] = session
            return self._next

    def call(
        self,
        sid: int,
        op: str,
        args: tuple[Any, ...],
        observed: list[Observation],
        spent: float,
    ) -> tuple[Any, ...]:
        """``op`` (``reset``, ``act``, ``describe``) for session ``sid``, after passing on the
        observations of the steps it queued since its last call; ``spent``: what the
        session's episode has spent so far (a budgeted policy here sees the committed total
        plus every episode in flight). A reply tuple of :mod:`harness.host`."""
        from harness.host import error_reply

        with self._lock:
            self._flight[sid] = spent
            self._ledger.replace_slot(1, sum(self._flight.values()))
            session = self._sessions[sid]
        try:
            for observation in observed:
                outcome = session.observe(observation)
                if hasattr(outcome, "result"):
                    outcome.result()
            return ("ok", getattr(session, op)(*args))
        except BaseException as exc:  # reported to the env worker, never fatal here
            return error_reply(exc)

    def release(self, sid: int) -> None:
        """Session ``sid`` is done."""
        with self._lock:
            session = self._sessions.pop(sid, None)
            self._flight.pop(sid, None)
        if session is not None:
            self._host.release(session)

    def ping(self) -> bool:
        """True once the host thread has served every call queued before this one."""
        return bool(self._host.ping())

    def set_spent(self, usd: float) -> None:
        """What the run's committed episodes spent (the driver's ledger)."""
        self._ledger.replace_slot(0, usd)

    def spent(self) -> float:
        """The committed total plus what the episodes in flight here spent so far."""
        return self._ledger.usd

    def close(self) -> str | None:
        """Close the host; a warning when the policy's ``close`` raised or hung."""
        from harness.evaluate import close_quietly

        return close_quietly(self._host, CLOSE_TIMEOUT_S) if self._host is not None else None


class HostProxy:
    """An env worker's policy whose calls run in a :class:`Host` actor (the Ray counterpart of
    :class:`~harness.host.RemotePolicy`). Observations of queued steps travel with the next
    call, so a session never has two calls in flight and their order is kept; so does what the
    episode has spent so far (the env worker's ledger, set as ``spending`` by the evaluator)."""

    def __init__(self, step_timeout_s: float) -> None:
        self._timeout = step_timeout_s
        self._handle: Any = None
        self._generation = -1
        self._sid: int | None = None
        self._observes = False
        self._observed: list[Observation] = []
        self.n_action_steps: int | None = None
        self.uses_images = True
        self.warmup_calls = 1
        self.spending = Spending()
        self._base = 0.0

    def bind(self, handle: Any, info: dict[str, Any], generation: int) -> None:
        """Use host ``handle`` (a new generation after a host was replaced)."""
        if generation == self._generation:
            return
        self._handle, self._generation, self._sid = handle, generation, None
        self.n_action_steps = info.get("n_action_steps")
        self.uses_images = bool(info.get("uses_images", True))
        self.warmup_calls = int(info.get("warmup_calls", 1))
        self._observes = bool(info.get("observes", False))

    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: Any = None) -> None:
        """Start an episode on the host."""
        self._observed = []
        self._base = self.spending.mine
        self._request("reset", task, episode, None, timeout=READY_TIMEOUT_S)

    def act(self, observation: Observation) -> ActionChunk:
        """The host's chunk for ``observation``."""
        chunk: ActionChunk = self._request("act", observation, timeout=self._timeout)
        return chunk

    def observe(self, observation: Observation) -> None:
        """Keep a queued step's observation for the next call, when the policy uses them."""
        if self._observes:
            self._observed.append(observation)

    def describe(self) -> dict[str, Any]:
        """The host policy's description."""
        described: dict[str, Any] = self._request("describe", timeout=READY_TIMEOUT_S)
        return described

    def close(self) -> None:
        """Release the session on the host."""
        self._drop()

    def _drop(self) -> None:
        if self._sid is not None and self._handle is not None:
            self._handle.release.remote(self._sid)
        self._sid = None

    def _request(self, op: str, *args: Any, timeout: float) -> Any:
        from harness.chunking import PolicyTimeout
        from harness.episode import PolicyCrash
        from harness.host import raise_reply

        observed, self._observed = self._observed, []
        try:
            # Ray cannot be interrupted by an exception from a signal handler (it turns into a
            # SystemError), so the env worker's step alarm (harness.deadline) waits until Ray
            # returns; the wait here ends at the same limit.
            with _alarm_deferred():
                if self._sid is None:
                    self._sid = ray.get(self._handle.open.remote(), timeout=READY_TIMEOUT_S)
                spent = self.spending.mine - self._base
                ref = self._handle.call.remote(self._sid, op, args, observed, spent)
                reply = ray.get(ref, timeout=timeout if timeout > 0 else None)
        except GetTimeoutError:
            self._drop()  # the session is still in that call on the host: a new one next
            if op == "act":
                raise PolicyTimeout(f"act() took longer than --step-timeout {timeout:g}s") from None
            raise PolicyCrash(f"the policy host did not answer {op} within {timeout:g}s") from None
        except RayActorError as exc:
            self._sid = None
            raise PolicyCrash(
                f"the policy host actor died during the call ({_reason(exc)})"
            ) from None
        except BaseException:
            self._drop()  # interrupted mid-call (the worker's own deadline): a new session
            raise
        return raise_reply(reply)


# -- the env worker actor ---------------------------------------------------------------------


class EnvWorker:
    """An env worker as a Ray actor: runs episodes and returns them with the files it wrote."""

    def __init__(self, inherit: Inherit) -> None:
        inherit.apply()
        self._scratch = Path(tempfile.mkdtemp(prefix="vla-bench-ray-"))
        self._ledger = Spending(slots=2)  # 0: the rest of the run, 1: this worker
        self._mine = self._ledger.for_slot(1)
        self._evaluator: EpisodeEvaluator | None = None
        self._proxy: HostProxy | None = None

    def start(
        self, config: PolicyConfig, settings: RunSettings, invocation: int, on_host: bool
    ) -> tuple[Any, ...]:
        """Build the policy (or the host proxy): ``("ready", node id)`` or ``("fatal", ...)``."""
        try:
            if on_host:
                self._proxy = HostProxy(settings.step_timeout_s)
                policy: Any = self._proxy
                traits = PolicyTraits()
            else:
                policy, traits = build_policy(config)
        except BaseException as exc:
            return ("fatal", fatal_error(exc))
        # A hang that ignores the alarm ends this actor; the driver sees it die and re-runs
        # the episode (then records it as crashed).
        deadline = Deadline(on_hang=lambda what, seconds: os._exit(3))
        deadline.install()
        self._evaluator = EpisodeEvaluator(
            policy,
            privileged=traits.privileged,
            settings=settings,
            out=self._scratch,
            invocation=invocation,
            spending=self._mine,
            deadline=deadline,
            in_worker=True,
        )
        return ("ready", ray.get_runtime_context().get_node_id())

    def evaluate(
        self,
        task: str,
        episode: EpisodeSpec,
        host: tuple[Any, dict[str, Any], int] | None,
        spent_elsewhere: float,
    ) -> tuple[Any, ...]:
        """Run one episode: ``("done", evaluated, facts, files, usd spent)`` or
        ``("budget", message, usd spent)``."""
        assert self._evaluator is not None
        if host is not None and self._proxy is not None:
            self._proxy.bind(*host)
        self._ledger.replace_slot(0, spent_elsewhere)
        self._collect()  # nothing an earlier, unfinished episode left travels with this one
        before = self._mine.mine
        try:
            evaluated = self._evaluator.evaluate(task, episode)
        except BudgetExceeded as exc:
            return ("budget", str(exc), self._mine.mine - before)
        evaluated.result.extra["ray_node"] = ray.get_runtime_context().get_node_id()
        files = self._collect()
        spent = self._mine.mine - before
        return ("done", evaluated, PolicyFacts.of(self._evaluator), files, spent)

    def _collect(self) -> dict[str, bytes]:
        """The files the last episode wrote, by path in the run directory; removed here."""
        files = {}
        for path in sorted(self._scratch.rglob("*")):
            if path.is_file():
                files[path.relative_to(self._scratch).as_posix()] = path.read_bytes()
                path.unlink()
        return files

    def close(self) -> str | None:
        """Close the policy and remove the scratch folder; a warning when ``close`` failed."""
        shutil.rmtree(self._scratch, ignore_errors=True)
        return self._evaluator.close() if self._evaluator is not None else None


_HostActor: Any = ray.remote(Host)
_EnvWorkerActor: Any = ray.remote(EnvWorker)


# -- the driver -------------------------------------------------------------------------------


@dataclass
class _Actor:
    """An actor and what the driver knows of it."""

    id: int
    handle: Any
    ready: bool = False
    job: Job | None = None
    info: dict[str, Any] = field(default_factory=dict)
    generation: int = 0


class RayExecutor:
    """Episodes in Ray actors across a cluster (see the module docstring)."""

    def __init__(
        self,
        config: PolicyConfig,
        settings: RunSettings,
        out: Path,
        invocation: int,
        spending: Spending,
        *,
        traits: PolicyTraits,
    ) -> None:
        self.config, self.settings, self.out = config, settings, out
        self.invocation, self.spending = invocation, spending
        self.placement = resolve_placement(settings.placement, traits, config.name)
        self.warnings: list[str] = []
        self.requeued: list[dict[str, Any]] = []
        self._inherit = Inherit.now()
        self._workers: dict[int, _Actor] = {}
        self._hosts: dict[int, _Actor] = {}
        self._pending: dict[Any, tuple[str, _Actor]] = {}
        self._queue: list[Job] = []
        self._attempts: dict[int, list[str]] = {}
        self._failures = 0
        self._started_ray = False

    # -- actors ------------------------------------------------------------------------------
    def _start_host(self, host_id: int, generation: int) -> None:
        actor: Any = _HostActor.options(
            num_cpus=0,
            num_gpus=self.settings.host_gpus,
            max_concurrency=max(4, 2 * self.settings.workers + 2),
        ).remote(self._inherit)
        host = _Actor(host_id, actor, generation=generation)
        self._hosts[host_id] = host
        self._pending[actor.start.remote(self.config, self.settings)] = ("host_start", host)

    def _start_worker(self, worker_id: int) -> None:
        actor: Any = _EnvWorkerActor.options(
            num_cpus=1, scheduling_strategy="SPREAD", max_concurrency=1
        ).remote(self._inherit)
        worker = _Actor(worker_id, actor)
        self._workers[worker_id] = worker
        on_host = self.placement == "host"
        ref = actor.start.remote(self.config, self.settings, self.invocation, on_host)
        self._pending[ref] = ("worker_start", worker)

    def _host_of(self, worker: _Actor) -> _Actor | None:
        return self._hosts[worker.id % len(self._hosts)] if self._hosts else None

    def _connect(self) -> None:
        if ray.is_initialized():
            return
        # Ray's own notices (a token was made, a local instance started) are not the run's;
        # its errors still show. Actors' output stays in Ray's logs on their nodes.
        options: dict[str, Any] = {"log_to_driver": False, "logging_level": "ERROR"}
        address = self.settings.ray_address
        if address:
            ray.init(address=address, **options)
        elif os.environ.get("RAY_ADDRESS"):
            ray.init(**options)
        else:
            # A cluster of this machine for this run, with a CPU for each env worker asked; it
            # ends with the run (or with this process), and binds 127.0.0.1 only when
            # harness.run set Ray's single-machine mode before Ray was imported.
            ray.init(
                num_cpus=max(os.cpu_count() or 1, self.settings.workers),
                include_dashboard=False,
                **options,
            )
        self._started_ray = True

    def _shutdown(self) -> None:
        closing = []
        for actor in [*self._workers.values(), *self._hosts.values()]:
            if actor.ready:
                closing.append(actor.handle.close.remote())
        if closing:
            done, _ = ray.wait(closing, num_returns=len(closing), timeout=CLOSE_TIMEOUT_S + 5)
            for ref in done:
                try:
                    warning = ray.get(ref)
                except RayError:
                    continue
                if warning:
                    self.warnings.append(warning)
        for actor in [*self._workers.values(), *self._hosts.values()]:
            ray.kill(actor.handle)
        self._workers.clear()
        self._hosts.clear()
        self._pending.clear()
        if self._started_ray:
            ray.shutdown()

    # -- the loop ----------------------------------------------------------------------------
    def run(self, jobs: list[Job], sink: Sink) -> None:
        """Run ``jobs`` across the cluster, committing each as it finishes."""
        if not jobs:
            return
        sink.phase("connecting to Ray")
        self._connect()
        try:
            n_workers = min(self.settings.workers, len(jobs))
            for worker_id in range(n_workers):
                self._start_worker(worker_id)
            if self.placement == "host":
                sink.phase(f"loading policy {self.config.name} in {self.settings.hosts} host(s)")
                for host_id in range(min(self.settings.hosts, n_workers)):
                    self._start_host(host_id, 0)
            self._loop(list(jobs), sink)
        finally:
            self._shutdown()

    def _loop(self, queue: list[Job], sink: Sink) -> None:
        self._queue = queue
        in_flight = 0
        began = time.monotonic()
        while queue or in_flight:
            if (stop := sink.stop_reason()) is not None:
                queue.clear()
                raise StopRun(stop)
            in_flight += self._dispatch()
            waited = time.monotonic() - began
            if not any(w.ready for w in self._workers.values()) and waited > PLACEMENT_HINT_S:
                sink.phase(
                    f"no env worker placed after {waited:.0f}s: each needs 1 free CPU in the "
                    "Ray cluster (ray status shows them)"
                )
            ready, _ = ray.wait(list(self._pending), num_returns=1, timeout=1.0)
            for ref in ready:
                kind, actor = self._pending.pop(ref)
                if kind == "job":
                    in_flight -= self._on_job(ref, actor, sink)
                elif kind == "worker_start":
                    self._on_worker_start(ref, actor, sink)
                else:
                    self._on_host_start(ref, actor, sink)

    def _dispatch(self) -> int:
        sent = 0
        for worker in self._workers.values():
            busy = [w.job for w in self._workers.values() if w.job is not None]
            if not (worker.ready and worker.job is None and self._queue):
                continue
            if any(j.alone for j in busy) or (self._queue[0].alone and busy):
                break  # a suspect runs alone
            host = self._host_of(worker)
            if host is not None and not host.ready:
                continue
            job = worker.job = self._queue.pop(0)
            bound = (host.handle, host.info, host.generation) if host is not None else None
            ref = worker.handle.evaluate.remote(job.task, job.episode, bound, self.spending.usd)
            self._pending[ref] = ("job", worker)
            sent += 1
        return sent

    def _on_worker_start(self, ref: Any, worker: _Actor, sink: Sink) -> None:
        try:
            reply = ray.get(ref)
        except RayError as exc:
            self._replace_worker(worker, sink, f"died while starting ({_reason(exc)})")
            return
        if reply[0] == "fatal":
            raise build_error(reply[1])
        worker.ready = True
        self._failures = 0
        sink.phase(f"env worker {worker.id} ready on node {str(reply[1])[:8]}")

    def _on_host_start(self, ref: Any, host: _Actor, sink: Sink) -> None:
        try:
            reply = ray.get(ref)
        except RayError as exc:
            self._failures += 1
            if self._failures >= MAX_START_FAILURES:
                raise PolicyBuildError(
                    f"the policy host actor keeps dying while it starts ({_reason(exc)})"
                ) from None
            sink.phase(f"policy host {host.id} died while starting; starting a new one")
            self._start_host(host.id, host.generation + 1)
            return
        if reply[0] == "fatal":
            raise build_error(reply[1])
        host.ready, host.info = True, reply[1]
        self._failures = 0
        sink.phase(f"policy host {host.id} ready")

    def _on_job(self, ref: Any, worker: _Actor, sink: Sink) -> int:
        job = worker.job
        assert job is not None
        worker.job = None
        try:
            reply = ray.get(ref)
        except RayActorError as exc:
            self._on_worker_lost(job, worker, sink, _reason(exc))
            return 1
        except RayError as exc:  # the actor's own code raised: a bug, recorded with the episode
            sink.commit(
                job,
                crashed_episode(job, self.invocation, "sim_error", _reason(exc), _reason(exc)),
                None,
            )
            return 1
        if reply[0] == "budget":
            self.spending.add(reply[2])
            self._count_spent_in_flight()
            raise BudgetExceeded(reply[1])
        _, evaluated, facts, files, spent = reply
        self._failures = 0
        for name, data in files.items():
            atomic_write_bytes(_inside(self.out, name), data)
        self.spending.add(spent)
        for other in self._hosts.values():
            if other.ready and spent:
                other.handle.set_spent.remote(self.spending.usd)
        outcome = evaluated.result.outcome
        host = self._host_of(worker)
        if outcome == "policy_crash" and host is not None:
            replaced = self._check_host(host, sink)
            if not job.alone:
                # A host serves several workers: its crash ended all their calls in flight.
                # Each episode runs again with nothing beside it (see the module docstring).
                self._queue.append(dataclasses.replace(job, alone=True))
                return 1
            if replaced:
                evaluated.result.error = f"{evaluated.result.error} (the host actor died)"
        elif outcome == "policy_timeout" and host is not None:
            self._check_host(host, sink)
        if job.key in self._attempts:
            evaluated.result.extra["requeued"] = self._attempts[job.key]
        sink.commit(job, evaluated, facts)
        return 1

    def _count_spent_in_flight(self) -> None:
        """Before a run stops at its budget: add what the episodes still in flight spent, as
        their hosts know it (their env workers are stopped with them)."""
        for host in self._hosts.values():
            if not host.ready:
                continue
            try:
                total = float(ray.get(host.handle.spent.remote(), timeout=HANG_GRACE_S))
            except (RayError, GetTimeoutError):
                continue
            self.spending.add(max(0.0, total - self.spending.usd))

    def _on_worker_lost(self, job: Job, worker: _Actor, sink: Sink, reason: str) -> None:
        """An env worker died with ``job`` in flight: run it again, or record it as crashed."""
        attempts = self._attempts.setdefault(job.key, [])
        attempts.append(reason)
        self.requeued.append(
            {
                "task": job.task,
                "episode": job.episode.index,
                "attempt": len(attempts),
                "reason": reason,
            }
        )
        self._replace_worker(worker, sink, "died")
        if len(attempts) < MAX_ATTEMPTS:
            self._queue.insert(0, job)
            return
        outcome = "policy_crash" if self.placement == "worker" else "sim_error"
        text = f"its env worker actor died {len(attempts)} times running it (last: {reason})"
        evaluated = crashed_episode(job, self.invocation, outcome, text, reason)
        evaluated.result.extra["requeued"] = attempts
        sink.commit(job, evaluated, None)

    def _replace_worker(self, worker: _Actor, sink: Sink, what: str) -> None:
        if not worker.ready:
            self._failures += 1
            if self._failures >= MAX_START_FAILURES:
                raise PolicyBuildError(f"env worker actors keep dying before they start ({what})")
        ray.kill(worker.handle)
        sink.phase(f"env worker {worker.id} {what}; starting a new one")
        self._start_worker(worker.id)

    def _check_host(self, host: _Actor, sink: Sink) -> bool:
        """After a crashed or timed-out call: replace a host actor that died or whose policy
        thread does not answer within the grace period; True when it was replaced."""
        if not host.ready:
            return False
        try:
            ray.get(host.handle.ping.remote(), timeout=HANG_GRACE_S)
            return False
        except (RayError, GetTimeoutError):
            pass
        sink.phase(f"policy host {host.id} died or is stuck in a call; starting a new one")
        ray.kill(host.handle)
        self._start_host(host.id, host.generation + 1)
        return True


@contextlib.contextmanager
def _alarm_deferred() -> Iterator[None]:
    """SIGALRM held back in this block (on the main thread), delivered when it ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _reason(exc: BaseException) -> str:
    """The first line of a Ray error, for the record."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _inside(root: Path, name: str) -> Path:
    """``root / name`` for a path an env worker reported, refused if it leaves ``root``."""
    path = (root / name).resolve()
    if not path.is_relative_to(root.resolve()):
        raise ValueError(f"an env worker returned a file outside the run directory: {name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
