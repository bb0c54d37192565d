"""The typed run record: what ``run.json`` holds, as frozen dataclasses with a schema version.

The run writes it through :meth:`RunRecord.to_json`; ``bench run``'s summary, ``bench
compare`` and the leaderboard read it through :meth:`RunRecord.from_json`, which refuses a
file of another schema version (naming it and what to do) instead of guessing.

Identity. ``PolicyRecord.config_hash`` hashes the policy configuration as given (name,
checkpoint, device, dtype, options, n_action_steps); ``describe["weights_digest"]``, when the
backend computes one, identifies the weights by content. ``TaskRecord.fingerprint`` hashes
what the task declares (spec, options, model files) and its track; each episode row also
carries digests of that episode's first observation (see :mod:`harness.fingerprint`).
Provenance (software, git revision, host, load) is kept per invocation: a resumed run keeps
the record of the invocation that ran each episode (``episode.invocation``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.contract import TaskSpec

SCHEMA_VERSION = 2
"""Version of run.json and the episode rows. Version 1 had no per-invocation provenance."""

STATUSES = ("running", "complete", "interrupted", "stopped", "failed")
"""``running``: in progress, or killed (a resume continues it); ``interrupted``: Ctrl-C or
SIGTERM; ``stopped``: a budget or ``--max-errors`` stopped it; ``failed``: the run could not go
on (e.g. the policy could not be built)."""


class RecordError(ValueError):
    """A run.json that does not hold a run record this version can read."""


@dataclass(frozen=True)
class RunSettings:
    """How a run is executed. The fields in :data:`RESUME_KEYS` change what an episode does
    and must match to resume a run; the others may change between invocations (``record``,
    the ``--record`` dataset directory, only keeps what the episodes saw and did)."""

    episodes: int | None = None
    workers: int = 1
    seed: int = 0
    n_action_steps: int | None = None
    warmup: int | None = None
    step_timeout_s: float = 300.0
    sim_timeout_s: float = 120.0
    video: int = 0
    keyframes: int = 0
    task_options: Mapping[str, str] = field(default_factory=dict)
    isolate: str = "auto"
    placement: str = "auto"
    max_batch: int = 8
    max_wait_ms: float = 5.0
    max_errors: int | None = None
    timing: str = "sync"
    record: str | None = None
    executor: str = "local"
    ray_address: str | None = None
    hosts: int = 1
    host_gpus: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {**dataclasses.asdict(self), "task_options": dict(self.task_options)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSettings:
        """Read back what :meth:`as_dict` wrote (unknown keys refused)."""
        return cls(**_known(cls, data, "settings"))


RESUME_KEYS = ("seed", "n_action_steps", "step_timeout_s", "task_options", "timing")
"""Settings that must match to resume a run: they change what an episode does or how it is
scored (a different step timeout turns slow calls into errors or not; ``timing``, the
canonical ``--timing`` text of :mod:`harness.latency`, decides what the env does while the
policy thinks)."""


@dataclass(frozen=True)
class PolicyRecord:
    """The policy of a run: its configuration, what it says about itself, and its traits."""

    name: str
    config: Mapping[str, Any]
    config_hash: str
    n_action_steps: int | None
    privileged: bool
    uses_images: bool
    describe: Mapping[str, Any] | None = None

    @property
    def weights(self) -> str:
        """The weights kind from ``describe`` (``pretrained``, ``random``, ``scripted``, ...)."""
        return str((self.describe or {}).get("weights") or "unknown")

    @property
    def weights_digest(self) -> str | None:
        """Content hash of the weights, when the backend computed one."""
        digest = (self.describe or {}).get("weights_digest")
        return str(digest) if digest else None


@dataclass(frozen=True)
class TrackRecord:
    """The part of a task's track a run covers: (index, seed) of each episode."""

    version: str
    episodes: tuple[tuple[int, int], ...]
    size: int


@dataclass(frozen=True)
class PluginRef:
    """Which plugin registered a task, and its version."""

    name: str
    distribution: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class TaskRecord:
    """One task of a run: its spec, options, track and fingerprint."""

    spec: Mapping[str, Any]
    options: Mapping[str, str]
    track: TrackRecord
    fingerprint: str
    plugin: PluginRef

    @property
    def name(self) -> str:
        """The task name."""
        return str(self.spec["name"])

    @property
    def version(self) -> str:
        """The task's declared version."""
        return str(self.spec["version"])

    @property
    def control_hz(self) -> float:
        """Control steps per second."""
        return float(self.spec["control_hz"])


