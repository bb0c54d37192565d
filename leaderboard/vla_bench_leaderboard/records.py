"""The one place the leaderboard reads a run's ``run.json``: typed records of what it needs.

Everything else in the leaderboard works on :class:`RunRecord`; when the engine's typed run
record replaces the plain ``run.meta`` dict, only this module changes. Content of the wrong
type (a string where a table belongs) raises :class:`harness.errors.RunFormatError`: the one
error that lets a report skip a run.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import RunFormatError
from harness.results import Run

UNKNOWN = "?"


@dataclass(frozen=True)
class PolicyRecord:
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
    config_hash: str | None


@dataclass(frozen=True)
class TaskRecord:
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
    action_names: tuple[str, ...] = ()

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
        """``task vX · track vY`` (and a short fingerprint where recorded)."""
        text = f"{self.name} v{self.version} · track {self.track_version}"
        return text + (f" · {self.fingerprint[:12]}" if self.fingerprint else "")


@dataclass(frozen=True)
class HostRecord:
    """Where and under what load a run's latencies were measured."""

    text: str  # hostname, CPU, memory, GPUs in one line
    hostname: str
    cpus: int | None  # CPUs the run could use (affinity), else the machine's count
    workers: int | None
    load_before: float | None  # 1-minute load average when an invocation started
    load_after: float | None  # ... and when it ended (includes the run's own workers)

    @property
    def loaded(self) -> bool | None:
        """Whether other work competed for the CPUs while latency was measured.

        True when the 1-minute load average before the run, or after it less the run's own
        workers, exceeded the CPUs the run could use less its workers (other processes then
        wanted more CPU than was free); None when the load was not recorded.
        """
        if self.cpus is None or (self.load_before is None and self.load_after is None):
            return None
        workers = self.workers or 1
        free = max(self.cpus - workers, 0)
        others = [
            x
            for x in (
                self.load_before,
                None if self.load_after is None else self.load_after - workers,
            )
            if x is not None
        ]
        return any(x > free for x in others)


@dataclass(frozen=True)
class RunRecord:
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
    policy: PolicyRecord
    tasks: Mapping[str, TaskRecord]
    host: HostRecord
    notes: tuple[str, ...] = ()
    task_notes: tuple[str, ...] = field(default=())


