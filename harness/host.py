"""The policy host: one policy (one loaded model) serving many episodes with dynamic batching.

:class:`PolicyHost` holds a :class:`~harness.contract.SharedPolicy`. Each episode gets a
*session* (``policy.fork()``: the model shared, the episode state its own; a released session
is handed to the next :meth:`~PolicyHost.open`, whose reset clears it). Calls on the policy run
on one host thread, in order, so the policy never sees two calls at once: ``act`` requests
from different sessions that arrive within ``max_wait_s`` of each other (up to ``max_batch``)
are answered by one ``act_batch`` call, which the policy implements as one forward pass (the
default loops ``act``). When a batch raises, each of its sessions is asked again alone, so an
error is charged to the session that caused it. When no batch could form (one open session, or
``max_batch`` 1) and the host is idle, :meth:`HostSession.act_here` runs the ``act`` on the
caller's thread instead, still never at the same time as another call: a request then costs no
hand-over between threads.

The host serves threads of its own process (:meth:`PolicyHost.open`, used by ``bench serve``)
and, through :func:`serve`, env-worker processes connecting over a Unix socket
(:class:`RemotePolicy` is their side: a Policy whose calls travel to the host).
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from multiprocessing.connection import Client, Connection, Listener
from typing import Any

from harness import pipes
from harness.contract import (
    ActionChunk,
    BudgetExceeded,
    EpisodeSpec,
    Observation,
    PolicyBase,
    TaskSpec,
    act_each,
)


class HostError(RuntimeError):
    """A policy failure in the host, reported to a client; ``outcome`` is how the episode
    ends (``policy_error`` mostly)."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.remote_text = message  # the host's own description of the failure


def observes(policy: Any) -> bool:
    """Whether ``policy`` does anything with observations of queued steps (``observe``)."""
    method = getattr(type(policy), "observe", None)
    return method is not None and method is not PolicyBase.observe


@dataclass
class _Call:
    session: Any
    op: str
    args: tuple[Any, ...]
    future: Future[Any]


