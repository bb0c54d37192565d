"""Messages between the runner's processes (env workers, the policy host, the runner) over
``multiprocessing`` connections, pickled to bytes before they are sent.

``Connection.send`` pickles a message into a ``BytesIO`` and sends a memoryview of it. When the
send fails because the other process died (``BrokenPipeError``) and that error is kept in a
reference cycle (an episode keeps the exception that ended it, and its traceback holds the
frames of the send, with the view), CPython 3.12.1's cyclic garbage collector can free the
``BytesIO`` before the view that still exports it: "SystemError: deallocated BytesIO object
has exported buffers", then a segfault of the process, found in an env worker whose policy
host had died (3.11 and 3.13 do not crash). :func:`send` and :func:`receive` move plain
``bytes`` instead, which export nothing, with the same pickler as ``Connection.send``.
"""

from __future__ import annotations

import io
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any


def send(conn: Connection, message: Any) -> None:
    """Send ``message`` (picklable) over ``conn``."""
    buffer = io.BytesIO()
    ForkingPickler(buffer).dump(message)
    conn.send_bytes(buffer.getvalue())


def receive(conn: Connection) -> Any:
    """The next message on ``conn`` (blocks; ``EOFError`` when the other end closed)."""
    return ForkingPickler.loads(conn.recv_bytes())
