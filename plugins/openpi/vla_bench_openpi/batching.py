"""A private stand-in for ``harness.host.PolicyHost`` (one model, many sessions, batching).

It has exactly the interface the engine's policy host will have, so ``bench serve`` switches to
that one when it lands: ``PolicyHost(policy, max_batch=B, max_wait_s=W)``, ``host.open() ->
Session`` with ``reset(task, episode)``, a blocking, thread-safe ``act(obs)`` and ``close()``,
and ``host.close()``.

A policy that implements ``fork()`` gives each session its own episode state over one model;
``act`` calls from several sessions are gathered by one thread into a batch of at most
``max_batch``, waiting at most ``max_wait_s`` after the first for more, and never waiting when
every open session already has a request queued. A batch runs as one ``policy.act_batch(sessions,
observations)`` when the policy has it, else as ``session.act`` one after another. When a batch
of several fails, each request is retried alone so that one bad observation fails only its own
caller. A policy without ``fork()`` has one episode state, so sessions take turns holding it:
``open()`` waits until the previous session is closed.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future

from harness.contract import ActionChunk, EpisodeSpec, Observation, Policy, TaskSpec


class Session:
    """One client's episode state on the host."""

    def __init__(self, host: PolicyHost, policy: Policy) -> None:
        self._host = host
        self.policy = policy
        self._closed = False

    def reset(self, task: TaskSpec, episode: EpisodeSpec) -> None:
        """Start an episode on this session (the policy gets no env: it is not privileged)."""
        self.policy.reset(task, episode, None)

    def act(self, observation: Observation) -> ActionChunk:
        """The chunk for ``observation``, computed in the next batch; blocks until then."""
        return self._host._submit(self, observation)

    def close(self) -> None:
        """Release the session (for a policy without fork(), let the next session have it)."""
        if not self._closed:
            self._closed = True
            self._host._release(self)


class PolicyHost:
    """Serves one policy to many sessions with dynamic batching (see the module docstring)."""

    def __init__(self, policy: Policy, max_batch: int = 1, max_wait_s: float = 0.0) -> None:
        if max_batch < 1 or max_wait_s < 0:
            raise ValueError("max_batch must be >= 1 and max_wait_s >= 0")
        self.policy = policy
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._forks = callable(getattr(policy, "fork", None))
        self._open = 0
        self._turn = threading.Semaphore(1)  # held by the session of a policy without fork()
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Session, Observation, Future[ActionChunk]] | None]
        self._queue = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._serve, name="vla-bench-batcher", daemon=True)
        self._worker.start()

    def open(self) -> Session:
        """A new session (for a policy without fork(), once the previous one is closed)."""
        if self._forks:
            session = Session(self, self.policy.fork())  # type: ignore[attr-defined]
        else:
            self._turn.acquire()
            session = Session(self, self.policy)
        with self._lock:
            self._open += 1
        return session

    def close(self) -> None:
        """Stop the batching thread (sessions must be closed first)."""
        self._queue.put(None)
        self._worker.join()

    def _release(self, session: Session) -> None:
        with self._lock:
            self._open -= 1
        if session.policy is self.policy:
            self._turn.release()

    def _submit(self, session: Session, observation: Observation) -> ActionChunk:
        future: Future[ActionChunk] = Future()
        self._queue.put((session, observation, future))
        return future.result()

    def _serve(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < min(self.max_batch, max(self._open, 1)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
                if item is None:  # stop once this batch is answered
                    stopping = True
                    break
                batch.append(item)
            if len(batch) > 1 and callable(getattr(self.policy, "act_batch", None)):
                self._run_batch(batch)
            else:
                for item in batch:
                    self._run_one(*item)

    def _run_batch(self, batch: list[tuple[Session, Observation, Future[ActionChunk]]]) -> None:
        try:
            chunks = list(
                self.policy.act_batch(  # type: ignore[attr-defined]
                    [s.policy for s, _, _ in batch], [o for _, o, _ in batch]
                )
            )
            if len(chunks) != len(batch):
                raise ValueError(f"act_batch returned {len(chunks)} chunks for {len(batch)}")
        except Exception:
            for item in batch:
                self._run_one(*item)
            return
        for (_, _, future), chunk in zip(batch, chunks, strict=True):
            future.set_result(chunk)

    @staticmethod
    def _run_one(session: Session, observation: Observation, future: Future[ActionChunk]) -> None:
        try:
            future.set_result(session.policy.act(observation))
        except Exception as exc:
            future.set_exception(exc)
