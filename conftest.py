"""Settings for every test of the repository (tests/, tasks/, plugins/, leaderboard/)."""

from __future__ import annotations

import signal

# A shell without job control starts background commands (`make test &`, CI runners that
# detach) with SIGINT ignored; Python keeps it ignored, and so would every `bench` process the
# tests start. The tests of Ctrl-C check what a user at a terminal gets: Python's default.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
