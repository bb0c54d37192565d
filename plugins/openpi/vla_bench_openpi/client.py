"""The ``openpi`` policy: evaluate any server that speaks openpi's wire protocol.

``bench run --policy openpi --policy-args url=ws://HOST:PORT[,preset=...] --task X`` sends each
observation the runner asks about to the server and returns its action chunk. It works with
openpi's ``serve_policy.py`` servers, other implementations of the protocol, and ``bench serve``
(which also receives episode boundaries, see :mod:`vla_bench_openpi.extension`). Options are in
:mod:`vla_bench_openpi.options`.

Timing: ``model_time_s`` is the server's ``policy_timing.infer_ms`` (bench serve: the policy's
own model time); ``info["wire"]`` records the round trip measured here and the server's
``server_timing``. Failure: a server that is down, closes, times out or answers with an error
makes ``reset``/``act`` raise, so that episode is recorded as a policy error and the run goes
on; the next call reconnects with backoff (a reset that finds the connection dropped reconnects
and goes on, since no episode state is lost between episodes). Each policy instance (each env
worker) holds one connection, because openpi's servers answer one request at a time per
connection.

Limitation: steps served from a queued chunk are not sent (openpi has no such message), so a
served policy that keeps an observation history through ``observe`` sees only the
observations it acts on.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.contract import (
    ActionChunk,
    EpisodeSpec,
    Observation,
    PolicyBase,
    PolicyConfig,
    PolicyConfigError,
    TaskSpec,
)
from vla_bench_openpi import extension
from vla_bench_openpi.connection import Connection, ConnectionLost, ServerError
from vla_bench_openpi.images import resize_with_pad, rotate_180, to_uint8
from vla_bench_openpi.layouts import camera_for, to_wire
from vla_bench_openpi.options import ClientOptions, Layout

if TYPE_CHECKING:
    import gymnasium


class OpenpiPolicy(PolicyBase):
    """A remote policy behind openpi's protocol (one connection per instance)."""

    warmup_calls = 1

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__(config)
        self.options = ClientOptions.parse(config.options)
        self._connection = Connection(self.options.endpoint)
        try:
            self._connection.open()
        except ServerError as exc:
            raise PolicyConfigError(str(exc)) from None
        announced = self._connection.metadata.get(extension.ANNOUNCE)
        self._remote: dict[str, Any] | None = announced if isinstance(announced, dict) else None
        self.layout: Layout = self.options.layout(server_is_ours=self._remote is not None)
        remote_policy = (self._remote or {}).get("policy") or {}
        self.n_action_steps = self.layout.n_action_steps or remote_policy.get("n_action_steps")
        if self._remote is not None:
            self.warmup_calls = int(remote_policy.get("warmup_calls", 1))
            if self.layout.keymap is None:  # keyed layouts always send images
                self.uses_images = bool(remote_policy.get("uses_images", True))
        self._task: TaskSpec | None = None
        self._gripper_column: int | None = None
        self._session = 0  # the connection the server-side session was reset on

    # -- Policy protocol ---------------------------------------------------------------------
    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: gymnasium.Env | None) -> None:
        """Check the layout against the task; on a vla-bench server, reset the session."""
        self._task = task
        names = task.action_space.names
        self._gripper_column = (
            names.index("gripper")
            if "gripper" in names and not task.action_space.discrete
            else None
        )
        if self.layout.gripper != "same" and self._gripper_column is None:
            raise PolicyConfigError(
                f"gripper={self.layout.gripper} but task {task.name!r} has no gripper action"
            )
        if self.layout.keymap is not None:
            for wire, name in self.layout.keymap.images:
                if camera_for(name, list(task.cameras)) is None:
                    raise PolicyConfigError(
                        f"{wire!r} wants camera {name!r}; task {task.name!r} has "
                        f"{sorted(task.cameras)} (map one with images=...)"
                    )
        if self._remote is not None:
            request = extension.reset_request(task, episode)
            try:
                reply = self._connection.request(request)
            except ConnectionLost:
                # Between episodes no server-side state is lost: reconnect (with backoff) once.
                reply = self._connection.request(request)
            if not isinstance(reply, dict) or extension.RESET not in reply:
                raise ServerError(f"{self.options.endpoint.shown} did not confirm the reset")
            self._session = self._connection.opened

    def act(self, observation: Observation) -> ActionChunk:
        """One request: the observation out, the server's action chunk back."""
        task = self._task
        assert task is not None, "reset() must come before act()"
        if self._remote is not None:
            self._connection.open()
            if self._connection.opened != self._session:
                raise ServerError(
                    f"the connection to {self.options.endpoint.shown} was reopened mid-episode; "
                    "the server's session for this episode is gone"
                )
        request = self._request(observation)
        start = time.perf_counter()
        reply = self._connection.request(request)
        round_trip = time.perf_counter() - start
        if not isinstance(reply, dict) or "actions" not in reply:
            raise ServerError(f"{self.options.endpoint.shown} replied without 'actions'")
        raw = np.asarray(reply["actions"])
        if raw.ndim == 1:
            raw = raw[None, :]
        if raw.ndim != 2 or not np.issubdtype(raw.dtype, np.number):
            raise ServerError(
                f"{self.options.endpoint.shown} sent actions of shape {raw.shape} and dtype "
                f"{raw.dtype}; expected a (T, D) number array"
            )
        actions = self.layout.actions(raw, task.action_space.dim, self._gripper_column)
        return self._chunk(actions, reply, round_trip)

    def describe(self) -> dict[str, Any]:
        """The server (never its key), the layout and, from a vla-bench server, its policy."""
        remote = (self._remote or {}).get("policy") or {}
        remote_describe = remote.get("describe") or {}
        out: dict[str, Any] = {
            "checkpoint": self.config.checkpoint or remote_describe.get("checkpoint"),
            "weights": self.config.options.get("weights")
            or remote_describe.get("weights")
            or "pretrained",
            "server": self.options.endpoint.shown,
            "layout": self.layout.name,
        }
        if remote:
            out["remote_policy"] = remote.get("name")
            out["remote"] = remote_describe
        return out

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()

    # -- helpers -----------------------------------------------------------------------------
    def _request(self, observation: Observation) -> dict[str, Any]:
        layout = self.layout
        if layout.keymap is None:
            request = dict(observation)
            request["images"] = {c: self._image(i) for c, i in observation["images"].items()}
            return request
        request = to_wire(observation, layout.keymap, list(observation.get("images", {})))
        for wire, _ in layout.keymap.images:
            request[wire] = self._image(request[wire])
        return request

    def _image(self, image: np.ndarray) -> np.ndarray:
        image = to_uint8(np.asarray(image))
        if self.layout.flip:
            image = rotate_180(image)
        if self.layout.resize is not None:
            image = resize_with_pad(image, *self.layout.resize)
        return image

    def _chunk(self, actions: np.ndarray, reply: dict[str, Any], round_trip: float) -> ActionChunk:
        server_timing = reply.get("server_timing") or {}
        policy_timing = reply.get("policy_timing") or {}
        wire: dict[str, float] = {"round_trip_s": round_trip}
        if "infer_ms" in server_timing:
            wire["server_infer_s"] = float(server_timing["infer_ms"]) / 1e3
        if "prev_total_ms" in server_timing:
            wire["server_prev_total_s"] = float(server_timing["prev_total_ms"]) / 1e3
        details = reply.get(extension.CHUNK)
        if isinstance(details, dict):
            return ActionChunk(
                actions,
                model_time_s=details.get("model_time_s"),
                input_tokens=int(details.get("input_tokens", 0)),
                output_tokens=int(details.get("output_tokens", 0)),
                cost_usd=float(details.get("cost_usd", 0.0)),
                decode_failures=int(details.get("decode_failures", 0)),
                peak_memory_bytes=details.get("peak_memory_bytes"),
                info={**(details.get("info") or {}), "wire": wire},
            )
        model = policy_timing.get("infer_ms")
        return ActionChunk(
            actions,
            model_time_s=float(model) / 1e3 if model is not None else None,
            info={"wire": wire},
        )
