"""Progress of long commands: phases and step counters with rates and ETAs.

On a terminal a rich bar (``stderr``); when piped or captured, plain lines: one when a phase
starts, then a counter's line at most every ``interval_s`` seconds and at its end, each with
the elapsed time and an ETA, so a log shows where a long run is and when it will finish.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO


def format_seconds(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 07 min``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Counter:
    """Work of a known size inside one phase; ``update(done, note)`` as it advances."""

    def __init__(self, progress: Progress, what: str, total: int) -> None:
        self.progress = progress
        self.what = what
        self.total = total
        self.done = 0
        self.start = progress.clock()
        self._last_line = self.start
        self._task: Any = None

    def eta(self) -> float | None:
        """Seconds left at the mean rate so far (None before any work is done)."""
        if self.done <= 0:
            return None
        elapsed = self.progress.clock() - self.start
        return elapsed / self.done * (self.total - self.done)

    def update(self, done: int, note: str = "") -> None:
        """``done`` of ``total`` finished; ``note`` (e.g. the current loss) shown beside it."""
        self.done = done
        now = self.progress.clock()
        if self.progress.bar is not None:
            self.progress.bar.update(self._task, completed=done, note=note)
            return
        if done < self.total and now - self._last_line < self.progress.interval_s:
            return
        self._last_line = now
        eta = self.eta()
        timing = f"{format_seconds(now - self.start)} elapsed"
        if done < self.total and eta is not None:
            timing += f", ETA {format_seconds(eta)}"
        self.progress.line(
            f"{self.what} {done}/{self.total}{' ' + note if note else ''} ({timing})"
        )


class Progress:
    """Reports phases and counters to ``stream`` (rich on a terminal, plain lines otherwise)."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        live: bool | None = None,
        interval_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.interval_s = interval_s
        self.clock = clock
        self.bar: Any = None
        self._console: Any = None
        if self.live:
            from rich.console import Console

            self._console = Console(file=self.stream)

    @classmethod
    def quiet(cls) -> Progress:
        """A reporter that shows nothing, for library calls that ask for no progress."""
        return cls(io.StringIO(), live=False, interval_s=float("inf"))

    def line(self, text: str) -> None:
        """One line of text (above the bar on a terminal)."""
        if self._console is not None:
            self._console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream, flush=True)

    def phase(self, text: str) -> None:
        """A new phase begins (loading, building, saving, ...)."""
        self.line(f"{text} ...")

    @contextmanager
    def counter(self, what: str, total: int) -> Iterator[Counter]:
        """A counter of ``total`` units of ``what`` for the duration of the block."""
        counter = Counter(self, what, total)
        if not self.live:
            yield counter
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        with Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self._console,
            transient=False,
        ) as bar:
            self.bar = bar
            counter._task = bar.add_task(what, total=total, note="")
            try:
                yield counter
            finally:
                self.bar = None
