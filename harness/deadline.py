"""The per-call deadline: a policy call or a simulator step that runs too long ends its episode.

A watchdog thread polls the start time of the call in progress. Past the limit it sends
SIGALRM to the main thread, whose handler raises :class:`CallTimeout` (the per-call cost is two
attribute writes; arming a timer per call cost ~4% of a fast episode). Python code cannot
always be interrupted that way: a hang inside native code (a simulator, a CUDA kernel) sees
the signal only when control returns to Python, and a policy may catch the exception. So a
call still running ``grace_s`` after the alarm is *hung*: the watchdog calls ``on_hang(what,
seconds)``, which in a worker process reports the hang and ends the process (the parent records
the episode and starts a new worker). Without ``on_hang`` (in the main process) the alarm is
the only remedy. Off the main thread, or without ``pthread_kill``, calls run without a limit.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

HANG_GRACE_S = 5.0
"""How long a call may keep running after its alarm before it counts as hung."""


class CallTimeout(TimeoutError):
    """One call ran past its limit (``what`` says which: ``act``, ``env.step``, ...)."""

    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"{what} took longer than its limit of {seconds:g}s")
        self.what = what
        self.seconds = seconds


class Deadline:
    """Limits the duration of calls made through :meth:`call` (see the module docstring)."""

    def __init__(
        self,
        on_hang: Callable[[str, float], None] | None = None,
        grace_s: float = HANG_GRACE_S,
    ) -> None:
        self.usable = hasattr(signal, "pthread_kill") and (
            threading.current_thread() is threading.main_thread()
        )
        self._on_hang = on_hang
        self._grace = grace_s
        self._started: float | None = None
        self._limit = 0.0
        self._what = ""
        self._fired_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._previous: Any = None

    def install(self) -> None:
        """Install the SIGALRM handler and start the watchdog."""
        if not self.usable or self._thread is not None:
            return
        self._previous = signal.signal(signal.SIGALRM, self._on_alarm)
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="vla-bench-deadline", daemon=True)
        self._thread.start()

    def remove(self) -> None:
        """Stop the watchdog and restore the previous handler."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        signal.signal(signal.SIGALRM, self._previous)

    def call(self, what: str, seconds: float, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, limited to ``seconds`` (0 or less: no limit)."""
        if seconds <= 0 or self._thread is None:
            return fn(*args)
        self._what, self._limit, self._fired_at = what, seconds, None
        self._started = time.monotonic()
        try:
            return fn(*args)
        finally:
            self._started = None

    def _watch(self) -> None:
        main = threading.main_thread().ident
        while not self._stop.wait(0.05):
            started = self._started
            if started is None:
                continue
            now = time.monotonic()
            if self._fired_at is None and now - started > self._limit:
                self._fired_at = now
                signal.pthread_kill(main, signal.SIGALRM)  # type: ignore[arg-type]
            elif (
                self._fired_at is not None
                and self._on_hang is not None
                and now - self._fired_at > self._grace
                and self._started == started
            ):
                self._on_hang(self._what, self._limit)
                return

    def _on_alarm(self, signum: int, frame: Any) -> None:
        if self._started is not None:  # the call may have returned since the watchdog looked
            raise CallTimeout(self._what, self._limit)
