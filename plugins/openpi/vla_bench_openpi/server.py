"""``bench serve``'s server: any registered policy behind openpi's WebSocket protocol.

Wire behaviour, as openpi's ``WebsocketPolicyServer``: binary msgpack frames, no compression;
on connect one metadata frame; then each observation frame is answered with ``actions`` (T x D
float64), ``policy_timing`` and ``server_timing`` (``infer_ms``; ``prev_total_ms`` from the
second request on); ``GET /healthz`` answers 200. Where it differs, it is on purpose:

- it binds 127.0.0.1 unless told otherwise, and with an API key configured refuses a handshake
  without ``Authorization: Api-Key <key>`` (HTTP 401; ``/healthz`` stays open);
- a policy failure is logged with its traceback here, and the client gets a text frame with one
  line (the traceback only with ``debug``), then close code 1011, as openpi does;
- a malformed request (not msgpack, nested too deep, refused dtype, array data that does not
  match its shape, unknown observation keys) gets a text frame ``error: ...`` and close code
  1008; a frame over ``max_frame_bytes`` is refused by the WebSocket layer before it is read
  (close code 1009, "message too big"). Other connections are unaffected;
- connections are served concurrently, each with its own session: on the engine's
  :class:`~harness.host.PolicyHost`, which batches their requests, when the policy can
  ``fork()``, else on a copy of the policy of its own (:class:`~harness.host.CopiesHost`).
  A session outlives its connection and serves the next one (every connection starts with a
  reset), so reconnecting clients cost no new fork or copy. While no batch can form (one
  client, or ``max_batch`` 1) a quick ``act`` of the shared host (see :data:`QUICK_ACT_S`) runs
  on the server's own thread, as in openpi's server, saving the hand-over to the host thread;
- the vla-bench extension (episode resets, chunk details) is available to clients that ask,
  see :mod:`vla_bench_openpi.extension`.
"""

from __future__ import annotations

import asyncio
import hmac
import http
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import websockets
from websockets.asyncio.server import Request, Response, ServerConnection, serve
from websockets.frames import CloseCode

from harness.contract import ActionChunk, EpisodeSpec, Policy, TaskSpec, supports
from harness.host import CopiesHost, HostSession, PolicyHost
from vla_bench_openpi import codec, extension
from vla_bench_openpi.layouts import LayoutError, accepted_keys, from_wire

logger = logging.getLogger("vla_bench_openpi.server")

QUICK_ACT_S = 0.01
"""Acts that took less (the last time) may run on the server's own thread. A slower one goes to
the host thread, where the hand-over (about 0.1 ms) is under 1% of it and the server keeps
answering pings, health checks and new connections meanwhile."""

UNAUTHORIZED = "missing or wrong API key: send the header 'Authorization: Api-Key <key>'\n"


def run_event_loop[T](main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on uvloop's event loop (libuv) where it is installed (a
    dependency of this plugin except on Windows), else on asyncio's own.

    The loop is most of a round trip's server time: on the round-trip benchmark
    (``benchmarks/bench_roundtrip.py --asyncio-too``), uvloop took the server's CPU per request
    from 0.37-0.44 ms to 0.26-0.31 ms, and its p50 from 1.01-1.15x openpi's server (which runs
    on asyncio's loop) to 0.94-1.05x.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


class BadRequest(ValueError):
    """A request refused before it reaches the policy; the message is sent to the client."""


@dataclass(frozen=True)
class ServerSettings:
    """Where to listen and what to accept."""

    host: str = "127.0.0.1"
    port: int = 8000
    max_frame_bytes: int = 16 * 2**20
    max_depth: int = codec.DEFAULT_MAX_DEPTH
    api_key: str | None = field(default=None, repr=False)
    debug: bool = False