class PolicyHost:
    """One shared policy, many sessions, dynamic batching (see the module docstring)."""

    def __init__(self, policy: Any, *, max_batch: int = 8, max_wait_s: float = 0.005) -> None:
        if not callable(getattr(policy, "fork", None)):
            raise TypeError(
                f"{type(policy).__name__} has no fork(): it cannot share its model between "
                "episodes (run it with one copy per worker instead)"
            )
        self.policy = policy
        self.max_batch = max(1, max_batch)
        self.max_wait_s = max(0.0, max_wait_s)
        act_batch = getattr(policy, "act_batch", None)
        self._act_batch: Callable[[Sequence[Any], Sequence[Observation]], list[ActionChunk]] = (
            act_batch if callable(act_batch) else act_each
        )
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._active = 0  # open sessions: a batch never waits for more requests than that
        self._spare: list[HostSession] = []  # released sessions, for the next open()
        self._sessions_lock = threading.Lock()
        # Held while a call runs on the policy, by the host thread or by act_here's caller.
        self._running = threading.Lock()
        self._pending = 0  # calls submitted and not yet answered
        self._pending_lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="vla-bench-host", daemon=True)
        self._thread.start()
        self.batches: list[int] = []  # sizes of the act batches served (for benchmarks)

    def open(self) -> HostSession:
        """A session: a released one (its next reset clears it), else a new fork (made on the
        host thread)."""
        with self._sessions_lock:
            session = self._spare.pop() if self._spare else None
            if session is not None:
                self._active += 1
                return session
        session = HostSession(self, self.call(None, "fork"))
        with self._sessions_lock:
            self._active += 1
        return session

    def release(self, session: Any) -> None:
        """A session is done (its stream of episodes ended); the next :meth:`open` may reuse it."""
        with self._sessions_lock:
            self._active = max(0, self._active - 1)
            if isinstance(session, HostSession) and session not in self._spare:
                self._spare.append(session)

    def call(self, session: Any, op: str, *args: Any) -> Any:
        """Run ``op`` for ``session`` on the host thread and wait for its result."""
        return self.submit(session, op, *args).result()

    def submit(self, session: Any, op: str, *args: Any) -> Future[Any]:
        """Queue ``op`` for ``session`` without waiting."""
        future: Future[Any] = Future()
        with self._pending_lock:
            self._pending += 1
        self._calls.put(_Call(session, op, args, future))
        return future

    def act_here(self, session: Any, observation: Observation) -> ActionChunk | None:
        """``session``'s act on this thread, when the host is idle and no batch could form;
        None otherwise (then submit it). Never runs at the same time as another call."""
        if min(self.max_batch, self._active) > 1 or self._pending:
            return None
        if not self._running.acquire(blocking=False):
            return None
        try:
            if self._pending:  # queued meanwhile: it goes first, the order of calls is kept
                return None
            self.batches.append(1)
            chunk: ActionChunk = session.act(observation)
            return chunk
        finally:
            self._running.release()

    def ping(self) -> bool:
        """True once the host thread has served every call queued before this one."""
        return bool(self.call(None, "ping"))

    def close(self) -> None:
        """Stop the host thread (pending calls are answered first) and close the policy."""
        self._calls.put(None)
        self._thread.join()
        self.policy.close()

    # -- the host thread ---------------------------------------------------------------------
    def _loop(self) -> None:
        pending: list[_Call] = []
        while True:
            call = pending.pop(0) if pending else self._calls.get()
            if call is None:
                return
            if call.op != "act":
                with self._running:
                    self._run_one(call)
                self._answered(1)
                continue
            batch = [call]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < min(self.max_batch, max(1, self._active)):
                timeout = deadline - time.monotonic()
                try:
                    nxt = (
                        self._calls.get(timeout=timeout)
                        if timeout > 0
                        else self._calls.get_nowait()
                    )
                except queue.Empty:
                    break
                if nxt is None or nxt.op != "act":
                    pending.append(nxt)  # type: ignore[arg-type]  # served next, in order
                    break
                batch.append(nxt)
            with self._running:
                self._run_batch(batch)
            self._answered(len(batch))

    def _answered(self, n: int) -> None:
        with self._pending_lock:
            self._pending -= n

    def _run_one(self, call: _Call) -> None:
        try:
            if call.op == "fork":
                result: Any = self.policy.fork()
            elif call.op == "ping":
                result = True
            else:
                result = getattr(call.session, call.op)(*call.args)
        except BaseException as exc:  # the caller gets it
            call.future.set_exception(exc)
        else:
            call.future.set_result(result)

    def _run_batch(self, batch: list[_Call]) -> None:
        self.batches.append(len(batch))
        if len(batch) == 1:
            call = batch[0]
            try:
                chunk = call.session.act(*call.args)
            except BaseException as exc:
                call.future.set_exception(exc)
            else:
                call.future.set_result(chunk)
            return
        start = time.perf_counter()
        try:
            chunks = self._act_batch([c.session for c in batch], [c.args[0] for c in batch])
            if len(chunks) != len(batch):
                raise RuntimeError(f"act_batch returned {len(chunks)} chunks for {len(batch)}")
        except BaseException:  # retry one by one to charge the right session
            for call in batch:
                self._run_batch([call])
            return
        elapsed = time.perf_counter() - start
        for call, chunk in zip(batch, chunks, strict=True):
            if chunk.model_time_s is None:
                chunk.model_time_s = elapsed
            chunk.info = {**chunk.info, "batch_size": len(batch)}
            call.future.set_result(chunk)


