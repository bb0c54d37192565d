"""The one place the leaderboard reads a run's record (``harness.record``): what it needs of
the policy, the tasks and each invocation's host, as small frozen views.

:func:`harness.results.load_run` already refuses a run.json that is not a valid record of this
schema version (:class:`harness.errors.RunFormatError`). What is checked here is what the
record cannot check alone: every task of the episodes must have a task record.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.errors import RunFormatError
from harness.record import Invocation, TaskRecord
from harness.results import Run

UNKNOWN = "?"


@dataclass(frozen=True)
class PolicyInfo:
    """The policy of a run: name, weights, configuration and the seed of its own randomness."""

    name: str
    checkpoint: str | None
    weights: str
    weights_digest: str | None
    device: str | None
    dtype: str | None
    options: str  # JSON, keys sorted
    n_action_steps: int | None
    privileged: bool
    seed: int | None


@dataclass(frozen=True)
class TaskInfo:
    """A task as a run recorded it: versions, fingerprint, suite and what metrics depend on."""

    name: str
    version: str
    suite: str
    track_version: str
    fingerprint: str | None
    has_ee: bool | None
    control_hz: float | None
    instruction: str = ""
    plugin: str = ""

    @property
    def track_key(self) -> str:
        """The track's identity: its fingerprint where recorded, else its declared version."""
        return f"fingerprint {self.fingerprint}" if self.fingerprint else f"v{self.track_version}"

    @property
    def group_key(self) -> tuple[str, str, str, str]:
        """Entries sharing this key may be merged and ranked together."""
        return (self.name, self.version, self.track_version, self.fingerprint or "")

    @property
    def label(self) -> str:
        """``task vX · track vY`` (and the start of the fingerprint where recorded)."""
        text = f"{self.name} v{self.version} · track {self.track_version}"
        return text + (f" · {self.fingerprint[:8]}" if self.fingerprint else "")


@dataclass(frozen=True)
class HostInfo:
    """Where and under what load one invocation measured its latencies."""

    text: str  # hostname, CPU, memory, GPUs in one line
    cpus: int | None  # CPUs the run could use (affinity where recorded), else the machine's
    workers: int
    load_before: float | None  # 1-minute load average when the invocation started
    load_after: float | None  # ... and when it ended (includes the run's own workers)

    @property
    def loaded(self) -> bool | None:
        """Whether other work competed for the CPUs while latency was measured.

        True when the 1-minute load average before the invocation, or after it less the run's
        own workers, exceeded the CPUs the run could use less its workers (other processes then
        wanted more CPU than was free); None when the load was not recorded.
        """
        if self.cpus is None or (self.load_before is None and self.load_after is None):
            return None
        free = max(self.cpus - self.workers, 0)
        others = [self.load_before]
        if self.load_after is not None:
            others.append(self.load_after - self.workers)
        return any(x > free for x in others if x is not None)


@dataclass(frozen=True)
class RunInfo:
    """What the leaderboard reads from one run."""

    run_id: str
    root: str
    status: str
    complete: bool
    created: str
    command: str
    harness_version: str
    plugins: tuple[str, ...]
    git: str  # revision (10 characters) and "(dirty)", or ""
    policy: PolicyInfo
    tasks: Mapping[str, TaskInfo]
    hosts: tuple[HostInfo, ...]  # one per invocation that ran episodes
    notes: tuple[str, ...] = ()

    @property
    def host(self) -> HostInfo:
        """The host of the first invocation."""
        return self.hosts[0]


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _policy(run: Run) -> PolicyInfo:
    policy = run.record.policy
    config = dict(policy.config)
    describe = dict(policy.describe or {})
    options = config.get("options") if isinstance(config.get("options"), dict) else {}
    seed = config.get("seed", run.record.settings.seed)
    return PolicyInfo(
        name=policy.name,
        checkpoint=_text(describe.get("checkpoint")) or _text(config.get("checkpoint")),
        weights=policy.weights,
        weights_digest=policy.weights_digest,
        device=_text(config.get("device")),
        dtype=_text(config.get("dtype")),
        options=json.dumps(options, sort_keys=True, default=str),
        n_action_steps=policy.n_action_steps,
        privileged=policy.privileged,
        seed=int(seed) if isinstance(seed, int) else None,
    )


def _task(record: TaskRecord) -> TaskInfo:
    spec = record.spec
    plugin = record.plugin
    has_ee = spec.get("has_ee_pose")
    return TaskInfo(
        name=record.name,
        version=record.version,
        suite=str(spec.get("suite") or UNKNOWN),
        track_version=record.track.version,
        fingerprint=record.fingerprint or None,
        has_ee=has_ee if isinstance(has_ee, bool) else None,
        control_hz=record.control_hz or None,
        instruction=str(spec.get("instruction") or ""),
        plugin=" ".join(p for p in (plugin.distribution, plugin.version) if p),
    )


def _host(invocation: Invocation) -> HostInfo:
    host = invocation.provenance.get("host")
    host = host if isinstance(host, dict) else {}
    gpus = host["gpus"] if isinstance(host.get("gpus"), list) else []
    memory = host.get("memory_bytes")
    count = host.get("cpu_count")
    text = ", ".join(
        str(p)
        for p in (
            host.get("hostname"),
            host.get("cpu"),
            f"{count} CPUs" if isinstance(count, int) else None,
            f"{memory / 2**30:.0f} GiB" if isinstance(memory, int | float) and memory else None,
            *gpus,
        )
        if p
    )
    affinity = host.get("affinity")
    cpus = len(affinity) if isinstance(affinity, list) and affinity else count
    return HostInfo(
        text=text or UNKNOWN,
        cpus=cpus if isinstance(cpus, int) else None,
        workers=max(1, invocation.workers),
        load_before=invocation.load_before[0] if invocation.load_before else None,
        load_after=invocation.load_after[0] if invocation.load_after else None,
    )


def read(run: Run) -> RunInfo:
    """What the leaderboard needs of a loaded run; RunFormatError names what is missing."""
    record = run.record
    tasks = {name: _task(task) for name, task in record.tasks.items()}
    if "task" in run.episodes:
        missing = sorted({str(t) for t in run.episodes["task"]} - set(tasks))
        if missing:
            raise RunFormatError(
                run.root, f"episodes of task(s) {missing} have no task record in run.json"
            )
    used = sorted({int(i) for i in run.episodes.get("invocation", [])} or {0})
    invocations = [record.invocations[i] for i in used if i < len(record.invocations)]
    invocations = invocations or list(record.invocations[:1])
    first: Mapping[str, Any] = invocations[0].provenance if invocations else {}
    git: Mapping[str, Any] = first["git"] if isinstance(first.get("git"), dict) else {}
    revision = git.get("revision")
    plugins = tuple(
        f"{p.get('distribution') or p.get('name')} {p.get('version') or ''}".strip()
        + (" (failed to load)" if p.get("error") else "")
        for p in first.get("plugins") or []
        if isinstance(p, dict)
    )
    hosts = tuple(_host(i) for i in invocations) or (HostInfo(UNKNOWN, None, 1, None, None),)
    return RunInfo(
        run_id=record.run_id,
        root=str(run.root),
        status=record.status,
        complete=run.complete,
        created=record.created,
        command=shlex.join(record.command),
        harness_version=str(first.get("harness_version") or UNKNOWN),
        plugins=plugins,
        git=f"{str(revision)[:10]}{' (dirty)' if git.get('dirty') else ''}" if revision else "",
        policy=_policy(run),
        tasks=tasks,
        hosts=hosts,
        notes=tuple(run.notes),
    )