@dataclass(frozen=True)
class Invocation:
    """One ``bench run`` that worked on this run directory."""

    started: str
    command: tuple[str, ...]
    workers: int
    provenance: Mapping[str, Any] = field(default_factory=dict)
    finished: str | None = None
    status: str = "running"
    status_detail: str | None = None
    ran: int = 0
    spent_usd: float = 0.0
    load_before: tuple[float, ...] = ()
    load_after: tuple[float, ...] = ()
    requeued: tuple[Mapping[str, Any], ...] = ()
    """Episodes run again because their env worker actor died (``--executor ray``): task,
    episode, attempt and the reason Ray gave."""


@dataclass(frozen=True)
class RunRecord:
    """Everything ``run.json`` holds."""

    run_id: str
    created: str
    status: str
    policy: PolicyRecord
    tasks: Mapping[str, TaskRecord]
    settings: RunSettings
    invocations: tuple[Invocation, ...]
    status_detail: str | None = None
    finished: str | None = None
    schema: int = SCHEMA_VERSION

    @property
    def latest(self) -> Invocation:
        """The newest invocation."""
        return self.invocations[-1]

    @property
    def command(self) -> tuple[str, ...]:
        """The command of the first invocation (what created the run)."""
        return self.invocations[0].command if self.invocations else ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out: dict[str, Any] = dataclasses.asdict(self)
        out["settings"] = self.settings.as_dict()
        return out

    @classmethod
    def from_json(cls, data: Any) -> RunRecord:
        """Read a run.json's content; :class:`RecordError` names what is wrong."""
        if not isinstance(data, dict):
            raise RecordError(f"run.json holds a {type(data).__name__}, not a run record")
        schema = data.get("schema")
        if schema != SCHEMA_VERSION:
            raise RecordError(_schema_message(schema))
        try:
            policy = PolicyRecord(**_known(PolicyRecord, data["policy"], "policy"))
            tasks = {
                name: TaskRecord(
                    spec=task["spec"],
                    options=task.get("options", {}),
                    track=TrackRecord(
                        version=str(task["track"]["version"]),
                        episodes=tuple((int(i), int(s)) for i, s in task["track"]["episodes"]),
                        size=int(task["track"]["size"]),
                    ),
                    fingerprint=str(task["fingerprint"]),
                    plugin=PluginRef(**_known(PluginRef, task.get("plugin", {}), "plugin")),
                )
                for name, task in data["tasks"].items()
            }
            invocations = tuple(
                Invocation(
                    **{
                        **_known(Invocation, inv, "invocation"),
                        "command": tuple(inv.get("command", ())),
                        "load_before": tuple(inv.get("load_before") or ()),
                        "load_after": tuple(inv.get("load_after") or ()),
                        "requeued": tuple(inv.get("requeued") or ()),
                    }
                )
                for inv in data["invocations"]
            )
            return cls(
                run_id=str(data["run_id"]),
                created=str(data["created"]),
                status=str(data["status"]),
                policy=policy,
                tasks=tasks,
                settings=RunSettings.from_dict(data["settings"]),
                invocations=invocations,
                status_detail=data.get("status_detail"),
                finished=data.get("finished"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RecordError(
                f"run.json is not a valid run record ({type(exc).__name__}: {exc})"
            ) from None


def _schema_message(schema: Any) -> str:
    if isinstance(schema, int) and schema > SCHEMA_VERSION:
        return (
            f"written by a newer vla-bench (schema {schema}; this one reads {SCHEMA_VERSION}): "
            "upgrade vla-bench to read it"
        )
    if schema == 1:
        return (
            "written by vla-bench 0.1 (run.json schema 1, which this version does not read): "
            "its episodes are kept as they are; re-run the same command with a new --out to "
            "score the policy again, or read it with vla-bench 0.1"
        )
    return f"run.json has no known schema version ({schema!r}): not a vla-bench run record"


def _known(cls: type, data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise RecordError(f"run.json {what} is not an object")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise RecordError(f"run.json {what} has unknown field(s) {unknown}")
    return dict(data)


def config_hash(config: Mapping[str, Any], n_action_steps: int | None) -> str:
    """SHA-256 (16 hex digits) of a policy configuration and its chunk length."""
    text = json.dumps({**config, "n_action_steps": n_action_steps}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def task_spec_dict(spec: TaskSpec) -> dict[str, Any]:
    """A TaskSpec as JSON-ready data (what ``TaskRecord.spec`` holds)."""
    data = dataclasses.asdict(spec)
    # The hold rule acts only under latency-aware timing, which a run records itself; leaving
    # it out keeps every task's identity what it was before tasks could declare it.
    del data["action_space"]["hold"]
    data["cameras"] = {k: list(v) for k, v in spec.cameras.items()}
    return data
