"""Faithful local stand-ins of the Anthropic Messages API and OpenAI Chat Completions.

They speak the real wire format — request validation with the APIs' error bodies, response
JSON the official SDKs parse, ``retry-after`` on rate limits — so the agents' real code path
(SDK client, retries, parsing) runs offline. They are not models: an answer picks the
allowed actions in turn (or the midpoint of each bounded field). A script of behaviours
makes the next requests misbehave, then "ok" resumes:

    ok         a well-formed answer (tool call; text first when the tool is not forced)
    429        rate limited (``retry-after``)        529 / 503  overloaded     500  server error
    malformed  a tool call whose action is not allowed (Anthropic) / whose JSON is cut (OpenAI)
    text       no tool call; a prose answer ending in a quoted action name
    garbage    no tool call; prose that names no action
    timeout    the reply stalls past the client's timeout

Use one in-process through :func:`mock_transport` (an ``httpx2.MockTransport`` for the SDK's
``http_client``), or over loopback HTTP with :func:`serve` (127.0.0.1 only, a bounded number
of requests), or from a shell for a dry run of ``bench run``::

    python -m vla_bench_claude.standin anthropic --port 8765 &
    ANTHROPIC_API_KEY=dry-run bench run --policy claude --task cartpole \\
        --policy-args base_url=http://127.0.0.1:8765
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import hashlib
import json
import math
import re
import struct
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

BEHAVIOURS = ("ok", "429", "529", "503", "500", "malformed", "text", "garbage", "timeout")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_MENU = re.compile(r"Allowed actions: (.*?)\.\n")
_CACHE_MIN_TOKENS = 1024


@dataclass
class Response:
    """What the server answers: status, headers, JSON body; ``stall`` = hang past the timeout."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    stall: bool = False

    def content(self) -> bytes:
        """The body as bytes."""
        return json.dumps(self.body).encode()


@dataclass
class Recorded:
    """One request as received (credentials replaced by ``<redacted>``)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int = 0


class BadRequest(Exception):
    """A request the real API would refuse with HTTP 400 (or ``status``)."""

    def __init__(
        self, message: str, status: int = 400, kind: str = "invalid_request_error"
    ) -> None:
        super().__init__(message)
        self.status, self.kind = status, kind


def _png_size(data: str) -> tuple[int, int]:
    """(width, height) of base64 PNG data, or BadRequest when it is not a PNG."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("image data is not valid base64") from None
    if not raw.startswith(_PNG_MAGIC) or len(raw) < 24:
        raise BadRequest("image data does not match the media type image/png")
    width, height = struct.unpack(">II", raw[16:24])
    return width, height


def _image_tokens(width: int, height: int) -> int:
    return math.ceil(width * height / 750)


def _text_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


