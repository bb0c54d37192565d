"""Executing action chunks: a policy answers with T actions; K of them run before it is asked again.

:class:`ChunkExecutor` wraps a policy the way openpi-client's action-chunk broker does, and is
where every action a policy returns is checked (shape, finiteness, discrete index, reported
cost), timed (round trip, after warm-up; the backend's own model time beside it), clipped to
the action space (counted) and logged per step for the step table. Under latency-aware timing
it also runs the simulated clock: the hold steps while a chunk is in flight and the stale rows
that are dropped (see :mod:`harness.latency`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from harness.contract import ActionChunk, ActionSpace, Observation, Policy, Spending
from harness.deadline import CallTimeout, Deadline
from harness.latency import Clock
from harness.results import STEP_SCHEMA

EE_FIELDS = ("ee_x", "ee_y", "ee_z", "ee_qw", "ee_qx", "ee_qy", "ee_qz")


class BadAction(ValueError):
    """A policy returned NaN/inf, the wrong shape, an invalid discrete index or a bad cost."""


class PolicyTimeout(TimeoutError):
    """One ``act`` call ran past ``--step-timeout`` (even if the policy caught the alarm)."""


def check_chunk(
    chunk: ActionChunk, space: ActionSpace, bounds: tuple[np.ndarray, np.ndarray] | None = None
) -> list[bool] | None:
    """Raise :class:`BadAction` unless ``chunk`` holds usable actions for ``space``.

    With ``bounds`` (finite ``low``, ``high`` of a continuous space), also say which rows lie
    outside them: a list of flags, or None when every row is inside (the common case, found
    with one comparison that also proves the rows finite: NaN is inside no bounds).
    """
    actions = chunk.actions
    if actions.ndim != 2 or actions.shape[0] < 1 or actions.shape[1] != space.dim:
        raise BadAction(
            f"policy returned actions of shape {actions.shape}; task needs (T, {space.dim}) "
            f"with T >= 1 for action space {space.name!r}"
        )
    outside: list[bool] | None = None
    if bounds is not None:
        inside = (actions >= bounds[0]) & (actions <= bounds[1])
        if not inside.all():
            if not np.isfinite(actions).all():
                raise BadAction("policy returned a non-finite action (NaN or inf)")
            within = np.asarray(inside.all(axis=1))
            outside = [not bool(row) for row in within]
    elif not np.isfinite(actions).all():
        raise BadAction("policy returned a non-finite action (NaN or inf)")
    if space.discrete:
        idx = actions[:, 0]
        if np.any(idx != np.round(idx)) or np.any(idx < 0) or np.any(idx >= len(space.names)):
            raise BadAction(
                f"policy returned discrete action(s) {idx.tolist()}; valid indices are "
                f"0..{len(space.names) - 1}"
            )
    cost = chunk.cost_usd
    if not isinstance(cost, int | float) or not math.isfinite(cost) or cost < 0:
        raise BadAction(f"policy reported cost_usd={cost!r}; it must be a finite number >= 0")
    return outside


class ChunkExecutor:
    """One episode's chunk execution: ``next_action(obs)`` returns the action to execute now.

    ``n_action_steps`` rows of each chunk are executed (None: all of them). ``observe`` is
    called with the observations of steps served without an ``act`` call (from the queue, or
    held while a chunk is in flight), when the policy has it.
    ``timed`` is False during warm-up. Per-step bookkeeping is kept as plain lists and turned
    into columns once by :meth:`table` (cheaper per step than building rows). With a ``clock``
    (latency-aware timing) each chunk is preceded by its hold steps (``chunk_pos`` -1) and
    starts where the clock is (see :mod:`harness.latency`); without one, the world waits.
    """

    def __init__(
        self,
        policy: Policy,
        space: ActionSpace,
        n_action_steps: int | None,
        *,
        deadline: Deadline | None = None,
        step_timeout_s: float = 0.0,
        spending: Spending | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.policy = policy
        self.clock = clock
        self._hold_left = 0
        self.space = space
        self.k = n_action_steps
        self.deadline = deadline
        self.timeout = step_timeout_s
        self.spending = spending
        self._observe: Callable[[Observation], None] | None = getattr(policy, "observe", None)
        self._low, self._high = np.asarray(space.low), np.asarray(space.high)
        finite = np.isfinite(self._low).all() and np.isfinite(self._high).all()
        self._bounds = (self._low, self._high) if finite and not space.discrete else None
        self._queue: list[np.ndarray] = []
        self._outside: list[bool] | None = None  # the queued rows outside the bounds
        self._last_outside: list[bool] | None = None
        self._chunk_id = -1
        self._pos = 0
        self.calls = 0
        self.clipped_total = 0
        self.decode_failures = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_usd = 0.0
        self.peak_device_bytes: int | None = None
        self.act_times: list[float] = []
        self.model_times: list[float] = []
        # the step log
        self.chunk: list[int] = []
        self.chunk_pos: list[int] = []
        self.act_s: list[float] = []
        self.model_s: list[float] = []
        self.chunk_info: list[str | None] = []
        self.raw_actions: list[np.ndarray] = []
        self.actions: list[np.ndarray] = []
        self.clipped: list[bool] = []

    def call_policy(self, observation: Observation) -> ActionChunk:
        """One checked, deadline-limited ``act`` call (also used for untimed warm-up)."""
        start = time.perf_counter()
        try:
            if self.deadline is None:
                chunk = self.policy.act(observation)
            else:
                chunk = self.deadline.call("act()", self.timeout, self.policy.act, observation)
        except CallTimeout as exc:
            raise PolicyTimeout(f"act() took longer than --step-timeout {exc.seconds:g}s") from None
        elapsed = time.perf_counter() - start
        if self.timeout > 0 and elapsed > self.timeout:  # it caught the alarm and went on
            raise PolicyTimeout(
                f"act() took {elapsed:.1f}s, longer than --step-timeout {self.timeout:g}s"
            )
        if not isinstance(chunk, ActionChunk):
            raise BadAction(f"act() returned {type(chunk).__name__}, not an ActionChunk")
        self._last_outside = check_chunk(chunk, self.space, self._bounds)
        self._last_elapsed = elapsed
        return chunk

    def next_action(self, observation: Observation) -> Any:
        """The action to execute for ``observation``: an array, or an int index (discrete)."""
        if not self._queue and not self._hold_left:
            chunk = self.call_policy(observation)
            self._take(chunk)
        else:
            if self._observe is not None:
                self._observe(observation)
            self.act_s.append(math.nan)
            self.model_s.append(math.nan)
            self.chunk_info.append(None)
        if self._hold_left:
            self._hold_left -= 1
            return self._hold()
        raw = self._queue.pop(0)
        self.chunk.append(self._chunk_id)
        self.chunk_pos.append(self._pos)
        self._pos += 1
        self.raw_actions.append(raw)
        if self.space.discrete:
            self.actions.append(raw)
            self.clipped.append(False)
            return int(raw[0])
        if self._bounds is not None:
            outside = self._outside is not None and self._outside.pop(0)
        else:
            outside = bool((raw < self._low).any() or (raw > self._high).any())
        if outside:
            action = np.clip(raw, self._low, self._high)
            self.clipped.append(True)
            self.clipped_total += 1
        else:
            action = raw
            self.clipped.append(False)
        self.actions.append(action)
        return action

    def _take(self, chunk: ActionChunk) -> None:
        self.calls += 1
        self.act_times.append(self._last_elapsed)
        self.act_s.append(self._last_elapsed)
        if chunk.model_time_s is not None:
            self.model_times.append(float(chunk.model_time_s))
            self.model_s.append(float(chunk.model_time_s))
        else:
            self.model_s.append(math.nan)
        self.decode_failures += chunk.decode_failures
        self.input_tokens += chunk.input_tokens
        self.output_tokens += chunk.output_tokens
        self.cost_usd += chunk.cost_usd
        if self.spending is not None:
            self.spending.add(chunk.cost_usd)
        if chunk.peak_memory_bytes is not None:
            self.peak_device_bytes = max(self.peak_device_bytes or 0, chunk.peak_memory_bytes)
        self.chunk_info.append(
            json.dumps(chunk.info, sort_keys=True, default=str) if chunk.info else None
        )
        rows = chunk.actions[: self.k] if self.k else chunk.actions
        outside = self._last_outside
        if outside is not None:
            outside = outside[: len(rows)]
        self._chunk_id += 1
        self._pos = 0
        if self.clock is not None:
            latency = self.clock.latency(self.calls - 1, self._last_elapsed)
            self._hold_left = self.clock.steps(latency)
            if self.clock.align == "now":
                # Rows meant for steps that passed are dropped; a chunk that arrives after its
                # window still moves the robot once, with its last row.
                self._pos = min(self._hold_left, len(rows) - 1)
                rows = rows[self._pos :]
                if outside is not None:
                    outside = outside[self._pos :]
        self._queue = list(rows)
        self._outside = outside

    def _hold(self) -> Any:
        """The hold action for a step while the chunk is in flight (logged as ``chunk_pos`` -1)."""
        action = self.space.hold_action(self.actions[-1] if self.actions else None)
        self.chunk.append(self._chunk_id)
        self.chunk_pos.append(-1)
        self.clipped.append(False)
        if self.space.discrete:
            self.raw_actions.append(action)
            self.actions.append(action)
            return int(action[0])
        action = np.clip(action, self._low, self._high)
        self.raw_actions.append(action)
        self.actions.append(action)
        return action

    def table(
        self,
        task: str,
        episode: int,
        rewards: list[float],
        successes: list[bool],
        poses: list[Any],
    ) -> pa.Table:
        """The executed steps as an Arrow table with :data:`STEP_SCHEMA`."""
        n = len(rewards)
        ee = np.full((n, 7), np.nan)
        for row, pose in enumerate(poses):
            if pose is not None:
                ee[row] = np.asarray(pose, dtype=np.float64)[:7]
        # Typed arrays in schema order (from dicts and plain lists, pa.table converts and
        # checks each column against the schema again: twice the cost, every episode).
        arrays = [
            pa.array([task] * n, pa.string()),
            pa.array(np.full(n, episode, dtype=np.int64)),
            pa.array(np.arange(n, dtype=np.int64)),
            pa.array(self.chunk[:n], pa.int64()),
            pa.array(self.chunk_pos[:n], pa.int64()),
            pa.array(self.act_s[:n], pa.float64()),
            pa.array(self.model_s[:n], pa.float64()),
            pa.array(self.chunk_info[:n], pa.string()),
            _list_column(self.actions[:n]),
            pa.array(self.clipped[:n], pa.bool_()),
            pa.array(rewards, pa.float64()),
            pa.array(successes, pa.bool_()),
            *(pa.array(ee[:, i]) for i in range(len(EE_FIELDS))),
        ]
        return pa.Table.from_arrays(arrays, schema=STEP_SCHEMA)


def _list_column(rows: list[np.ndarray]) -> pa.Array:
    """Equal-length action rows as an Arrow list column, built from one flat buffer (converting
    a list of Python lists costs ~20x more per episode)."""
    if not rows:
        return pa.array([], pa.list_(pa.float64()))
    flat = np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)
    width = flat.shape[1]
    offsets = pa.array(np.arange(0, flat.size + 1, width, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(flat.reshape(-1)))
