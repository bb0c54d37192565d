"""vla-bench's optional extension to openpi's protocol: episode boundaries and chunk details.

openpi's protocol has no reset: a client sends observations, a server answers with actions. A
plain openpi client never sends anything below and gets exactly openpi's replies. A server that
supports the extension says so in its metadata frame (key :data:`ANNOUNCE`); a client that knows
it may then send, as a request of its own::

    {"vla_bench/reset": {"task": <TaskSpec as a map>, "episode": {"index": 3, "seed": 31003}}}

The server resets this connection's session (history, RNG, conversation) for that task and
episode, exactly as an in-process run calls ``policy.reset(task, episode, None)``, and answers
``{"vla_bench/reset": {"task": "<name>", "episode": 3}}``. From then on each reply also carries
``"vla_bench/chunk"``: the :class:`~harness.contract.ActionChunk` fields openpi has no place for
(model time in seconds, tokens, cost, decode failures, peak memory, backend info), so a remote
episode records what an in-process one records. The task travels whole, so the server needs no
copy of the task plugin and the task's options (image size, ...) are the client's.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any

from harness.contract import ActionChunk, ActionSpace, EpisodeSpec, TaskSpec

ANNOUNCE = "vla_bench"
"""Metadata key under which a vla-bench server describes itself and the extension."""

RESET = "vla_bench/reset"
"""Request (and reply) key of a session reset."""

CHUNK = "vla_bench/chunk"
"""Reply key holding the chunk fields openpi has no place for."""

DOCS = {
    RESET: (
        'send {"vla_bench/reset": {"task": <TaskSpec map>, "episode": {"index": i, "seed": s}}} '
        "to start an episode; the session's policy is reset as in process; optional"
    ),
    CHUNK: (
        "after a reset, replies carry model_time_s, input_tokens, output_tokens, cost_usd, "
        "decode_failures, peak_memory_bytes and info of each chunk"
    ),
}


class ExtensionError(ValueError):
    """A malformed extension message; the message names the field."""


def task_to_wire(task: TaskSpec) -> dict[str, Any]:
    """A task spec as plain msgpack-able values."""
    return json.loads(json.dumps(dataclasses.asdict(task)))  # tuples -> lists, deep copy


def task_from_wire(data: Any) -> TaskSpec:
    """The task spec a client sent; :class:`ExtensionError` when it is not one."""
    if not isinstance(data, Mapping):
        raise ExtensionError("reset 'task' must be a map of TaskSpec fields")
    try:
        fields = dict(data)
        space = dict(fields.pop("action_space"))
        for key in ("names", "low", "high"):
            space[key] = tuple(space.get(key, ()))
        return TaskSpec(
            **{
                **fields,
                "action_space": ActionSpace(**space),
                "state_fields": tuple(fields["state_fields"]),
                "cameras": {str(c): tuple(hw) for c, hw in dict(fields.get("cameras", {})).items()},
            }
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ExtensionError(f"reset 'task' is not a TaskSpec: {exc}") from None


def reset_request(task: TaskSpec, episode: EpisodeSpec) -> dict[str, Any]:
    """The request that starts ``episode`` of ``task`` on the server's session."""
    return {
        RESET: {
            "task": task_to_wire(task),
            "episode": {
                "index": episode.index,
                "seed": episode.seed,
                "options": dict(episode.options),
            },
        }
    }


def parse_reset(payload: Any) -> tuple[TaskSpec, EpisodeSpec]:
    """The task and episode of a reset request."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("episode"), Mapping):
        raise ExtensionError("vla_bench/reset must be a map with 'task' and 'episode'")
    episode = payload["episode"]
    index, seed = episode.get("index"), episode.get("seed")
    if not isinstance(index, int) or not isinstance(seed, int):
        raise ExtensionError("reset 'episode' needs integer 'index' and 'seed'")
    options = episode.get("options") or {}
    if not isinstance(options, Mapping):
        raise ExtensionError("reset 'episode.options' must be a map")
    return task_from_wire(payload.get("task")), EpisodeSpec(index, seed, dict(options))


def plain(value: Any) -> Any:
    """``value`` as plain maps, lists, strings and numbers (arrays as lists).

    A reply carries no arrays besides ``actions``: openpi's ActionChunkBroker slices every
    array in a reply by time step.
    """
    return json.loads(json.dumps(value, default=_jsonable))


def _jsonable(value: Any) -> Any:
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) else str(value)


def chunk_details(chunk: ActionChunk) -> dict[str, Any]:
    """The :data:`CHUNK` reply entry for ``chunk``."""
    model = chunk.model_time_s
    return {
        "model_time_s": None if model is None or math.isnan(model) else float(model),
        "input_tokens": int(chunk.input_tokens),
        "output_tokens": int(chunk.output_tokens),
        "cost_usd": float(chunk.cost_usd),
        "decode_failures": int(chunk.decode_failures),
        "peak_memory_bytes": chunk.peak_memory_bytes,
        "info": plain(chunk.info),
    }