def _table(value: Any, where: str, root: Path) -> dict[str, Any]:
    """``value`` as a dict: {} when absent, RunFormatError when it is something else."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RunFormatError(
            root, f"run.json: {where} should be a table, not {type(value).__name__}"
        )
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _policy(meta: dict[str, Any], root: Path) -> PolicyRecord:
    policy = _table(meta.get("policy"), "policy", root)
    config = _table(policy.get("config"), "policy.config", root)
    describe = _table(policy.get("describe"), "policy.describe", root)
    settings = _table(meta.get("settings"), "settings", root)
    options = _table(config.get("options"), "policy.config.options", root)
    n_act = policy.get("n_action_steps") or settings.get("n_action_steps")
    checkpoint = describe.get("checkpoint") or config.get("checkpoint")
    seed = config.get("seed", settings.get("seed"))
    digest = describe.get("weights_digest")
    return PolicyRecord(
        name=str(policy.get("name") or config.get("name") or UNKNOWN),
        checkpoint=str(checkpoint) if checkpoint else None,
        weights=str(describe.get("weights") or UNKNOWN),
        weights_digest=str(digest) if digest else None,
        device=str(config["device"]) if config.get("device") else None,
        dtype=str(config["dtype"]) if config.get("dtype") else None,
        options=json.dumps(options, sort_keys=True, default=str),
        n_action_steps=int(steps) if (steps := _number(n_act)) else None,
        privileged=bool(policy.get("privileged", False)),
        seed=int(number) if (number := _number(seed)) is not None else None,
        config_hash=str(policy["config_hash"]) if policy.get("config_hash") else None,
    )


def _task(meta: dict[str, Any], name: str, root: Path, notes: list[str]) -> TaskRecord:
    tasks = _table(meta.get("tasks"), "tasks", root)
    if name not in tasks:
        notes.append(f"run.json has no record of task {name!r} (older run): versions unknown")
    record = _table(tasks.get(name), f"tasks.{name}", root)
    spec = _table(record.get("spec"), f"tasks.{name}.spec", root)
    track = _table(record.get("track"), f"tasks.{name}.track", root)
    plugin = _table(record.get("plugin"), f"tasks.{name}.plugin", root)
    space = _table(spec.get("action_space"), f"tasks.{name}.spec.action_space", root)
    hz = _number(spec.get("control_hz"))
    fingerprint = record.get("fingerprint") or track.get("fingerprint")
    names = space.get("names")
    return TaskRecord(
        name=name,
        version=str(spec.get("version", UNKNOWN)),
        suite=str(spec.get("suite") or UNKNOWN),
        track_version=str(track.get("version", UNKNOWN)),
        fingerprint=str(fingerprint) if fingerprint else None,
        has_ee=spec.get("has_ee_pose") if isinstance(spec.get("has_ee_pose"), bool) else None,
        control_hz=hz if hz else None,
        instruction=str(spec.get("instruction") or ""),
        plugin=" ".join(str(plugin.get(k)) for k in ("distribution", "version") if plugin.get(k)),
        action_names=tuple(str(n) for n in names) if isinstance(names, list) else (),
    )


def _invocations(meta: dict[str, Any], root: Path) -> list[dict[str, Any]]:
    """The provenance of each invocation that added episodes (one table in older runs)."""
    prov = meta.get("provenance")
    if isinstance(prov, list):
        return [_table(p, "provenance[]", root) for p in prov]
    return [_table(prov, "provenance", root)]


def _load(value: Any) -> float | None:
    """A 1-minute load average from a number or a (1, 5, 15 minute) list."""
    if isinstance(value, list | tuple) and value:
        value = value[0]
    return _number(value)


def _host(meta: dict[str, Any], invocations: list[dict[str, Any]], root: Path) -> HostRecord:
    first = invocations[0] if invocations else {}
    host = _table(first.get("host"), "provenance.host", root)
    gpus: list[Any] = host["gpus"] if isinstance(host.get("gpus"), list) else []
    memory = _number(host.get("memory_bytes"))
    count = _number(host.get("cpu_count"))
    text = ", ".join(
        str(p)
        for p in (
            host.get("hostname"),
            host.get("cpu"),
            f"{count:.0f} CPUs" if count else None,
            f"{memory / 2**30:.0f} GiB" if memory else None,
            *gpus,
        )
        if p
    )
    affinity = host.get("affinity")
    cpus = len(affinity) if isinstance(affinity, list) and affinity else count
    settings = _table(meta.get("settings"), "settings", root)
    workers = _number(settings.get("workers"))
    loads = [_table(p.get("load"), "provenance.load", root) for p in invocations]
    befores = [x for x in (_load(p.get("before")) for p in loads) if x is not None]
    afters = [x for x in (_load(p.get("after")) for p in loads) if x is not None]
    return HostRecord(
        text=text or UNKNOWN,
        hostname=str(host.get("hostname") or UNKNOWN),
        cpus=int(cpus) if cpus else None,
        workers=int(workers) if workers else None,
        load_before=max(befores) if befores else None,
        load_after=max(afters) if afters else None,
    )


def read(run: Run) -> RunRecord:
    """The record of a loaded run; RunFormatError names what is malformed in its run.json."""
    meta = run.meta
    root = run.root
    if not isinstance(meta, dict):
        raise RunFormatError(root, f"run.json holds a {type(meta).__name__}, not a JSON object")
    invocations = _invocations(meta, root)
    first = invocations[0] if invocations else {}
    git = _table(first.get("git"), "provenance.git", root)
    revision = git.get("revision")
    command = meta.get("command")
    plugins = tuple(
        f"{p.get('distribution') or p.get('name')} {p.get('version') or ''}".strip()
        + (" (failed to load)" if p.get("error") else "")
        for p in first.get("plugins") or []
        if isinstance(p, dict)
    )
    task_notes: list[str] = []
    names = sorted({str(t) for t in run.episodes["task"]}) if "task" in run.episodes else []
    tasks = {name: _task(meta, name, root, task_notes) for name in names}
    return RunRecord(
        run_id=str(meta.get("run_id") or root.name),
        root=str(root),
        status=str(meta.get("status") or UNKNOWN),
        complete=run.complete,
        created=str(meta.get("created") or ""),
        command=shlex.join(map(str, command)) if isinstance(command, list) else str(command or ""),
        harness_version=str(first.get("harness_version") or UNKNOWN),
        plugins=plugins,
        git=f"{str(revision)[:10]}{' (dirty)' if git.get('dirty') else ''}" if revision else "",
        policy=_policy(meta, root),
        tasks=tasks,
        host=_host(meta, invocations, root),
        notes=tuple(run.notes),
        task_notes=tuple(task_notes),
    )