class HostSession:
    """One episode stream's view of a :class:`PolicyHost` (a Policy, thread-safe per session)."""

    def __init__(self, host: PolicyHost, state: Any) -> None:
        self._host = host
        self._state = state

    @property
    def observes(self) -> bool:
        """Whether the policy wants queued steps' observations."""
        return observes(self._state)

    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: Any = None) -> None:
        """Start an episode (never with the env: a shared policy is not privileged)."""
        self._host.call(self._state, "reset", task, episode, None)

    def act(self, observation: Observation) -> ActionChunk:
        """The chunk for ``observation``, possibly computed in a batch with other sessions."""
        chunk: ActionChunk = self._host.call(self._state, "act", observation)
        return chunk

    def act_here(self, observation: Observation) -> ActionChunk | None:
        """The chunk computed on this thread when no batch could form and the host is idle,
        else None (see :meth:`PolicyHost.act_here`)."""
        return self._host.act_here(self._state, observation)

    def submit_act(self, observation: Observation) -> Future[ActionChunk]:
        """:meth:`act` without waiting: the chunk (or the error) arrives in the future, so an
        event loop can await it with no thread of its own blocked on the call."""
        return self._host.submit(self._state, "act", observation)

    def observe(self, observation: Observation) -> Future[Any]:
        """Pass a queued step's observation on (ordered before the next act); its error, if
        any, is in the returned future."""
        return self._host.submit(self._state, "observe", observation)

    def describe(self) -> dict[str, Any]:
        """What the shared policy says about itself."""
        described: dict[str, Any] = self._host.call(self._state, "describe")
        return described

    def close(self) -> None:
        """Tell the host this session is done."""
        self._host.release(self)


class CopiesHost:
    """Sessions for a policy that cannot share its model: each gets a copy of its own (the
    first the policy given, later ones from ``factory``), called directly on the caller's
    thread, so sessions run concurrently (API agents wait on the network, not on each other)."""

    def __init__(self, policy: Any, factory: Callable[[], Any]) -> None:
        self._spare: list[Any] = [policy]
        self._factory = factory
        self._lock = threading.Lock()
        self._all: list[Any] = [policy]

    def open(self) -> Any:
        """A session: the spare copy, or a new one."""
        with self._lock:
            if self._spare:
                return self._spare.pop()
        policy = self._factory()
        with self._lock:
            self._all.append(policy)
        return policy

    def release(self, session: Any) -> None:
        """Take a copy back for the next session (after a reset it holds nothing of the last)."""
        with self._lock:
            self._spare.append(session)

    def ping(self) -> bool:
        """Copies are called on their callers' threads: nothing can be stuck behind them."""
        return True

    def close(self) -> None:
        """Close every copy."""
        for policy in self._all:
            with contextlib.suppress(Exception):
                policy.close()


# -- across processes -------------------------------------------------------------------------

READY_TIMEOUT_S = 600.0
"""How long a client waits for a (re)starting host to accept it: model loading can be slow."""


def serve(listener: Listener, host: PolicyHost | CopiesHost, info: dict[str, Any]) -> None:
    """Answer env-worker connections on ``listener`` forever (runs in the host process).

    Each connection is one worker; its requests are ``(op, *args)`` tuples: ``reset``,
    ``act``, ``observe`` (no reply), ``describe``, ``info``, ``ping``. Replies are ``("ok",
    value)`` or ``("err", kind, message)``.
    """
    while True:
        try:
            conn = listener.accept()
        except (OSError, EOFError):
            continue
        threading.Thread(target=_handle, args=(conn, host, info), daemon=True).start()


def _handle(conn: Connection, host: PolicyHost | CopiesHost, info: dict[str, Any]) -> None:
    session: Any = None
    deferred: Future[Any] | None = None  # an observe whose error surfaces at the next call
    try:
        while True:
            try:
                op, *args = pipes.receive(conn)
            except (EOFError, OSError):
                return
            try:
                if op == "observe":
                    if session is not None:
                        outcome = session.observe(*args)
                        deferred = outcome if isinstance(outcome, Future) else None
                    continue
                if deferred is not None:
                    deferred.result()
                    deferred = None
                if op == "info":
                    result: Any = info
                elif op == "ping":
                    result = host.ping()
                elif op in ("reset", "act", "describe"):
                    if session is None:
                        session = host.open()
                    result = getattr(session, op)(*args)
                else:
                    raise ValueError(f"unknown request {op!r}")
                pipes.send(conn, ("ok", result))
            except BaseException as exc:  # reported to the worker, never fatal here
                deferred = None
                with contextlib.suppress(OSError):
                    pipes.send(conn, error_reply(exc))
    finally:
        conn.close()
        if session is not None:
            host.release(session)


