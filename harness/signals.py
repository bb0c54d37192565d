"""Holding Ctrl-C and SIGTERM while a multi-part state is written, so that a stop never lands
between its parts (a run's final record, a dataset episode and its ledger line).

:func:`interrupts_held` swaps the Python handlers of SIGINT and SIGTERM for one that only
notes the signal, and raises each noted signal again when the block ends, to whatever handler
is in place then. Blocking the signals (``pthread_sigmask``) would not do: it holds them for
the calling thread only, and with other threads running (a data loader's, a writer's) the
kernel delivers a process's signal to one of those, whose C handler sets the flag that
makes the main thread run the Python handler at once. Python handlers always run in the main
thread, so swapping them holds a signal whichever thread received it. A signal whose handler
native code installed is blocked in the main thread instead (Python cannot restore such a
handler). Off the main thread, where handlers cannot be set, the block runs unprotected.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

HELD = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """Delay SIGINT and SIGTERM until the block ends (see the module docstring)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def note(signum: int, frame: Any) -> None:
        received.append(signum)

    # A handler installed by native code (getsignal gives None) cannot be put back from
    # Python: such a signal is blocked instead, in this thread, as well as that can do.
    native = {sig for sig in HELD if signal.getsignal(sig) is None}
    previous = {sig: signal.signal(sig, note) for sig in HELD if sig not in native}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, native) if native else None
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        _deliver(list(dict.fromkeys(received)))  # each once, in the order they came


def _deliver(signums: list[int]) -> None:
    """Raise each signal to its handler; one handler raising (KeyboardInterrupt) does not
    keep the next signal from its own."""
    if signums:
        try:
            signal.raise_signal(signums[0])
        finally:
            _deliver(signums[1:])
