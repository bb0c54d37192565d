"""Latency-aware evaluation: the env keeps moving while the policy thinks, on a simulated clock.

A synchronous evaluation (``bench run --timing sync``, the default) freezes the world during
every ``act`` call, which hides latency entirely. The other modes run each episode on a
simulated clock at the task's control rate:

- ``--timing measured``: each call's latency is its own measured round trip (the time
  :class:`~harness.chunking.ChunkExecutor` measures for ``act``, checks included);
- ``--timing profile:FILE``: each call's latency is drawn from a recorded distribution (a
  file :func:`extract_profile` writes, ``bench latency-profile RUN -o FILE``), with a generator
  seeded from the run seed, the episode seed and the call's index in the episode. Repeats
  are bit-identical on any machine, and a CPU box can evaluate "this model at that GPU's
  latency".

The clock. When the executor needs a chunk it asks the policy on the current observation;
the call takes ``L`` seconds, so the chunk is in flight for ``d = ceil(L * control_hz)``
control steps (:func:`steps_in_flight`), during which the env executes the action space's
hold action (:meth:`harness.contract.ActionSpace.hold_action`: a delta space stays, an
absolute dimension repeats its last value, a discrete space sends its no-op). Any call that
takes time costs at least one step, as on a real controller, which can apply an answer at the
next tick at the earliest: a one-action policy under ``measured`` timing holds every other
step however fast it is, and only a zero latency reproduces the synchronous run. The first chunk
of an episode is no exception: the env waits from reset with the hold action, as a real robot
does while its first request is answered, and those steps count.

Where the chunk starts. ``align=now`` (default): the chunk's executed window (its first
``n_action_steps`` rows, as in a synchronous run) loses its first ``d`` rows, which were
meant for steps that have passed, and executes the rest; when ``d`` reaches the window's
length, its last row is executed once, late, so that every call moves the robot (a chunk of
one action always arrives late under latency). ``align=start``: the whole window executes
from its first row, as real-time chunking schemes that re-time a chunk on arrival do.
Write it ``--timing measured,align=start`` or ``--timing profile:FILE,align=start``.

What is recorded. In the step table a held step has ``chunk_pos == -1`` and the ``chunk`` of
the call in flight; the call's round trip is on the first step of its wait. Each episode row
gets ``held_steps``, ``stale_ratio`` (held steps / steps) and ``effective_hz`` (actions the
policy chose per simulated second: ``(steps - held_steps) * control_hz / steps``); the last two
are NaN for synchronous episodes, which have no clock. :func:`degradation` compares a timed
run with the synchronous run of the same policy and episodes.

Profile file (JSON, ``format`` = :data:`PROFILE_FORMAT`, ``version`` = 1)::

    {"format": "vla-bench latency profile", "version": 1,
     "samples_s": [0.112, 0.109, ...],           # every timed act() round trip, seconds
     "quantiles_s": {"p50": ..., "p90": ..., "p95": ..., "p99": ..., "max": ...},
     "calls": 1234,
     "source_run": {"run_id": ..., "path": ..., "created": ...},
     "policy": {"name": ..., "config_hash": ..., "weights": ..., "checkpoint": ...,
                "device": ..., "dtype": ..., "n_action_steps": ...},
     "device": {"policy_device": ..., "cpu": ..., "gpus": [...], "platform": ...},
     "tasks": ["valve", ...]}

Only ``format``, ``version`` and ``samples_s`` (a non-empty list of finite numbers >= 0) are
required to replay a profile; the rest says where it came from. A profile is replayed by
drawing one of ``samples_s`` uniformly (the empirical distribution).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness import metrics
from harness.errors import RunConfigError
from harness.results import Run

PROFILE_FORMAT = "vla-bench latency profile"
PROFILE_VERSION = 1
MODES = ("sync", "measured", "profile")
ALIGNS = ("now", "start")
_STEP_TOLERANCE = 1e-9
"""A latency within this many control steps of a whole number counts as that number: 0.3 s at
10 Hz is 3 steps, not the 4 that ``0.3 * 10 = 3.0000000000000004`` would round up to."""
_SEED_MASK = (1 << 64) - 1


class TimingError(RunConfigError):
    """A ``--timing`` value or a latency profile that cannot be used (the message says why)."""


def steps_in_flight(latency_s: float, control_hz: float) -> int:
    """Control steps that pass while a call of ``latency_s`` seconds runs: ``ceil(L * hz)``."""
    if not math.isfinite(latency_s) or latency_s < 0:
        raise TimingError(f"latency {latency_s!r} s is not a finite number >= 0")
    return max(0, math.ceil(latency_s * control_hz - _STEP_TOLERANCE))


@dataclass(frozen=True)
class LatencyProfile:
    """A recorded act() latency distribution (see the module docstring for the file)."""

    samples_s: tuple[float, ...]
    source_run: Mapping[str, Any] = field(default_factory=dict)
    policy: Mapping[str, Any] = field(default_factory=dict)
    device: Mapping[str, Any] = field(default_factory=dict)
    tasks: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The file's content."""
        q = metrics.latency_percentiles(self.samples_s, (50, 90, 95, 99, 100))
        return {
            "format": PROFILE_FORMAT,
            "version": PROFILE_VERSION,
            "samples_s": list(self.samples_s),
            "quantiles_s": {
                "p50": q["p50"],
                "p90": q["p90"],
                "p95": q["p95"],
                "p99": q["p99"],
                "max": q["p100"],
            },
            "calls": len(self.samples_s),
            "source_run": dict(self.source_run),
            "policy": dict(self.policy),
            "device": dict(self.device),
            "tasks": list(self.tasks),
        }

    def save(self, path: Path) -> None:
        """Write the profile file atomically."""
        from harness.results import atomic_write_json

        atomic_write_json(path, self.to_json())

    @classmethod
    def from_json(cls, data: Any, where: str = "latency profile") -> LatencyProfile:
        """Read a profile file's content; :class:`TimingError` names what is wrong."""
        if not isinstance(data, Mapping) or data.get("format") != PROFILE_FORMAT:
            raise TimingError(
                f'{where} is not a vla-bench latency profile (no "format": '
                f'"{PROFILE_FORMAT}"); make one with bench latency-profile RUN -o FILE'
            )
        if data.get("version") != PROFILE_VERSION:
            raise TimingError(
                f"{where} has version {data.get('version')!r}; this vla-bench reads version "
                f"{PROFILE_VERSION}: re-extract it with bench latency-profile"
            )
        samples = data.get("samples_s")
        if not isinstance(samples, list) or not samples or not all(map(_is_latency, samples)):
            raise TimingError(
                f"{where}: samples_s must be a non-empty list of latencies in seconds (finite "
                "numbers >= 0)"
            )

        def mapping(key: str) -> Mapping[str, Any]:
            value = data.get(key)
            return dict(value) if isinstance(value, Mapping) else {}

        return cls(
            samples_s=tuple(float(v) for v in samples),
            source_run=mapping("source_run"),
            policy=mapping("policy"),
            device=mapping("device"),
            tasks=tuple(str(t) for t in data.get("tasks") or ()),
        )

    @classmethod
    def load(cls, path: Path) -> LatencyProfile:
        """Read a profile file."""
        return cls.from_json(_read_json(path), f"latency profile {path}")


