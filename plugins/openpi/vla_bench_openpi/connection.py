"""One WebSocket connection to an openpi-protocol server, reopened with backoff when it drops.

A request that fails for any reason (the server closed, answered with an error, timed out, or
the call was interrupted) closes the connection, because a late answer would otherwise be read
as the answer to the next request; the next request opens a fresh one. Connecting retries
refused or dropped attempts with exponential backoff for up to ``connect_window_s``.
"""

from __future__ import annotations

import contextlib
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import websockets
import websockets.sync.client

from vla_bench_openpi import codec

FIRST_BACKOFF_S = 0.1
MAX_BACKOFF_S = 2.0


class ServerError(RuntimeError):
    """The server answered with an error, closed the connection, or could not be reached.

    ``outcome`` is how the episode it ends is recorded (see ``harness.results.OUTCOMES``).
    """

    outcome = "policy_error"


class ConnectionLost(ServerError):
    """The connection closed under a request (the server stopped, restarted or dropped it)."""

    outcome = "policy_crash"


class Unreachable(ServerError):
    """No connection could be made within the connect window."""

    outcome = "policy_crash"


class NoReply(ServerError):
    """The server did not answer within the reply timeout."""

    outcome = "policy_timeout"


@dataclass(frozen=True)
class Endpoint:
    """Where the server is and how to talk to it (the API key is never shown or recorded)."""

    url: str
    api_key: str | None = field(default=None, repr=False)
    connect_window_s: float = 10.0
    timeout_s: float | None = 300.0

    @property
    def shown(self) -> str:
        """The URL without any user:password part, for messages and records."""
        parts = urllib.parse.urlsplit(self.url)
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            netloc += f":{parts.port}"
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class Connection:
    """A request/reply channel to one server; ``metadata`` is the frame it sent on connect."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.metadata: dict[str, Any] = {}
        self.opened = 0  # connections opened so far (a new one means a fresh server session)
        self._ws: websockets.sync.client.ClientConnection | None = None
        self._stack = contextlib.ExitStack()
        self._packer = codec.Packer()

    @property
    def is_open(self) -> bool:
        """Whether a connection is up (as far as this side knows)."""
        return self._ws is not None

    def open(self) -> None:
        """Connect (retrying with backoff within the window) and read the metadata frame."""
        if self._ws is not None:
            return
        endpoint = self.endpoint
        headers = {"Authorization": f"Api-Key {endpoint.api_key}"} if endpoint.api_key else None
        deadline = time.monotonic() + endpoint.connect_window_s
        delay = FIRST_BACKOFF_S
        while True:
            stack = contextlib.ExitStack()
            try:
                # Entered as a context manager, the form every websockets version supports.
                ws = stack.enter_context(
                    websockets.sync.client.connect(
                        endpoint.url,
                        compression=None,
                        max_size=None,
                        additional_headers=headers,
                        open_timeout=max(1.0, endpoint.connect_window_s),
                        # Off: openpi's server blocks its event loop during inference and would
                        # miss pings; a dead server is caught by the reply timeout instead.
                        ping_interval=None,
                    )
                )
            except websockets.InvalidStatus as exc:
                status = exc.response.status_code
                hint = (
                    " (the server wants an API key: set api_key_env=VAR with VAR holding it)"
                    if status in (401, 403)
                    else ""
                )
                raise ServerError(
                    f"{endpoint.shown} refused the connection with HTTP {status}{hint}"
                ) from None
            except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
                if time.monotonic() + delay > deadline:
                    raise Unreachable(
                        f"cannot reach {endpoint.shown} ({type(exc).__name__}: {exc}); is the "
                        "server running? (bench serve ... or openpi's serve_policy.py)"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
                continue
            try:
                self.metadata = self._decode(ws.recv(timeout=endpoint.connect_window_s or None))
            except TimeoutError:
                stack.close()
                raise ServerError(
                    f"{endpoint.shown} sent no metadata frame within "
                    f"{endpoint.connect_window_s:g}s (busy serving another client?)"
                ) from None
            except websockets.ConnectionClosed as exc:
                stack.close()
                raise ServerError(
                    f"{endpoint.shown} closed the connection ({_close_text(exc)})"
                ) from None
            except BaseException:
                stack.close()
                raise
            if not isinstance(self.metadata, dict):
                stack.close()
                raise ServerError(f"{endpoint.shown} sent a metadata frame that is not a map")
            self._ws, self._stack = ws, stack
            self.opened += 1
            return

    def request(self, message: Any) -> Any:
        """Send one message and return the decoded reply; any failure closes the connection."""
        self.open()
        assert self._ws is not None
        try:
            with self._packer.packed(message) as frame:
                self._ws.send(frame)
            return self._decode(self._ws.recv(timeout=self.endpoint.timeout_s))
        except BaseException as exc:
            self.close()
            if isinstance(exc, TimeoutError):
                raise NoReply(
                    f"{self.endpoint.shown} did not answer within {self.endpoint.timeout_s:g}s "
                    "(raise timeout=...)"
                ) from None
            if isinstance(exc, websockets.ConnectionClosed):
                raise ConnectionLost(
                    f"{self.endpoint.shown} closed the connection ({_close_text(exc)})"
                ) from None
            raise

    def _decode(self, frame: str | bytes) -> Any:
        if isinstance(frame, str):
            # openpi's servers send an error as a text frame (a traceback; ours: one line).
            raise ServerError(f"{self.endpoint.shown} failed: {frame.strip()}")
        try:
            return codec.unpack(frame)
        except codec.WireFormatError as exc:
            raise ServerError(f"{self.endpoint.shown} sent a malformed reply: {exc}") from None

    def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        stack, self._ws = self._stack, None
        with contextlib.suppress(Exception):
            stack.close()


def _close_text(exc: websockets.ConnectionClosed) -> str:
    close = exc.rcvd or exc.sent
    if close is None:
        return "no close frame: the server went away"
    return f"code {close.code}" + (f": {close.reason}" if close.reason else "")
