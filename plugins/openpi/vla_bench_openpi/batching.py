"""A private stand-in for the engine's policy host (``harness.host``), until it lands on main.

Same shape as the engine's, so that ``bench serve`` can switch to it by changing one import:

- :class:`PolicyHost` ``(policy, max_batch=B, max_wait_s=W)`` for a policy that can share its
  model (``fork()``): each session is a fork with its own episode state; ``act`` calls from
  several sessions are gathered into one ``policy.act_batch(sessions, observations)`` call
  (the policy's, or one ``act`` per session) of at most ``max_batch``, waiting at most
  ``max_wait_s`` after the first for more, and not at all once every open session has a
  request queued. When a batch of several fails, each request is retried alone so that one bad
  observation fails only its own caller (a session's state may then have advanced twice).
  Answers from a batch carry ``info["batch_size"]``. Every call on the policy (fork, reset,
  act) runs on one host thread, so the policy never sees two threads.
- :class:`CopiesHost` ``(policy, factory)`` for a policy that cannot: each concurrent session
  gets a copy of its own (the policy given, then more from ``factory``), kept for the next
  session when closed, and called on its caller's thread.

Both: ``open() -> session`` with ``reset(task, episode)``, a blocking, thread-safe
``act(observation)`` and ``close()``; ``host.close()`` closes the policy.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from harness.contract import ActionChunk, EpisodeSpec, Observation, Policy, TaskSpec


@dataclass
class _Call:
    op: str  # "act", "reset" or "fork"
    state: Any
    args: tuple[Any, ...]
    future: Future[Any]


class HostSession:
    """One client's episode state on a :class:`PolicyHost`."""

    def __init__(self, host: PolicyHost, state: Policy) -> None:
        self._host = host
        self._state = state

    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: Any = None) -> None:
        """Start an episode (never with an env: a served policy is not privileged)."""
        self._host._call("reset", self._state, task, episode, None)

    def act(self, observation: Observation) -> ActionChunk:
        """The chunk for ``observation``, computed in the next batch; blocks until then."""
        return self.submit_act(observation).result()

    def submit_act(self, observation: Observation) -> Future[ActionChunk]:
        """Queue ``observation`` for the next batch without waiting (for an event loop)."""
        return self._host._submit("act", self._state, observation)

    def close(self) -> None:
        """Leave the host (the session's state is dropped)."""
        self._host._closed_one()


class PolicyHost:
    """One shared policy, many sessions, dynamic batching (see the module docstring).

    Every call on the policy (fork, reset, act) runs on one host thread, in order, so the
    policy never sees two threads at once.
    """

    def __init__(self, policy: Any, *, max_batch: int = 1, max_wait_s: float = 0.0) -> None:
        if not callable(getattr(policy, "fork", None)):
            raise TypeError(
                f"{type(policy).__name__} has no fork(): it cannot share its model between "
                "sessions (use CopiesHost)"
            )
        self.policy = policy
        self.max_batch = max(1, max_batch)
        self.max_wait_s = max(0.0, max_wait_s)
        self._open = 0
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="vla-bench-host", daemon=True)
        self._thread.start()

    def open(self) -> HostSession:
        """A new session with its own episode state."""
        state = self._call("fork", None)
        with self._lock:
            self._open += 1
        return HostSession(self, state)

    def close(self) -> None:
        """Stop the host thread (calls queued are answered first); close the policy."""
        self._queue.put(None)
        self._thread.join()
        self.policy.close()

    def _closed_one(self) -> None:
        with self._lock:
            self._open -= 1

    def _call(self, op: str, state: Any, *args: Any) -> Any:
        return self._submit(op, state, *args).result()

    def _submit(self, op: str, state: Any, *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._queue.put(_Call(op, state, args, future))
        return future

    def _serve(self) -> None:
        pending: list[_Call | None] = []
        while True:
            call = pending.pop(0) if pending else self._queue.get()
            if call is None:
                return
            if call.op != "act":
                self._run_one(call)
                continue
            batch = [call]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < min(self.max_batch, max(self._open, 1)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
                if item is None or item.op != "act":
                    pending.append(item)  # served next, in order
                    break
                batch.append(item)
            if len(batch) == 1:
                self._run_one(call)
            else:
                self._run_batch(batch)

    def _run_batch(self, batch: list[_Call]) -> None:
        act_batch = getattr(self.policy, "act_batch", None)
        if not callable(act_batch):
            for call in batch:
                self._run_one(call)
            return
        try:
            chunks = list(act_batch([c.state for c in batch], [c.args[0] for c in batch]))
            if len(chunks) != len(batch):
                raise ValueError(f"act_batch returned {len(chunks)} chunks for {len(batch)}")
        except Exception:
            for call in batch:
                self._run_one(call)
            return
        for call, chunk in zip(batch, chunks, strict=True):
            chunk.info = {**chunk.info, "batch_size": len(batch)}
            call.future.set_result(chunk)

    def _run_one(self, call: _Call) -> None:
        try:
            if call.op == "fork":
                result: Any = self.policy.fork()
            else:
                result = getattr(call.state, call.op)(*call.args)
        except Exception as exc:
            call.future.set_exception(exc)
        else:
            call.future.set_result(result)


class _CopySession:
    """A copy of the policy lent to one client; closing it returns it to the host."""

    def __init__(self, host: CopiesHost, policy: Policy) -> None:
        self._host = host
        self.policy = policy

    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: Any = None) -> None:
        """Start an episode on this copy."""
        self.policy.reset(task, episode, None)

    def act(self, observation: Observation) -> ActionChunk:
        """This copy's chunk, computed on the caller's thread."""
        return self.policy.act(observation)

    def close(self) -> None:
        """Give the copy back for the next session."""
        self._host._give_back(self.policy)


class CopiesHost:
    """Sessions for a policy that cannot share its model: one copy per concurrent session."""

    max_batch = 1
    max_wait_s = 0.0

    def __init__(self, policy: Policy, factory: Callable[[], Policy]) -> None:
        self._spare = [policy]
        self._all = [policy]
        self._factory = factory
        self._lock = threading.Lock()

    def open(self) -> _CopySession:
        """A session on a spare copy, or on a new one."""
        with self._lock:
            policy = self._spare.pop() if self._spare else None
        if policy is None:
            policy = self._factory()
            with self._lock:
                self._all.append(policy)
        return _CopySession(self, policy)

    def close(self) -> None:
        """Close every copy."""
        for policy in self._all:
            policy.close()

    def _give_back(self, policy: Policy) -> None:
        with self._lock:
            self._spare.append(policy)
