"""A whole run: plan it, take the run directory, resume or start, execute, commit, and close.

``execute`` is what ``bench run`` calls. It checks everything it can before any work (names,
action spaces, episode counts, the ``--out`` directory: a file, a foreign non-empty directory,
episodes without a run record, or a directory another process is writing are all refused),
records this invocation's provenance, runs the missing episodes through an executor
(:mod:`harness.executors`) and commits each finished episode at once. Ctrl-C and SIGTERM stop
cleanly (status ``interrupted``), a budget or ``--max-errors`` stops (``stopped``); whatever
happens, finished episodes stay committed, and only what this invocation created is ever
removed. With ``--record`` the committed episodes are then added to the LeRobot dataset(s)
(:mod:`harness.recording`), whatever the status.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from harness.contract import BudgetExceeded, PolicyConfig, Spending, Task, Track, supports
from harness.errors import RunConfigError, RunFormatError
from harness.evaluate import Evaluated
from harness.executors import InlineExecutor, Job, PolicyFacts, ProcessExecutor, StopRun
from harness.fingerprint import task_fingerprint
from harness.plugins import loaded, registry
from harness.policies import PolicyTraits
from harness.record import (
    RESUME_KEYS,
    Invocation,
    PluginRef,
    PolicyRecord,
    RunRecord,
    RunSettings,
    TaskRecord,
    TrackRecord,
    config_hash,
    task_spec_dict,
)
from harness.recording import add_to_datasets, check_target
from harness.results import (
    EPISODES_FILE,
    ERROR_OUTCOMES,
    LOCK_FILE,
    PARTS_DIR,
    RUN_FILE,
    STEPS_FILE,
    EpisodeResult,
    RunStore,
)
from harness.signals import interrupts_held

ISOLATION = ("auto", "process", "none")
PLACEMENTS = ("auto", "host", "worker")


class RunObserver(Protocol):
    """What a run reports as it goes (the CLI's progress display)."""

    def phase(self, text: str) -> None:
        """What is happening now (loading, warm-up, episode step k/N)."""

    def episode(self, result: EpisodeResult, done: int, total: int) -> None:
        """An episode was committed: ``done`` of ``total`` are now finished."""


@dataclass
class RunReport:
    """How a run ended: where it is, what ran, and the first error of each kind."""

    out: Path
    status: str
    detail: str | None
    ran: int
    skipped: int
    errors: Counter[str] = field(default_factory=Counter)
    first_errors: dict[str, str] = field(default_factory=dict)
    successes: int = 0
    warnings: list[str] = field(default_factory=list)
    recorded: str | None = None
    """What ``--record`` added to its dataset(s), in one line."""


@dataclass(frozen=True)
class Planned:
    """One task of a run and the part of its track to run."""

    task: Task
    track: Track
    full_track: Track


def plan_run(config: PolicyConfig, task_or_suite: str, settings: RunSettings) -> list[Planned]:
    """Resolve names and tracks and check the policy can drive each task, before any work."""
    if settings.isolate not in ISOLATION:
        raise RunConfigError(f"--isolate {settings.isolate!r} is not one of {ISOLATION}")
    if settings.placement not in PLACEMENTS:
        raise RunConfigError(f"--placement {settings.placement!r} is not one of {PLACEMENTS}")
    if settings.isolate == "none" and settings.workers > 1:
        raise RunConfigError("--isolate none runs in this process: drop --workers")
    reg = registry()
    traits = PolicyTraits.of(reg.get("policy", config.name))
    planned = []
    for name in reg.resolve_tasks(task_or_suite):
        entry = reg.get("task", name)
        try:
            task = reg.build_task(name, settings.task_options)
        except (ValueError, TypeError) as exc:
            raise RunConfigError(f"task {name!r}: {exc}") from exc
        if task.spec.name != name or task.spec.suite != entry.extra["suite"]:
            raise RunConfigError(
                f"task {name!r} (plugin {entry.plugin!r}) is registered in suite "
                f"{entry.extra['suite']!r} but its spec says {task.spec.name!r} in suite "
                f"{task.spec.suite!r}; the plugin must make them agree"
            )
        declared = entry.extra.get("action_space")
        if declared is not None and declared != task.spec.action_space.name:
            raise RunConfigError(
                f"task {name!r} (plugin {entry.plugin!r}) is registered with action space "
                f"{declared!r} but its spec says {task.spec.action_space.name!r}"
            )
        if not supports(traits.action_spaces, task.spec.action_space):
            raise RunConfigError(
                f"policy {config.name!r} drives action spaces {list(traits.action_spaces)}; "
                f"task {name!r} uses {task.spec.action_space.name!r} (bench list policies)"
            )
        if config.name == "scripted" and entry.extra.get("expert") is None:
            raise RunConfigError(f"task {name!r} registered no scripted expert")
        full = task.track()
        try:
            part = full.head(settings.episodes)
        except ValueError as exc:
            raise RunConfigError(str(exc)) from None
        planned.append(Planned(task, part, full))
    return planned


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _load() -> tuple[float, ...]:
    try:
        return tuple(round(x, 2) for x in os.getloadavg())
    except OSError:
        return ()


def _task_record(plan: Planned, settings: RunSettings) -> TaskRecord:
    entry = registry().get("task", plan.task.spec.name)
    plugin = next((p for p in loaded().plugins if p.name == entry.plugin), None)
    return TaskRecord(
        spec=task_spec_dict(plan.task.spec),
        options=dict(settings.task_options),
        track=TrackRecord(
            version=plan.track.version,
            episodes=tuple((e.index, e.seed) for e in plan.track.episodes),
            size=len(plan.full_track.episodes),
        ),
        fingerprint=task_fingerprint(plan.task, settings.task_options, plan.full_track),
        plugin=PluginRef(
            entry.plugin,
            plugin.distribution if plugin else None,
            plugin.version if plugin else None,
        ),
    )


def _resume_problems(old: RunRecord, new: RunRecord) -> list[str]:
    """Why ``new`` may not add episodes to ``old`` (empty when it may)."""
    problems = []
    if old.policy.config_hash != new.policy.config_hash:
        problems.append(f"policy {dict(old.policy.config)} != {dict(new.policy.config)}")
    old_settings, new_settings = old.settings.as_dict(), new.settings.as_dict()
    for key in RESUME_KEYS:
        if old_settings[key] != new_settings[key]:
            problems.append(f"{key} {old_settings[key]} != {new_settings[key]}")
    for name, task in new.tasks.items():
        before = old.tasks.get(name)
        if before is None:
            problems.append(f"task {name!r} is not part of the stored run")
        elif before.version != task.version or before.track.version != task.track.version:
            problems.append(
                f"task {name} version {before.version}/track {before.track.version} != "
                f"{task.version}/track {task.track.version}"
            )
        elif before.fingerprint != task.fingerprint:
            problems.append(
                f"task {name} changed since the run was made (fingerprint {before.fingerprint} "
                f"!= {task.fingerprint}): its episodes would not compare"
            )
    return problems


class _Committer:
    """Commits finished episodes and keeps the record and the counts (the executors' sink)."""

    def __init__(
        self,
        store: RunStore,
        record: RunRecord,
        total: int,
        done: int,
        settings: RunSettings,
        observer: RunObserver | None,
        background: bool,
    ) -> None:
        self.store, self.record = store, record
        self.total, self.done = total, done
        self.settings = settings
        self.observer = observer
        self.report_errors: Counter[str] = Counter()
        self.first_errors: dict[str, str] = {}
        self.ran = 0
        self.successes = 0
        self._errors = 0
        # Inline runs overlap disk writes with the next episode on one writer thread; process
        # runs commit on the main thread, which is otherwise idle (and must stay single-
        # threaded to fork workers safely).
        self._pool = ThreadPoolExecutor(1, "vla-bench-writer") if background else None
        self._jobs: list[Future[None]] = []
        self._lock = threading.Lock()

    def phase(self, text: str) -> None:
        """Forward to the observer."""
        if self.observer is not None:
            self.observer.phase(text)

    def stop_reason(self) -> str | None:
        """Stop once ``--max-errors`` error episodes were committed."""
        limit = self.settings.max_errors
        if limit is not None and self._errors >= limit:
            return f"{self._errors} episode(s) ended in errors (--max-errors {limit})"
        return None

    def commit(self, job: Job, evaluated: Evaluated, facts: PolicyFacts | None) -> None:
        """Store one finished episode (now, or queued on the writer thread)."""
        result = evaluated.result
        if result.outcome in ERROR_OUTCOMES:
            self._errors += 1
            self.report_errors[result.outcome] += 1
            self.first_errors.setdefault(result.outcome, (result.error or "").split("\n")[0])
        self.successes += bool(result.success)
        if self._pool is None:
            self._write(evaluated, facts)
            return
        self.flush(wait=False)
        self._jobs.append(self._pool.submit(self._write, evaluated, facts))

    def _write(self, evaluated: Evaluated, facts: PolicyFacts | None) -> None:
        with self._lock:
            self.store.write_episode(evaluated.result, evaluated.steps, evaluated.artifacts)
            if facts is not None and (
                self.record.policy.describe != facts.describe
                or self.record.policy.n_action_steps != facts.n_action_steps
                or self.record.policy.uses_images != facts.uses_images
            ):
                # config_hash stays the hash of what was asked for (a resume asks the same);
                # the chunk length the policy chose is recorded beside it.
                policy = dataclasses.replace(
                    self.record.policy,
                    describe=facts.describe,
                    n_action_steps=facts.n_action_steps,
                    uses_images=facts.uses_images,
                )
                self.record = dataclasses.replace(self.record, policy=policy)
                self.store.write_record(self.record)
            self.done += 1
            self.ran += 1
            if self.observer is not None:
                self.observer.episode(evaluated.result, self.done, self.total)

    def flush(self, wait: bool = True) -> None:
        """Raise the error of any failed write (disk full...); with ``wait``, finish all."""
        if self._pool is not None and wait:
            self._pool.shutdown(wait=True)
            self._pool = None
        pending = []
        for job in self._jobs:
            if job.done() or wait:
                job.result()
            else:
                pending.append(job)
        self._jobs = pending


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[list[int]]:
    """SIGTERM stops a run as Ctrl-C does; yields a list that receives the signal number."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum: int, frame: Any) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)


def execute(
    config: PolicyConfig,
    task_or_suite: str,
    settings: RunSettings,
    out: Path,
    command: list[str],
    observer: RunObserver | None = None,
    *,
    fresh_process: bool = False,
) -> RunReport:
    """Run (or resume) a whole run into ``out``; returns how it ended (see the module doc).

    ``fresh_process``: the caller is a ``bench`` command that has rendered nothing and may
    fork its workers directly (see :func:`harness.executors.process_context`)."""
    from harness.provenance import provenance

    planned = plan_run(config, task_or_suite, settings)
    if settings.record:
        check_target(Path(settings.record), [p.task.spec for p in planned])
    traits = PolicyTraits.of(registry().get("policy", config.name))
    store = RunStore(out)
    store.check_usable()
    created = not out.exists()
    store.lock()
    try:
        try:
            old = store.read_record()
            record = _begin(config, planned, settings, traits, store, old, command, provenance())
        except BaseException:
            if created:
                _remove_created(out)
            raise
        index = len(record.invocations) - 1
        return _execute(
            config,
            planned,
            settings,
            store,
            record,
            index,
            traits,
            observer,
            created,
            fresh_process,
        )
    finally:
        store.unlock()


def _begin(
    config: PolicyConfig,
    planned: list[Planned],
    settings: RunSettings,
    traits: PolicyTraits,
    store: RunStore,
    old: RunRecord | None,
    command: list[str],
    software: dict[str, Any],
) -> RunRecord:
    """The record of this invocation (new, or the stored one extended), written to disk."""
    out = store.root
    started = _now()
    invocation = Invocation(
        started=started,
        command=tuple(command),
        workers=settings.workers,
        provenance=software,
        load_before=_load(),
    )
    record = RunRecord(
        run_id=out.name,
        created=started,
        status="running",
        policy=PolicyRecord(
            name=config.name,
            config=config.as_dict(),
            config_hash=config_hash(config.as_dict(), settings.n_action_steps),
            n_action_steps=settings.n_action_steps,
            privileged=traits.privileged,
            uses_images=True,
        ),
        tasks={p.task.spec.name: _task_record(p, settings) for p in planned},
        settings=settings,
        invocations=(invocation,),
    )
    if old is not None:
        problems = _resume_problems(old, record)
        if problems:
            raise RunConfigError(
                f"{out} holds a different run ({'; '.join(problems)}); "
                "pass the same arguments to resume it, or a new --out"
            )
        store.remove_stale_temporaries()  # ours, left by a killed invocation
        record = dataclasses.replace(
            record,
            run_id=old.run_id,
            created=old.created,
            policy=dataclasses.replace(
                record.policy,
                describe=old.policy.describe,
                n_action_steps=old.policy.n_action_steps,
                uses_images=old.policy.uses_images,
                config_hash=old.policy.config_hash,
            ),
            tasks={**old.tasks, **record.tasks},
            invocations=(*old.invocations, invocation),
        )
    store.write_record(record)
    return record


def _execute(
    config: PolicyConfig,
    planned: list[Planned],
    settings: RunSettings,
    store: RunStore,
    record: RunRecord,
    invocation: int,
    traits: PolicyTraits,
    observer: RunObserver | None,
    created: bool,
    fresh_process: bool,
) -> RunReport:
    finished = {p.task.spec.name: store.finished(p.task.spec.name) for p in planned}
    work = [
        Job(key, p.task.spec.name, episode)
        for key, (p, episode) in enumerate(
            (p, e)
            for p in planned
            for e in p.track.episodes
            if e.index not in finished[p.task.spec.name]
        )
    ]
    total = sum(len(p.track.episodes) for p in planned)
    inline = settings.executor == "local" and (
        settings.isolate == "none"
        or (settings.isolate == "auto" and settings.workers == 1 and traits.in_process)
    )
    local_processes = not inline and settings.executor == "local"
    spending = Spending(slots=settings.workers + 1 if local_processes else 1)
    committer = _Committer(
        store, record, total, total - len(work), settings, observer, background=inline
    )
    executor: Any
    if inline:
        executor = InlineExecutor(config, settings, store.root, invocation, spending)
    elif settings.executor == "ray":
        if not (settings.ray_address or os.environ.get("RAY_ADDRESS")):
            # A Ray cluster of this machine for this run: its processes bind 127.0.0.1 only
            # (Ray's single-machine mode, read from the environment when Ray is imported).
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        from harness.ray_executor import RayExecutor  # the only import of Ray

        executor = RayExecutor(config, settings, store.root, invocation, spending, traits=traits)
    else:
        executor = ProcessExecutor(
            config,
            settings,
            store.root,
            invocation,
            spending,
            traits=traits,
            fresh_process=fresh_process,
        )
    status, detail = "complete", None
    failure: BaseException | None = None
    with _sigterm_as_interrupt() as signals:
        try:
            try:
                executor.run(work, committer)
            finally:
                committer.flush()  # finished episodes are committed whatever happened
        except KeyboardInterrupt:
            how = "SIGTERM" if signals else "Ctrl-C"
            status, detail = "interrupted", f"stopped by {how}; re-run the same command to resume"
        except BudgetExceeded as exc:
            status, detail = "stopped", f"budget reached: {exc}"
        except StopRun as exc:
            status, detail = "stopped", str(exc)
        except BaseException as exc:  # the policy could not be built, the disk is full, ...
            status, detail = "failed", f"{type(exc).__name__}: {exc}"
            failure = exc
        with interrupts_held():
            record = committer.record
            if status == "failed" and created and committer.ran == 0 and len(work) == total:
                _remove_created(store.root)
            else:
                try:
                    store.consolidate()
                except (OSError, RunFormatError) as exc:  # the parts stay the truth
                    status, detail = "failed", f"consolidating the run failed: {exc}"
                    failure = failure or exc
                latest = dataclasses.replace(
                    record.latest,
                    finished=_now(),
                    status=status,
                    status_detail=detail,
                    ran=committer.ran,
                    spent_usd=spending.usd,
                    load_after=_load(),
                    requeued=tuple(getattr(executor, "requeued", ())),
                )
                record = dataclasses.replace(
                    record,
                    status=status,
                    status_detail=detail,
                    finished=latest.finished,
                    invocations=(*record.invocations[:-1], latest),
                )
                store.write_record(record)
    if failure is not None:
        raise failure
    recorded = _record(store, record, planned, Path(settings.record)) if settings.record else None
    return RunReport(
        out=store.root,
        status=status,
        detail=detail,
        ran=committer.ran,
        skipped=total - len(work),
        errors=committer.report_errors,
        first_errors=committer.first_errors,
        successes=committer.successes,
        warnings=executor.warnings,
        recorded=recorded,
    )


def _record(store: RunStore, record: RunRecord, planned: list[Planned], root: Path) -> str:
    """Add the committed episodes to the ``--record`` dataset(s) at ``root``; one line saying
    what."""
    tasks = {p.task.spec.name: p.task for p in planned}
    try:
        done = add_to_datasets(store, record.run_id, record.created, tasks, root)
    except KeyboardInterrupt:
        return (
            f"adding the rollouts to {root} was interrupted (whole episodes kept); re-run the "
            "same command to add the rest"
        )
    except (OSError, ValueError) as exc:
        raise RunConfigError(
            f"the run in {store.root} is saved, but adding its rollouts to {root} failed "
            f"({exc}); fix that and re-run the same command to add them"
        ) from exc
    return done.summary()


def _remove_created(root: Path) -> None:
    """Undo a run directory this invocation created and that holds nothing of value: only
    the files the run itself writes are removed, then the directory if it is empty."""
    for name in (RUN_FILE, LOCK_FILE, EPISODES_FILE, STEPS_FILE):
        (root / name).unlink(missing_ok=True)
    for folder in sorted((root / PARTS_DIR).glob("**/"), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()
    with contextlib.suppress(OSError):
        root.rmdir()