class PolicyServer:
    """Serves one policy (through a host) to any number of openpi-protocol clients."""

    def __init__(
        self,
        name: str,
        policy: Policy,
        host: PolicyHost | CopiesHost,
        settings: ServerSettings,
        *,
        task: TaskSpec | None = None,
        action_spaces: Sequence[str] = ("*",),
    ) -> None:
        self.name = name
        self.policy = policy
        self.host = host
        self.settings = settings
        self.task = task
        self.action_spaces = tuple(action_spaces)
        self.chunk_length: int | None = None  # learned from the first answer
        # Read once, before serving: afterwards only the host's thread touches the policy.
        self._policy_facts = {
            "name": name,
            "describe": extension.plain(_describe(policy)),
            "action_spaces": list(self.action_spaces),
            "n_action_steps": getattr(policy, "n_action_steps", None),
            "uses_images": getattr(policy, "uses_images", True),
            "warmup_calls": getattr(policy, "warmup_calls", 1),
        }
        # One thread per connection waiting on the host at most; threads start on demand.
        self._pool = ThreadPoolExecutor(256, thread_name_prefix="vla-bench-serve")

    # -- what a client sees first ------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """The frame sent on connect: openpi clients may ignore it; ours read it."""
        task = self.task
        return {
            extension.ANNOUNCE: {
                "server": f"vla-bench-openpi {_version()}",
                "policy": self._policy_facts,
                "task": extension.task_to_wire(task) if task else None,
                "action_space": extension.task_to_wire(task)["action_space"] if task else None,
                "chunk_length": self.chunk_length,
                "observation_keys": accepted_keys(task),
                "extensions": extension.DOCS,
                "batching": {
                    "max_batch": getattr(self.host, "max_batch", 1),
                    "max_wait_s": getattr(self.host, "max_wait_s", 0.0),
                },
                "limits": {
                    "max_frame_bytes": self.settings.max_frame_bytes,
                    "max_depth": self.settings.max_depth,
                },
                "auth": "Api-Key" if self.settings.api_key else None,
            }
        }

    # -- serving -----------------------------------------------------------------------------
    async def run(
        self,
        ready: Callable[[int], None] | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        """Listen until ``stop`` is set (or forever); ``ready(port)`` once listening."""
        async with serve(
            self._handle,
            self.settings.host,
            self.settings.port,
            compression=None,
            max_size=self.settings.max_frame_bytes,
            process_request=self._process_request,
        ) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            if ready is not None:
                ready(port)
            if stop is None:
                await server.serve_forever()
            else:
                await stop.wait()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        key = self.settings.api_key
        if key is not None:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Api-Key {key}".encode()):
                logger.warning("refused %s: missing or wrong API key", connection.remote_address)
                return connection.respond(http.HTTPStatus.UNAUTHORIZED, UNAUTHORIZED)
        return None

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _handle(self, ws: ServerConnection) -> None:
        peer = ws.remote_address
        # Both hosts hand a released session to the next connection (reset before use).
        session = await self._call(self.host.open)
        logger.info("connection from %s opened", peer)
        try:
            await self._converse(ws, session)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.host.release(session)
            logger.info("connection from %s closed", peer)

    async def _converse(self, ws: ServerConnection, session: Any) -> None:
        packer = codec.Packer()
        await ws.send(packer.pack(self.metadata()))
        state = _Conversation(self.task)
        if state.task is not None:
            reset = self._call(session.reset, state.task, EpisodeSpec(0, 0), None)
            ok, _ = await self._guarded(ws, reset)
            if not ok:
                return
        async for frame in ws:
            start = time.monotonic()
            ok, reply = await self._guarded(ws, self._answer(session, state, frame))
            if not ok:
                return
            if state.prev_total_ms is not None:
                reply.setdefault("server_timing", {})["prev_total_ms"] = state.prev_total_ms
            await ws.send(packer.pack(reply))
            state.prev_total_ms = (time.monotonic() - start) * 1e3

    async def _answer(self, session: Any, state: _Conversation, frame: str | bytes) -> Any:
        """The reply to one request (a reset, or an observation)."""
        message = self._decode(frame)
        if extension.RESET in message:
            state.task, episode = self._reset_of(message)
            await self._call(session.reset, state.task, episode, None)
            state.extended = True
            return {extension.RESET: {"task": state.task.name, "episode": episode.index}}
        if state.task is None:
            raise BadRequest(
                "this server has no task: start it with --task NAME, or send a "
                "vla_bench/reset first (see the metadata frame)"
            )
        try:
            observation = from_wire(message, state.task)
        except LayoutError as exc:
            raise BadRequest(str(exc)) from None
        began = time.monotonic()
        here = None
        if isinstance(session, HostSession) and state.quick:
            # Alone on an idle host, a quick act runs right here: no hand-over to the host
            # thread and back (it blocks this loop, as openpi's server does; no batch was
            # possible).
            here = session.act_here(observation)
        if here is not None:
            chunk: ActionChunk = here
        elif isinstance(session, HostSession):
            chunk = await asyncio.wrap_future(session.submit_act(observation))
        else:  # a copy of its own: its act blocks, so it runs on the pool
            chunk = await self._call(session.act, observation)
        state.quick = time.monotonic() - began < QUICK_ACT_S
        return self._reply(chunk, (time.monotonic() - began) * 1e3, state.extended)

    async def _guarded(self, ws: ServerConnection, work: Awaitable[Any]) -> tuple[bool, Any]:
        """``(True, await work)``; on a failure tell the client, close, and ``(False, None)``."""
        try:
            return True, await work
        except BadRequest as exc:
            logger.warning("refused a request from %s: %s", ws.remote_address, exc)
            await ws.send(f"error: {exc}")
            await ws.close(CloseCode.POLICY_VIOLATION, "bad request; see the previous frame")
        except websockets.ConnectionClosed:
            raise
        except Exception as exc:
            logger.exception("policy %s failed serving %s", self.name, ws.remote_address)
            await ws.send(traceback.format_exc() if self.settings.debug else _one_line(exc))
            await ws.close(
                CloseCode.INTERNAL_ERROR,
                "Internal server error. Traceback included in previous frame."
                if self.settings.debug
                else "Internal server error. Error included in previous frame.",
            )
        return False, None

    def _decode(self, frame: str | bytes) -> dict[str, Any]:
        if isinstance(frame, str):
            raise BadRequest("text frames are not requests; send msgpack in binary frames")
        try:
            message = codec.unpack(frame, max_depth=self.settings.max_depth)
        except codec.WireFormatError as exc:
            raise BadRequest(str(exc)) from None
        if not isinstance(message, dict):
            raise BadRequest(f"a request must be a msgpack map, got {type(message).__name__}")
        return message

    def _reset_of(self, message: dict[str, Any]) -> tuple[TaskSpec, EpisodeSpec]:
        try:
            task, episode = extension.parse_reset(message[extension.RESET])
        except extension.ExtensionError as exc:
            raise BadRequest(str(exc)) from None
        if not supports(self.action_spaces, task.action_space):
            raise BadRequest(
                f"policy {self.name!r} drives action spaces {list(self.action_spaces)}; task "
                f"{task.name!r} uses {task.action_space.name!r}"
            )
        return task, episode

    def _reply(self, chunk: ActionChunk, infer_ms: float, extended: bool) -> dict[str, Any]:
        self.chunk_length = int(chunk.actions.shape[0])
        model = chunk.model_time_s
        reply: dict[str, Any] = {
            "actions": chunk.actions,
            "policy_timing": {"infer_ms": model * 1e3 if model is not None else infer_ms},
            "server_timing": {"infer_ms": infer_ms},
        }
        if extended:
            reply[extension.CHUNK] = extension.chunk_details(chunk)
        return reply


@dataclass
class _Conversation:
    """What one connection remembers between requests."""

    task: TaskSpec | None
    extended: bool = False  # the client uses the vla-bench extension
    prev_total_ms: float | None = None
    quick: bool = False  # its last act took under QUICK_ACT_S (the first one is not known to)


def _version() -> str:
    try:
        return version("vla-bench-openpi")
    except PackageNotFoundError:  # run from a source tree
        return "(source)"


def _describe(policy: Policy) -> dict[str, Any]:
    describe = getattr(policy, "describe", None)
    if describe is None:
        return {}
    try:
        return dict(describe())
    except Exception as exc:  # a describe() that needs an episode first must not stop serving
        return {"describe_error": _one_line(exc)}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