def _is_latency(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise TimingError(
            f"latency profile {path} does not exist (bench latency-profile RUN -o FILE makes one)"
        ) from None
    except (OSError, ValueError) as exc:
        raise TimingError(f"latency profile {path} is not readable JSON ({exc})") from None


def _file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError as exc:
        raise TimingError(f"latency profile {path} cannot be read ({exc})") from None


@dataclass(frozen=True)
class Timing:
    """A parsed ``--timing`` value. :meth:`text` is its canonical form, which run.json keeps
    (``RunSettings.timing``): a profile is named by absolute path and content digest, so a
    resume against a changed file is refused."""

    mode: str = "sync"
    align: str = "now"
    profile: Path | None = None
    digest: str = ""

    @classmethod
    def parse(cls, text: str) -> Timing:
        """Parse ``sync``, ``measured[,align=now|start]`` or
        ``profile:FILE[,align=now|start][,sha256=HEX]`` (FILE without commas); checks a profile
        and reads its digest."""
        head, *options = [part.strip() for part in str(text).split(",")]
        mode, _, path = head.partition(":")
        if mode not in MODES or (mode == "profile") != bool(path):
            raise TimingError(
                f"--timing {text!r} is not sync, measured or profile:FILE (e.g. --timing "
                "profile:smolvla-h100.json, made by bench latency-profile)"
            )
        align, digest = "now", ""
        for option in options:
            key, _, value = option.partition("=")
            if key == "align" and value in ALIGNS and mode != "sync":
                align = value
            elif key == "sha256" and mode == "profile" and value:
                digest = value
            else:
                raise TimingError(
                    f"--timing option {option!r} is not understood (measured and profile "
                    "take align=now or align=start)"
                )
        if mode != "profile":
            return cls(mode=mode, align=align)
        where = Path(path).expanduser().resolve()
        LatencyProfile.load(where)  # refuse a missing or malformed file before any work
        actual = _file_digest(where)
        if digest and digest != actual:
            raise TimingError(
                f"latency profile {where} changed since this run started (sha256 {digest}, now "
                f"{actual}): restore it, or start a new run (--out) with the new file"
            )
        return cls(mode=mode, align=align, profile=where, digest=actual)

    @property
    def sync(self) -> bool:
        """Whether this is the synchronous (frozen world) mode."""
        return self.mode == "sync"

    def text(self) -> str:
        """The canonical ``--timing`` text."""
        if self.mode == "sync":
            return "sync"
        if self.mode == "measured":
            return f"measured,align={self.align}"
        return f"profile:{self.profile},align={self.align},sha256={self.digest}"

    def samples(self) -> tuple[float, ...] | None:
        """The profile's latencies (None unless mode is ``profile``), checked against the
        digest this timing was parsed with."""
        if self.profile is None:
            return None
        data = _read_json(self.profile)
        if _file_digest(self.profile) != self.digest:
            raise TimingError(
                f"latency profile {self.profile} changed while the run was going on: restore "
                "it, or start a new run (--out) with the new file"
            )
        return LatencyProfile.from_json(data, f"latency profile {self.profile}").samples_s


@dataclass(frozen=True)
class Clock:
    """One episode's simulated clock: the control rate, where chunks start, and the source of
    each call's latency (the measured round trip, or a draw from ``samples``)."""

    control_hz: float
    align: str = "now"
    samples: tuple[float, ...] | None = None
    run_seed: int = 0
    episode_seed: int = 0

    def latency(self, call: int, measured_s: float) -> float:
        """Latency of the episode's call number ``call`` (from 0) that took ``measured_s``."""
        if self.samples is None:
            return measured_s
        # One generator per call, seeded by what identifies the call: no draw depends on how
        # many calls came before, on the process or on the machine.
        seed = [self.run_seed & _SEED_MASK, self.episode_seed & _SEED_MASK, call]
        rng = np.random.default_rng(seed)
        return self.samples[int(rng.integers(len(self.samples)))]

    def steps(self, latency_s: float) -> int:
        """Control steps the chunk is in flight."""
        return steps_in_flight(latency_s, self.control_hz)


def extract_profile(run: Run) -> LatencyProfile:
    """The act() latency distribution of a stored run: every timed round trip of its steps.

    Raises :class:`TimingError` when the run holds no timed call."""
    steps = run.steps(["act_s"]) if len(run.episodes) else None
    act = np.asarray(steps["act_s"] if steps is not None else [], dtype=float)
    samples = tuple(float(v) for v in act if math.isfinite(v))
    if not samples:
        raise TimingError(
            f"run {run.root} has no timed act() calls in its step table: run episodes first "
            "(bench run ... --out DIR), then extract the profile"
        )
    record = run.record
    config = dict(record.policy.config)
    describe = dict(record.policy.describe or {})
    host = dict(record.latest.provenance.get("host") or {})
    return LatencyProfile(
        samples_s=samples,
        source_run={"run_id": record.run_id, "path": str(run.root), "created": record.created},
        policy={
            "name": record.policy.name,
            "config_hash": record.policy.config_hash,
            "weights": record.policy.weights,
            "checkpoint": describe.get("checkpoint") or config.get("checkpoint"),
            "device": config.get("device"),
            "dtype": config.get("dtype"),
            "n_action_steps": record.policy.n_action_steps,
            "timing": record.settings.timing,
        },
        device={
            "policy_device": config.get("device"),
            "cpu": host.get("cpu"),
            "gpus": list(host.get("gpus") or []),
            "platform": host.get("platform"),
        },
        tasks=tuple(sorted(record.tasks)),
    )


def degradation(sync_run: Run, timed_run: Run) -> list[dict[str, Any]]:
    """Per shared task: the timed run's success against the synchronous run of the same policy
    configuration on the same episodes, paired by episode seed, with the exact two-sided
    McNemar p-value on the discordant pairs (:func:`harness.metrics.mcnemar_exact`), and the
    timed run's stale-action ratio and effective control rate. JSON-ready rows.

    Raises :class:`TimingError` when the runs are not a synchronous and a timed run of one
    policy configuration."""
    from harness.summary import compare_runs, run_summary

    if not _is_sync(sync_run):
        raise TimingError(f"{sync_run.root} is not a synchronous run (its timing is not sync)")
    timing = timed_run.record.settings.timing
    if _is_sync(timed_run):
        raise TimingError(f"{timed_run.root} is a synchronous run: pass a --timing run")
    hashes = (sync_run.record.policy.config_hash, timed_run.record.policy.config_hash)
    if hashes[0] != hashes[1]:
        raise TimingError(
            f"{sync_run.root} and {timed_run.root} ran different policy configurations "
            f"({hashes[0]} vs {hashes[1]}): degradation compares one policy with itself"
        )
    timed = {row["task"]: row for row in run_summary(timed_run)}
    out = []
    for row in compare_runs(sync_run, timed_run):
        paired = row["paired"]
        sync_only, timed_only = row["b_only_a"], row["c_only_b"]
        task = timed[row["task"]]
        out.append(
            {
                "task": row["task"],
                "timing": timing,
                "paired": paired,
                "sync_success": row["a"]["success_rate"],
                "timed_success": row["b"]["success_rate"],
                # Over the paired episodes only, so the difference is the one McNemar tests.
                "success_delta": (timed_only - sync_only) / paired if paired else None,
                "sync_only": sync_only,
                "timed_only": timed_only,
                "p_value": row["p_value"],
                "stale_ratio": task.get("stale_ratio"),
                "effective_hz": task.get("effective_hz"),
                "note": row["note"],
            }
        )
    return out


def pair_for_degradation(runs: Sequence[Run]) -> list[tuple[Run, Run]]:
    """(synchronous run, timed run) pairs among ``runs``: each timed run with the newest
    synchronous run of the same policy configuration."""
    sync: dict[str, Run] = {}
    for run in sorted(runs, key=lambda r: r.record.created):
        if _is_sync(run):
            sync[run.record.policy.config_hash] = run
    return [
        (sync[run.record.policy.config_hash], run)
        for run in runs
        if not _is_sync(run) and run.record.policy.config_hash in sync
    ]


def _is_sync(run: Run) -> bool:
    return run.record.settings.timing == "sync"