def error_reply(exc: BaseException) -> tuple[str, str, str]:
    """How a host reports a failed call: ``("err", kind, message)``, kind ``budget`` or the
    outcome the error ends its episode with (read back by :func:`raise_reply`)."""
    from harness.episode import classify, describe_exception

    if isinstance(exc, BudgetExceeded):
        return ("err", "budget", str(exc))
    kind = "policy_error" if isinstance(exc, KeyboardInterrupt | SystemExit) else classify(exc)
    return ("err", kind, describe_exception(exc))


def raise_reply(reply: tuple[Any, ...]) -> Any:
    """The value of an ``("ok", value)`` reply; an error reply raised as what it reports."""
    if reply[0] == "ok":
        return reply[1]
    if reply[1] == "budget":
        raise BudgetExceeded(reply[2])
    raise HostError(reply[1], reply[2])


class RemotePolicy:
    """A Policy in an env worker whose calls run in a host process (see :func:`serve`).

    A call that gets no answer within ``step_timeout_s`` raises
    :class:`~harness.chunking.PolicyTimeout` and drops the connection (its late answer must not
    be read as the next one); a host that died raises
    :class:`~harness.episode.PolicyCrash`. The next episode connects again, waiting for a
    restarted host.
    """

    def __init__(self, address: str, authkey: bytes, step_timeout_s: float) -> None:
        self._address = address
        self._authkey = authkey
        self._timeout = step_timeout_s
        self._conn: Connection | None = None
        self.info: dict[str, Any] = self._request("info", timeout=READY_TIMEOUT_S)
        self.n_action_steps = self.info.get("n_action_steps")
        self.uses_images = bool(self.info.get("uses_images", True))
        self.warmup_calls = int(self.info.get("warmup_calls", 1))
        self._observes = bool(self.info.get("observes", False))

    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: Any = None) -> None:
        """Start an episode on the host (reconnecting after a timeout or a host restart)."""
        self._request("reset", task, episode, None, timeout=READY_TIMEOUT_S)

    def act(self, observation: Observation) -> ActionChunk:
        """The host's chunk for ``observation``."""
        chunk: ActionChunk = self._request("act", observation, timeout=self._timeout)
        return chunk

    def observe(self, observation: Observation) -> None:
        """Send a queued step's observation, when the host's policy uses them."""
        if self._observes and self._conn is not None:
            with contextlib.suppress(OSError):
                pipes.send(self._conn, ("observe", observation))

    def describe(self) -> dict[str, Any]:
        """The host policy's description."""
        described: dict[str, Any] = self._request("describe", timeout=READY_TIMEOUT_S)
        return described

    def ping(self, timeout: float) -> bool:
        """Whether the host's policy thread answers within ``timeout`` seconds."""
        try:
            self._request("ping", timeout=timeout)
        except Exception:
            return False
        return True

    def close(self) -> None:
        """Drop the connection."""
        self._drop()

    def _connect(self, timeout: float) -> Connection:
        if self._conn is not None:
            return self._conn
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            try:
                self._conn = Client(self._address, family="AF_UNIX", authkey=self._authkey)
                return self._conn
            except (OSError, EOFError):
                if time.monotonic() > deadline:
                    from harness.episode import PolicyCrash

                    raise PolicyCrash(
                        f"the policy host did not accept a connection within {timeout:g}s"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
            self._conn = None

    def _request(self, op: str, *args: Any, timeout: float) -> Any:
        from harness.chunking import PolicyTimeout
        from harness.episode import PolicyCrash

        conn = self._connect(READY_TIMEOUT_S)
        try:
            pipes.send(conn, (op, *args))
            if timeout > 0 and not conn.poll(timeout):
                self._drop()
                if op == "act":
                    raise PolicyTimeout(f"act() took longer than --step-timeout {timeout:g}s")
                raise PolicyCrash(f"the policy host did not answer {op} within {timeout:g}s")
            reply = pipes.receive(conn)
        except TimeoutError:  # the worker's own deadline fired first: the call is abandoned
            self._drop()
            raise
        except (EOFError, OSError):
            self._drop()
            raise PolicyCrash("the policy host process died during the call") from None
        except BaseException:
            self._drop()  # interrupted mid-call: a late answer must not be read as the next
            raise
        return raise_reply(reply)