class StandIn:
    """Shared machinery: the script, the answer chooser, recording and the lock."""

    api: ClassVar[str] = ""

    def __init__(
        self,
        *,
        script: Iterable[str] = (),
        expected_key: str | None = None,
        retry_after_s: float = 1.0,
        stall_s: float = 3.0,
    ) -> None:
        """``script``: behaviours for the next valid requests; ``expected_key``: else 401."""
        unknown = [b for b in script if b not in BEHAVIOURS]
        if unknown:
            raise ValueError(f"unknown stand-in behaviours {unknown}; known: {list(BEHAVIOURS)}")
        self.script: deque[str] = deque(script)
        self.expected_key = expected_key
        self.retry_after_s = retry_after_s
        self.stall_s = stall_s
        self.requests: list[Recorded] = []
        self.answers = 0
        self._seen_prefixes: set[str] = set()
        self._lock = threading.Lock()

    def push(self, *behaviours: str) -> None:
        """Append behaviours to the script."""
        for b in behaviours:
            if b not in BEHAVIOURS:
                raise ValueError(f"unknown stand-in behaviour {b!r}; known: {list(BEHAVIOURS)}")
        self.script.extend(behaviours)

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Answer one HTTP request the way the real API would."""
        lowered = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            try:
                parsed: Any = json.loads(body) if body else None
            except json.JSONDecodeError:
                parsed = None
            shown = {
                k: ("<redacted>" if k in ("x-api-key", "authorization") else v)
                for k, v in lowered.items()
            }
            record = Recorded(method, path, shown, parsed)
            self.requests.append(record)
            try:
                self._authorise(method, path, lowered)
                if parsed is None:
                    raise BadRequest("the request body is not valid JSON")
                request = self._validate(parsed)
                behaviour = self.script.popleft() if self.script else "ok"
                response = self._respond(behaviour, request)
            except BadRequest as exc:
                response = self._error(exc.status, exc.kind, str(exc))
            record.status = response.status
            return response

    def _prefix_cache(self, prefix_text: str, prefix_tokens: int) -> tuple[int, int]:
        """(cache write, cache read) tokens for a cacheable prefix, as prompt caching bills."""
        if prefix_tokens < _CACHE_MIN_TOKENS:
            return 0, 0
        digest = hashlib.sha256(prefix_text.encode()).hexdigest()
        if digest in self._seen_prefixes:
            return 0, prefix_tokens
        self._seen_prefixes.add(digest)
        return prefix_tokens, 0

    def _pick(self, names: list[str]) -> str:
        choice = names[self.answers % len(names)]
        self.answers += 1
        return choice

    def _answer_input(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """A schema-valid tool input: the next enum value, or each number's midpoint."""
        properties = schema.get("properties") or {}
        out: dict[str, Any] = {}
        for name, prop in properties.items():
            if "enum" in prop:
                out[name] = self._pick(list(prop["enum"]))
            elif prop.get("type") == "number":
                low, high = prop.get("minimum", -1.0), prop.get("maximum", 1.0)
                out[name] = (low + high) / 2
            elif prop.get("type") == "string":
                out[name] = "stand-in answer"
        return out

    def _prose(self, texts: list[str], *, with_action: bool) -> str:
        if with_action:
            for text in reversed(texts):
                menu = _MENU.search(text + "\n")
                if menu:
                    names = re.findall(r"'([^']+)'", menu.group(1))
                    if names:
                        return (
                            "Looking at the state, it isn't safe to wait, so the best move "
                            f"is clear. '{self._pick(names)}'"
                        )
        return "I am not sure what to do here."

    # -- per-API parts ----------------------------------------------------------------------
    def _authorise(self, method: str, path: str, headers: Mapping[str, str]) -> None:
        raise NotImplementedError

    def _validate(self, body: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _respond(self, behaviour: str, request: dict[str, Any]) -> Response:
        raise NotImplementedError

    def _error(self, status: int, kind: str, message: str) -> Response:
        raise NotImplementedError


class AnthropicStandIn(StandIn):
    """``POST /v1/messages`` as the Anthropic API answers it (non-streaming)."""

    api: ClassVar[str] = "anthropic"
    _TOP_LEVEL: ClassVar[frozenset[str]] = frozenset(
        {
            "model",
            "max_tokens",
            "messages",
            "system",
            "tools",
            "tool_choice",
            "metadata",
            "stop_sequences",
            "stream",
            "temperature",
            "top_p",
            "top_k",
            "thinking",
            "output_config",
            "service_tier",
            "container",
            "cache_control",
            "diagnostics",
            "inference_geo",
            "speed",
            "user_profile_id",
            "workspace_id",
            "context_management",
            "mcp_servers",
        }
    )

    def __init__(
        self, *, rejects_forced_tools: tuple[str, ...] = ("claude-sonnet-5-5",), **kwargs: Any
    ) -> None:
        """``rejects_forced_tools``: model prefixes that always think first, so refuse forced
        tool use and start each answer with a thinking block."""
        super().__init__(**kwargs)
        self.rejects_forced_tools = rejects_forced_tools

    def _error(self, status: int, kind: str, message: str) -> Response:
        kinds = {401: "authentication_error", 404: "not_found_error", 413: "request_too_large"}
        body = {"type": "error", "error": {"type": kinds.get(status, kind), "message": message}}
        return Response(status, body, {"request-id": f"req_standin_{len(self.requests):06d}"})

    def _authorise(self, method: str, path: str, headers: Mapping[str, str]) -> None:
        if method != "POST" or path.rstrip("/") != "/v1/messages":
            raise BadRequest(f"Not found: {method} {path}", status=404)
        # API keys travel as x-api-key or, from the current SDKs, as a bearer token
        bearer = headers.get("authorization", "")
        key = headers.get("x-api-key") or (bearer[7:] if bearer.startswith("Bearer ") else "")
        if not key:
            raise BadRequest("x-api-key header is required", status=401)
        if self.expected_key is not None and key != self.expected_key:
            raise BadRequest("invalid x-api-key", status=401)
        if "anthropic-version" not in headers:
            raise BadRequest("anthropic-version: header is required")

    def _validate(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        extra = sorted(set(body) - self._TOP_LEVEL)
        if extra:
            raise BadRequest(f"{extra[0]}: Extra inputs are not permitted")
        if not isinstance(body.get("model"), str) or not body["model"]:
            raise BadRequest("model: Field required")
        if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
            raise BadRequest("max_tokens: Field required (an integer >= 1)")
        if body.get("stream"):
            raise BadRequest("stream: this stand-in answers non-streaming requests only")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("messages: at least one message is required")
        if messages[0].get("role") != "user":
            raise BadRequest('messages: first message must use the "user" role')
        for i, message in enumerate(messages):
            if message.get("role") not in ("user", "assistant"):
                raise BadRequest(f"messages.{i}.role: Input should be 'user' or 'assistant'")
            content = message.get("content")
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
            if not isinstance(blocks, list) or not blocks:
                raise BadRequest(f"messages.{i}.content: must be a string or a list of blocks")
            for j, block in enumerate(blocks):
                self._check_block(block, f"messages.{i}.content.{j}")
        system = body.get("system")
        if system is not None and not isinstance(system, str | list):
            raise BadRequest("system: Input should be a string or a list of text blocks")
        tools = body.get("tools") or []
        names = []
        for i, tool in enumerate(tools):
            if not re.fullmatch(r"[a-zA-Z0-9_-]{1,128}", str(tool.get("name", ""))):
                raise BadRequest(f"tools.{i}.name: String should match pattern")
            schema = tool.get("input_schema")
            if not isinstance(schema, dict) or schema.get("type") != "object":
                raise BadRequest(f"tools.{i}.input_schema: type must be 'object'")
            names.append(tool["name"])
        choice = body.get("tool_choice")
        if choice is not None:
            kind = choice.get("type")
            if kind not in ("auto", "any", "tool", "none"):
                raise BadRequest(f"tool_choice.type: unknown value {kind!r}")
            if kind != "none" and not tools:
                raise BadRequest("tool_choice may only be specified while providing tools")
            if kind == "tool" and choice.get("name") not in names:
                raise BadRequest(f"tool_choice.name: no tool named {choice.get('name')!r}")
            if kind in ("any", "tool") and body["model"].startswith(self.rejects_forced_tools):
                raise BadRequest(
                    f"tool_choice: forcing tool use is not supported with {body['model']}; "
                    'use tool_choice {"type": "auto"}'
                )
        return body

    @staticmethod
    def _check_block(block: Any, where: str) -> None:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            if not isinstance(block.get("text"), str) or not block["text"]:
                raise BadRequest(f"{where}.text: text content blocks must be non-empty")
        elif kind == "image":
            source = block.get("source") or {}
            if source.get("type") != "base64":
                raise BadRequest(f"{where}.source.type: this stand-in takes base64 images")
            if source.get("media_type") not in (
                "image/png",
                "image/jpeg",
                "image/gif",
                "image/webp",
            ):
                raise BadRequest(f"{where}.source.media_type: unsupported media type")
            if source["media_type"] == "image/png":
                _png_size(str(source.get("data", "")))
        elif kind not in ("tool_use", "tool_result"):
            raise BadRequest(f"{where}.type: unknown content block type {kind!r}")

    def _usage(self, request: dict[str, Any], output: Any) -> dict[str, Any]:
        """Token counts estimated from the request: ~4 characters a token, images w*h/750."""
        pieces: list[tuple[str, int]] = [(json.dumps(request.get("tools", [])), 0)]
        system = request.get("system") or ""
        pieces.append((json.dumps(system), 0))
        prefix_end = -1
        for message in request["messages"]:
            content = message["content"]
            blocks: list[dict[str, Any]] = (
                [{"type": "text", "text": content}] if isinstance(content, str) else content
            )
            for block in blocks:
                if block["type"] == "image":
                    w, h = _png_size(block["source"]["data"])
                    pieces.append((block["source"]["data"][:64], _image_tokens(w, h)))
                else:
                    pieces.append((json.dumps(block), 0))
                if "cache_control" in block:
                    prefix_end = len(pieces)
        tokens = [_text_tokens(text) + extra for text, extra in pieces]
        total = sum(tokens)
        write = read = 0
        if prefix_end > 0:
            prefix_tokens = sum(tokens[:prefix_end])
            write, read = self._prefix_cache(
                "".join(t for t, _ in pieces[:prefix_end]), prefix_tokens
            )
            total -= write + read
        return {
            "input_tokens": total,
            "output_tokens": _text_tokens(json.dumps(output)),
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read,
        }

    def _respond(self, behaviour: str, request: dict[str, Any]) -> Response:
        n = len(self.requests)
        if behaviour == "429":
            headers = {"retry-after": f"{self.retry_after_s:g}"}
            message = "Number of request tokens has exceeded your per-minute rate limit"
            return Response(429, self._error(429, "rate_limit_error", message).body, headers)
        if behaviour in ("529", "503"):
            return self._error(529, "overloaded_error", "Overloaded")
        if behaviour == "500":
            return self._error(500, "api_error", "Internal server error")
        texts = [
            b["text"]
            for m in request["messages"]
            for b in (m["content"] if isinstance(m["content"], list) else [])
            if b.get("type") == "text"
        ]
        tools = {t["name"]: t for t in request.get("tools") or []}
        choice = (request.get("tool_choice") or {"type": "auto" if tools else "none"})["type"]
        content: list[dict[str, Any]] = []
        if request["model"].startswith(self.rejects_forced_tools):
            # these models think first (adaptive thinking; its text is omitted by default)
            content.append(
                {"type": "thinking", "thinking": "", "signature": f"sig_standin_{n:06d}"}
            )
        if tools and choice != "none" and behaviour in ("ok", "malformed", "timeout"):
            name = "choose_action" if "choose_action" in tools else next(iter(tools))
            answer = self._answer_input(tools[name]["input_schema"])
            if behaviour == "malformed":
                answer = {**answer, "action": "do a barrel roll"} if "action" in answer else {}
            if choice == "auto":
                content.append({"type": "text", "text": "I'll pick the next action."})
            content.append(
                {"type": "tool_use", "id": f"toolu_standin_{n:06d}", "name": name, "input": answer}
            )
            stop = "tool_use"
        else:
            prose = self._prose(texts, with_action=behaviour in ("text", "ok", "timeout"))
            content.append({"type": "text", "text": prose})
            stop = "end_turn"
        body = {
            "id": f"msg_standin_{n:06d}",
            "type": "message",
            "role": "assistant",
            "model": request["model"],
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": self._usage(request, content),
        }
        return Response(
            200, body, {"request-id": f"req_standin_{n:06d}"}, stall=behaviour == "timeout"
        )


class OpenAIStandIn(StandIn):
    """``POST /v1/chat/completions`` as an OpenAI-compatible server answers it."""

    api: ClassVar[str] = "openai"

    def __init__(self, *, tools: str = "forced", **kwargs: Any) -> None:
        """``tools``: what the server supports: "forced" (named tool_choice), "auto" or "none"."""
        super().__init__(**kwargs)
        if tools not in ("forced", "auto", "none"):
            raise ValueError("tools must be 'forced', 'auto' or 'none'")
        self.tool_support = tools

    def _error(self, status: int, kind: str, message: str) -> Response:
        body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        return Response(status, body, {"x-request-id": f"req_standin_{len(self.requests):06d}"})

    def _authorise(self, method: str, path: str, headers: Mapping[str, str]) -> None:
        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            raise BadRequest(f"Invalid URL ({method} {path})", status=404)
        auth = headers.get("authorization", "")
        key = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
        if not key:
            raise BadRequest(
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                status=401,
            )
        if self.expected_key is not None and key != self.expected_key:
            raise BadRequest("Incorrect API key provided.", status=401)

    def _validate(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        if not isinstance(body.get("model"), str) or not body["model"]:
            raise BadRequest("you must provide a model parameter")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("'messages' must contain at least one message")
        for i, message in enumerate(messages):
            if message.get("role") not in ("system", "developer", "user", "assistant", "tool"):
                raise BadRequest(f"Invalid value for 'messages[{i}].role'")
            content = message.get("content")
            if isinstance(content, list):
                for j, part in enumerate(content):
                    kind = part.get("type")
                    if kind == "text" and isinstance(part.get("text"), str):
                        continue
                    if kind == "image_url":
                        url = str((part.get("image_url") or {}).get("url", ""))
                        if url.startswith("data:image/png;base64,"):
                            _png_size(url.split(",", 1)[1])
                            continue
                        if url.startswith(("http://", "https://", "data:image/")):
                            continue
                        raise BadRequest(f"Invalid 'messages[{i}].content[{j}].image_url.url'")
                    raise BadRequest(f"Invalid content part type {kind!r} in messages[{i}]")
            elif not isinstance(content, str) and message["role"] != "assistant":
                raise BadRequest(f"Invalid type for 'messages[{i}].content'")
        tools = body.get("tools") or []
        if tools and self.tool_support == "none":
            raise BadRequest("tools are not supported by this server")
        names = []
        for i, tool in enumerate(tools):
            function = tool.get("function") or {}
            if tool.get("type") != "function" or not function.get("name"):
                raise BadRequest(f"Invalid 'tools[{i}]': expected a function with a name")
            names.append(function["name"])
        choice = body.get("tool_choice")
        if choice is not None:
            if not tools and choice != "none":
                raise BadRequest("'tool_choice' is only allowed when 'tools' are specified")
            if isinstance(choice, dict):
                if self.tool_support != "forced":
                    raise BadRequest("named tool_choice is not supported by this server")
                if (choice.get("function") or {}).get("name") not in names:
                    raise BadRequest("tool_choice names a function that is not in 'tools'")
            elif choice not in ("none", "auto", "required"):
                raise BadRequest(f"Invalid value for 'tool_choice': {choice!r}")
        return body

    def _respond(self, behaviour: str, request: dict[str, Any]) -> Response:
        n = len(self.requests)
        if behaviour == "429":
            body = self._error(429, "requests", "Rate limit reached for requests.").body
            body["error"]["code"] = "rate_limit_exceeded"
            return Response(429, body, {"retry-after": f"{self.retry_after_s:g}"})
        if behaviour in ("529", "503"):
            return self._error(503, "server_error", "The server is overloaded or not ready yet.")
        if behaviour == "500":
            return self._error(
                500, "server_error", "The server had an error while processing your request."
            )
        texts, images = [], 0
        for turn in request["messages"]:
            content = turn.get("content")
            parts: list[dict[str, Any]] = (
                content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
            )
            for part in parts:
                if part["type"] == "text":
                    texts.append(part["text"])
                else:
                    url = part["image_url"]["url"]
                    if url.startswith("data:image/png;base64,"):
                        images += _image_tokens(*_png_size(url.split(",", 1)[1]))
        tools = {t["function"]["name"]: t["function"] for t in request.get("tools") or []}
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        if (
            tools
            and request.get("tool_choice") != "none"
            and behaviour in ("ok", "malformed", "timeout")
        ):
            name = "choose_action" if "choose_action" in tools else next(iter(tools))
            arguments = json.dumps(self._answer_input(tools[name].get("parameters") or {}))
            if behaviour == "malformed":
                arguments = arguments[: max(1, len(arguments) // 2)]  # cut mid-JSON
            call = {
                "id": f"call_standin_{n:06d}",
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
            message["tool_calls"] = [call]
            finish = "tool_calls"
        else:
            message["content"] = self._prose(
                texts, with_action=behaviour in ("text", "ok", "timeout")
            )
            finish = "stop"
        prompt_tokens = (
            sum(_text_tokens(t) for t in texts)
            + images
            + _text_tokens(json.dumps(list(tools.values())))
        )
        completion_tokens = _text_tokens(json.dumps(message))
        body = {
            "id": f"chatcmpl-standin-{n:06d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request["model"],
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "system_fingerprint": "fp_standin",
        }
        headers = {"x-request-id": f"req_standin_{n:06d}", "openai-processing-ms": "12"}
        return Response(200, body, headers, stall=behaviour == "timeout")


def mock_transport(standin: StandIn) -> Any:
    """An ``httpx2.MockTransport`` answering through ``standin`` (pass it to an SDK's client).

    A stalled reply raises ``httpx2.ReadTimeout``, which is what the real transport raises
    when a server stays silent past the timeout.
    """
    import httpx2

    def handler(request: httpx2.Request) -> httpx2.Response:
        reply = standin.handle(
            request.method, request.url.path, dict(request.headers), request.content
        )
        if reply.stall:
            raise httpx2.ReadTimeout(
                "the stand-in stalled past the client timeout", request=request
            )
        headers = {"content-type": "application/json", **reply.headers}
        return httpx2.Response(reply.status, headers=headers, content=reply.content())

    return httpx2.MockTransport(handler)


@contextlib.contextmanager
def serve(
    standin: StandIn, *, port: int = 0, max_requests: int = 10_000, max_body_bytes: int = 32 << 20
) -> Iterator[str]:
    """Serve ``standin`` on 127.0.0.1 (never another interface); yield its base URL.

    After ``max_requests`` requests it answers 503 with ``x-should-retry: false``; bodies over
    ``max_body_bytes`` get 413. A stalled reply sleeps ``standin.stall_s`` before answering.
    """
    count = 0
    count_lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            nonlocal count
            with count_lock:
                count += 1
                over = count > max_requests
            length = int(self.headers.get("content-length") or 0)
            if over:
                reply = standin._error(503, "overloaded_error", "stand-in request limit reached")
                reply.headers["x-should-retry"] = "false"
            elif length > max_body_bytes:
                reply = standin._error(413, "request_too_large", "Request exceeds the maximum size")
            else:
                body = self.rfile.read(length) if length else b""
                reply = standin.handle(
                    self.command, self.path.split("?")[0], dict(self.headers), body
                )
            if reply.stall:
                time.sleep(standin.stall_s)
            content = reply.content()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(content)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(content)

        do_POST = _answer
        do_GET = _answer

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests and dry runs read ``standin.requests`` instead."""

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},  # shutdown() waits up to one poll interval
        name=f"{standin.api}-standin",
        daemon=True,
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def main(argv: list[str] | None = None) -> None:
    """Serve a stand-in from the shell until its request or time limit."""
    parser = argparse.ArgumentParser(description="Serve a local stand-in of an LLM API.")
    parser.add_argument("api", choices=["anthropic", "openai"])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--script", default="", help="comma-separated behaviours, e.g. 429,ok")
    parser.add_argument("--max-requests", type=int, default=10_000)
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    parser.add_argument("--retry-after", type=float, default=1.0)
    args = parser.parse_args(argv)
    script = [b for b in args.script.split(",") if b]
    cls = AnthropicStandIn if args.api == "anthropic" else OpenAIStandIn
    standin = cls(script=script, retry_after_s=args.retry_after)
    with serve(standin, port=args.port, max_requests=args.max_requests) as url:
        print(f"{args.api} stand-in serving at {url} (Ctrl-C stops it)", flush=True)
        deadline = time.monotonic() + args.max_seconds
        with contextlib.suppress(KeyboardInterrupt):
            while time.monotonic() < deadline and len(standin.requests) < args.max_requests:
                time.sleep(0.2)
    statuses: dict[int, int] = {}
    for r in standin.requests:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    print(f"served {len(standin.requests)} requests; statuses {statuses}", flush=True)


if __name__ == "__main__":
    main()
