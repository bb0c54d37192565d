"""The runner: roll a policy out on a task's track and commit every finished episode.

One episode is ``reset(seed) -> [act -> execute up to K actions of the chunk] ... -> end``,
ending on success, termination, the step limit, or a recorded error. Each ``act`` call is
timed with a monotonic clock; warm-up calls before the first episode are not timed. Episodes
run in this process (``workers=1``) or in spawned worker processes, and the parent writes
each finished episode to the run directory at once (see :mod:`harness.results`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import multiprocessing
import resource
import shutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from harness import metrics
from harness.contract import (
    ActionChunk,
    ActionSpace,
    BudgetExceeded,
    EpisodeSpec,
    Policy,
    PolicyConfig,
    Spending,
    Task,
    Track,
    supports,
)
from harness.errors import RunConfigError
from harness.keyframes import KeyframeRecorder
from harness.plugins import loaded, registry
from harness.results import STEP_SCHEMA, EpisodeResult, RunStore, atomic_write_bytes


@dataclass(frozen=True)
class RunSettings:
    """How a run is executed (recorded in ``run.json``; the parts that change scores are
    checked when a run directory is resumed)."""

    episodes: int | None = None
    workers: int = 1
    seed: int = 0
    n_action_steps: int | None = None
    warmup: int | None = None
    step_timeout_s: float = 300.0
    video: int = 0
    keyframes: int = 0
    task_options: dict[str, str] = dataclasses.field(default_factory=dict)


MAX_VIDEO_FRAMES = 300
"""Frames kept per rollout video; longer episodes are subsampled evenly."""

RESUME_KEYS = ("seed", "n_action_steps", "task_options")
"""Settings that must match to resume a run: they change what an episode does."""


class PolicyTimeout(TimeoutError):
    """One ``act`` call ran past ``step_timeout_s``."""


class BadAction(ValueError):
    """A policy returned NaN/inf, the wrong shape, or an invalid discrete index."""


# -- one episode ------------------------------------------------------------------------------


class _Deadline:
    """Raises PolicyTimeout in the main thread when one ``act`` call runs past ``seconds``.

    A watchdog thread polls the start time of the call in progress and, past the limit, sends
    SIGALRM to the main thread, whose handler raises. The per-call cost is two attribute
    writes (arming a timer per call cost ~4% of a fast episode). A hang inside native code is
    interrupted only when control returns to Python. Off the main thread, or without
    ``pthread_kill`` (Windows), calls run without a limit.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.usable = (
            seconds > 0
            and hasattr(signal, "pthread_kill")
            and threading.current_thread() is threading.main_thread()
        )
        self._started: float | None = None
        self._fired = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._previous: Any = None

    def install(self) -> None:
        """Install the SIGALRM handler and start the watchdog."""
        if not self.usable:
            return
        self._previous = signal.signal(signal.SIGALRM, self._on_alarm)
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="vla-bench-deadline", daemon=True)
        self._thread.start()

    def remove(self) -> None:
        """Stop the watchdog and restore the previous handler."""
        if not self.usable or self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        signal.signal(signal.SIGALRM, self._previous)

    def call(self, fn: Callable[[Any], ActionChunk], arg: Any) -> ActionChunk:
        """``fn(arg)`` under the deadline."""
        self._fired = False
        self._started = time.monotonic()
        try:
            return fn(arg)
        finally:
            self._started = None

    def _watch(self) -> None:
        main = threading.main_thread().ident
        poll = min(0.05, self.seconds / 4)
        while not self._stop.wait(poll):
            started = self._started
            if (
                started is not None
                and not self._fired
                and time.monotonic() - started > self.seconds
            ):
                self._fired = True
                signal.pthread_kill(main, signal.SIGALRM)  # type: ignore[arg-type]

    def _on_alarm(self, signum: int, frame: Any) -> None:
        if self._started is not None:  # the call may have returned since the watchdog looked
            raise PolicyTimeout(f"act() took longer than the per-step timeout of {self.seconds:g}s")


def _check_chunk(actions: np.ndarray, space: ActionSpace) -> None:
    if actions.ndim != 2 or actions.shape[0] < 1 or actions.shape[1] != space.dim:
        raise BadAction(
            f"policy returned actions of shape {actions.shape}; task needs (T, {space.dim}) "
            f"with T >= 1 for action space {space.name!r}"
        )
    if not np.all(np.isfinite(actions)):
        raise BadAction("policy returned a non-finite action (NaN or inf)")
    if space.discrete:
        idx = actions[:, 0]
        if np.any(idx != np.round(idx)) or np.any(idx < 0) or np.any(idx >= len(space.names)):
            raise BadAction(
                f"policy returned discrete action(s) {idx.tolist()}; valid indices are "
                f"0..{len(space.names) - 1}"
            )


class _StepLog:
    """The per-step record of one episode, kept as plain lists and turned into columns once
    (cheaper per step than building rows)."""

    def __init__(self) -> None:
        self.chunk: list[int] = []
        self.chunk_pos: list[int] = []
        self.act_s: list[float] = []
        self.model_s: list[float] = []
        self.chunk_info: list[str | None] = []
        self.actions: list[np.ndarray] = []
        self.clipped: list[bool] = []
        self.reward: list[float] = []
        self.success: list[bool] = []
        self.poses: list[Any] = []

    def __len__(self) -> int:
        return len(self.chunk)

    def table(self, task: str, episode: int) -> pa.Table:
        """The steps as an Arrow table with :data:`STEP_SCHEMA`."""
        n = len(self)
        poses = np.full((n, 7), np.nan)
        for row, pose in enumerate(self.poses):
            if pose is not None:
                poses[row] = np.asarray(pose, dtype=np.float64)[:7]
        actions = (
            np.asarray(self.actions, dtype=np.float64).reshape(n, -1) if n else np.empty((0, 0))
        )
        columns: dict[str, Any] = {
            "task": [task] * n,
            "episode": [episode] * n,
            "step": np.arange(n),
            "chunk": self.chunk,
            "chunk_pos": self.chunk_pos,
            "act_s": self.act_s,
            "model_s": self.model_s,
            "chunk_info": self.chunk_info,
            "action": actions.tolist(),
            "clipped": self.clipped,
            "reward": self.reward,
            "success": self.success,
        }
        for i, name in enumerate(("ee_x", "ee_y", "ee_z", "ee_qw", "ee_qx", "ee_qy", "ee_qz")):
            columns[name] = poses[:, i]
        return pa.table(columns, schema=STEP_SCHEMA)


class EpisodeRunner:
    """Holds one policy instance (built once per process) and runs episodes with it."""

    def __init__(
        self,
        policy_config: PolicyConfig,
        settings: RunSettings,
        spending: Spending | None = None,
    ) -> None:
        self.settings = settings
        self.policy_config = policy_config
        entry = registry().get("policy", policy_config.name)
        self.policy: Policy = entry.load()(policy_config)
        # One ledger for the run (shared with the other workers): budgets hold run-wide.
        self.spending = spending or Spending()
        if hasattr(self.policy, "spending"):
            self.policy.spending = self.spending
        self._tasks: dict[str, Task] = {}
        self._warmed = False
        self._deadline = _Deadline(settings.step_timeout_s)
        self._deadline.install()

    def task(self, name: str) -> Task:
        """The task object (built once per process)."""
        if name not in self._tasks:
            self._tasks[name] = registry().build_task(name, self.settings.task_options)
        return self._tasks[name]

    def close(self) -> None:
        """Release the policy and stop the step-timeout watchdog."""
        self._deadline.remove()
        self.policy.close()

    def run(
        self, task_name: str, episode: EpisodeSpec, video_dir: Path | None = None
    ) -> tuple[EpisodeResult, pa.Table]:
        """Run one episode to its end and return its summary row and step rows."""
        task = self.task(task_name)
        spec = task.spec
        policy = self.policy
        space = spec.action_space
        record_video = video_dir is not None and episode.index < self.settings.video
        # Long episodes keep every k-th frame so a video stays small in memory and on disk.
        frame_stride = max(1, math.ceil(spec.max_steps / MAX_VIDEO_FRAMES))
        k = self.settings.n_action_steps or policy.n_action_steps
        log = _StepLog()
        frames: list[np.ndarray] = []
        model_times: list[float] = []
        usage = {"clipped": 0, "decode_failures": 0, "in_tok": 0, "out_tok": 0, "cost": 0.0}
        peak_device: int | None = None
        outcome, error, instruction = "timeout", None, spec.instruction
        low, high = np.asarray(space.low), np.asarray(space.high)
        start_pose = None
        calls = 0
        episode_return = 0.0
        start = time.perf_counter()
        env = None
        deadline = self._deadline
        keys = KeyframeRecorder.for_episode(video_dir, spec, episode.index, self.settings.keyframes)
        try:
            try:
                render = policy.uses_images or record_video or keys is not None
                env = task.make_env(episode, render=render)
                obs, info = env.reset(seed=episode.seed)
            except Exception as exc:
                raise _SimError(
                    f"making or resetting the env raised {type(exc).__name__}: {exc}"
                ) from exc
            instruction = str(obs.get("instruction", spec.instruction))
            start_pose = info.get("ee_pose")
            if record_video:
                frames.append(_frame(obs))
            if keys is not None:
                keys.step(0, obs, 0.0, False, info)
            privileged_env = env if policy.privileged else None
            policy.reset(spec, episode, privileged_env)
            if not self._warmed:
                self._warm_up(obs)
                policy.reset(spec, episode, privileged_env)
            queue: list[np.ndarray] = []
            chunk_id, chunk_pos, calls = -1, 0, 0
            observe = getattr(policy, "observe", None)  # optional for non-PolicyBase policies
            for step in range(spec.max_steps):
                if not queue:
                    calls += 1
                    t0 = time.perf_counter()
                    chunk = deadline.call(policy.act, obs)
                    act_s = time.perf_counter() - t0
                    _check_chunk(chunk.actions, space)
                    model_s = math.nan
                    if chunk.model_time_s is not None:
                        model_s = chunk.model_time_s
                        model_times.append(model_s)
                    usage["decode_failures"] += chunk.decode_failures
                    usage["in_tok"] += chunk.input_tokens
                    usage["out_tok"] += chunk.output_tokens
                    usage["cost"] += chunk.cost_usd
                    self.spending.add(chunk.cost_usd)
                    if chunk.peak_memory_bytes is not None:
                        peak_device = max(peak_device or 0, chunk.peak_memory_bytes)
                    queue = list(chunk.actions[:k] if k else chunk.actions)
                    info_json = (
                        json.dumps(chunk.info, sort_keys=True, default=str) if chunk.info else None
                    )
                    chunk_id, chunk_pos = chunk_id + 1, 0
                else:
                    if observe is not None:
                        observe(obs)
                    act_s = model_s = math.nan
                    info_json = None
                action = queue.pop(0)
                clipped = False
                if space.discrete:
                    env_action: Any = int(action[0])
                else:
                    if (action < low).any() or (action > high).any():
                        action = np.clip(action, low, high)
                        clipped = True
                        usage["clipped"] += 1
                    env_action = action
                try:
                    obs, reward, terminated, truncated, info = env.step(env_action)
                except Exception as exc:
                    raise _SimError(f"env.step raised {type(exc).__name__}: {exc}") from exc
                reward = float(reward)
                success = bool(info.get("success", False))
                episode_return += reward
                log.chunk.append(chunk_id)
                log.chunk_pos.append(chunk_pos)
                log.act_s.append(act_s)
                log.model_s.append(model_s)
                log.chunk_info.append(info_json)
                log.actions.append(action)
                log.clipped.append(clipped)
                log.reward.append(reward)
                log.success.append(success)
                log.poses.append(info.get("ee_pose"))
                if keys is not None:
                    keys.step(step + 1, obs, reward, success, info)
                if record_video and (step + 1) % frame_stride == 0:
                    frames.append(_frame(obs))
                chunk_pos += 1
                if success:
                    outcome = "success"
                    break
                if terminated:
                    failure = info.get("failure")
                    outcome, error = (
                        ("sim_error", str(failure)) if failure else ("terminated", None)
                    )
                    break
                if truncated:
                    break
        except BudgetExceeded:
            raise
        except PolicyTimeout as exc:
            outcome, error = "policy_timeout", str(exc)
        except BadAction as exc:
            outcome, error = "bad_action", str(exc)
        except _SimError as exc:
            outcome, error = "sim_error", f"{exc}\n{_short_tb(exc.__cause__)}"
        except Exception as exc:  # everything else came from the policy (reset or act)
            outcome, error = "policy_error", f"{type(exc).__name__}: {exc}\n{_short_tb(exc)}"
        finally:
            if env is not None:
                with contextlib.suppress(Exception):
                    env.close()
        if keys is not None:
            keys.write()
        wall = time.perf_counter() - start
        n_steps = len(log)
        act_times = [t for t in log.act_s if not math.isnan(t)]
        result = EpisodeResult(
            task=task_name,
            episode=episode.index,
            seed=episode.seed,
            instruction=instruction,
            success=outcome == "success",
            outcome=outcome,
            steps=n_steps,
            error=error,
            time_to_success_s=n_steps / spec.control_hz if outcome == "success" else math.nan,
            episode_return=episode_return,
            wall_s=wall,
            act_calls=calls,
            clipped_actions=int(usage["clipped"]),
            decode_failures=int(usage["decode_failures"]),
            input_tokens=int(usage["in_tok"]),
            output_tokens=int(usage["out_tok"]),
            cost_usd=float(usage["cost"]),
            peak_rss_bytes=_peak_rss_bytes(),
            peak_device_bytes=peak_device,
        )
        lat = metrics.latency_percentiles(act_times)
        result.act_p50_s, result.act_p95_s, result.act_p99_s = lat["p50"], lat["p95"], lat["p99"]
        result.model_p50_s = metrics.latency_percentiles(model_times)["p50"]
        if spec.smoothness_applies:
            _score_smoothness(result, start_pose, log, spec.control_hz)
        if record_video and frames and video_dir is not None:
            rel = Path("videos") / task_name / f"{episode.index:06d}.gif"
            _write_gif(video_dir / rel, frames, spec.control_hz / frame_stride)
            result.extra["video"] = rel.as_posix()
        return result, log.table(task_name, episode.index)

    def _warm_up(self, obs: dict[str, Any]) -> None:
        calls = (
            self.settings.warmup if self.settings.warmup is not None else self.policy.warmup_calls
        )
        for _ in range(calls):
            self._deadline.call(self.policy.act, obs)
        self._warmed = True


class _SimError(RuntimeError):
    pass


def _short_tb(exc: BaseException | None, limit: int = 6) -> str:
    if exc is None:
        return ""
    return "".join(traceback.format_exception(exc, limit=-limit)).strip()


def _score_smoothness(result: EpisodeResult, start_pose: Any, log: _StepLog, fs: float) -> None:
    """Fill the smoothness fields from the end-effector path and the executed actions."""
    poses = [p for p in [start_pose, *log.poses] if p is not None]
    if len(poses) >= 3:
        path = np.asarray(poses, dtype=np.float64)[:, :3]
        speed = metrics.speed_profile(path, fs)
        result.ldlj = metrics.ldlj(speed, fs)
        result.sparc = metrics.sparc(speed, fs)
        result.mean_squared_jerk = metrics.mean_squared_jerk(path, fs)
        result.path_length_m = float(np.sum(np.linalg.norm(np.diff(path, axis=0), axis=1)))
    if log.actions:
        result.chunk_jump_ratio = metrics.chunk_jump_ratio(np.asarray(log.actions), log.chunk)


def _peak_rss_bytes() -> int:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(kib if sys.platform == "darwin" else kib * 1024)


def _frame(obs: dict[str, Any]) -> np.ndarray:
    """All cameras side by side (a frame of the rollout video)."""
    images = [np.asarray(img) for img in obs.get("images", {}).values()]
    if not images:
        return np.zeros((1, 1, 3), dtype=np.uint8)
    height = max(img.shape[0] for img in images)
    padded = [np.pad(img, ((0, height - img.shape[0]), (0, 0), (0, 0))) for img in images]
    return np.concatenate(padded, axis=1)


def _write_gif(path: Path, frames: list[np.ndarray], fps: float) -> None:
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=int(1000 / fps),
        loop=0,
    )
    atomic_write_bytes(path, buffer.getvalue())


# -- a whole run ------------------------------------------------------------------------------


@dataclass
class RunReport:
    """What a finished (or stopped) run did: where it is and how it ended."""

    out: Path
    status: str
    detail: str | None
    ran: int
    skipped: int


def plan_run(
    policy_config: PolicyConfig, task_or_suite: str, settings: RunSettings
) -> list[tuple[Task, Track]]:
    """Resolve names and tracks and check the policy can drive each task, before any work."""
    reg = registry()
    policy_entry = reg.get("policy", policy_config.name)
    planned = []
    for name in reg.resolve_tasks(task_or_suite):
        task = reg.build_task(name, settings.task_options)
        spaces = policy_entry.extra.get("action_spaces", ("*",))
        if not supports(spaces, task.spec.action_space):
            raise RunConfigError(
                f"policy {policy_config.name!r} drives action spaces {list(spaces)}; task "
                f"{name!r} uses {task.spec.action_space.name!r} (bench list policies)"
            )
        if policy_config.name == "scripted" and reg.get("task", name).extra.get("expert") is None:
            raise RunConfigError(f"task {name!r} registered no scripted expert")
        planned.append((task, task.track().head(settings.episodes)))
    return planned


def _task_record(task: Task, track: Track) -> dict[str, Any]:
    entry = registry().get("task", task.spec.name)
    plugin = next((p for p in loaded().plugins if p.name == entry.plugin), None)
    return {
        "spec": dataclasses.asdict(task.spec),
        "track": {
            "version": track.version,
            "episodes": [[e.index, e.seed] for e in track.episodes],
            "size": len(task.track().episodes),
        },
        "plugin": {
            "name": entry.plugin,
            "distribution": plugin.distribution if plugin else None,
            "version": plugin.version if plugin else None,
        },
    }


def _check_resume(meta: dict[str, Any], new: dict[str, Any], out: Path) -> None:
    """Refuse to mix episodes of a different policy, config, task version or track."""
    problems = []
    if meta.get("policy", {}).get("config") != new["policy"]["config"]:
        problems.append(
            f"policy {meta.get('policy', {}).get('config')} != {new['policy']['config']}"
        )
    for key in RESUME_KEYS:
        if meta.get("settings", {}).get(key) != new["settings"][key]:
            problems.append(f"{key} {meta.get('settings', {}).get(key)} != {new['settings'][key]}")
    for name, task in new["tasks"].items():
        old = meta.get("tasks", {}).get(name)
        if old is None:
            problems.append(f"task {name!r} is not part of the stored run")
            continue
        if old["spec"]["version"] != task["spec"]["version"]:
            problems.append(
                f"task {name} version {old['spec']['version']} != {task['spec']['version']}"
            )
        if old["track"]["version"] != task["track"]["version"]:
            problems.append(
                f"track {name} version {old['track']['version']} != {task['track']['version']}"
            )
    if problems:
        raise RunConfigError(
            f"{out} holds a different run ({'; '.join(problems)}); "
            "pass the same arguments to resume it, or a new --out"
        )


ProgressFn = Callable[[str, EpisodeResult | None, int, int], None]


def execute(
    policy_config: PolicyConfig,
    task_or_suite: str,
    settings: RunSettings,
    out: Path,
    command: list[str],
    progress: ProgressFn | None = None,
) -> RunReport:
    """Run (or resume) a whole run into ``out``; returns how it ended.

    ``progress(task, result, done, total)`` is called after each committed episode (and once
    per task with ``result=None`` before it starts). Ctrl-C stops cleanly: finished episodes
    stay committed and the run is marked ``interrupted``.
    """
    from harness.provenance import provenance

    planned = plan_run(policy_config, task_or_suite, settings)
    store = RunStore(out)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    meta: dict[str, Any] = {
        "run_id": out.name,
        "created": now,
        "finished": None,
        "status": "running",
        "status_detail": None,
        "command": command,
        "policy": {
            "name": policy_config.name,
            "config": policy_config.as_dict(),
            "describe": None,
            "n_action_steps": settings.n_action_steps,
            "privileged": policy_config.name == "scripted",
        },
        "tasks": {task.spec.name: _task_record(task, track) for task, track in planned},
        "settings": dataclasses.asdict(settings),
        "provenance": None,  # filled in by the writer thread while the first episode runs
    }
    old = store.read_meta()
    if old is not None:
        _check_resume(old, meta, out)
        meta["created"] = old.get("created", now)
        meta["policy"]["describe"] = old.get("policy", {}).get("describe")
        meta["tasks"] = {**old.get("tasks", {}), **meta["tasks"]}
        meta["resumed"] = [*old.get("resumed", []), now]
    store.write_meta(meta)

    work = [
        (task.spec.name, ep)
        for task, track in planned
        for ep in track.episodes
        if ep.index not in store.finished(task.spec.name)
    ]
    total = sum(len(track.episodes) for _, track in planned)
    done = total - len(work)
    status, detail, ran = "complete", None, 0

    # Disk work happens on one writer thread, in order, overlapping the next episode; only
    # this thread touches ``meta`` and the store until it is closed below.
    writer = _Writer()

    def fill_provenance() -> None:
        meta["provenance"] = provenance()
        store.write_meta(meta)

    def write(result: EpisodeResult, steps: pa.Table, describe: dict[str, Any]) -> None:
        nonlocal done, ran
        store.write_episode(result, steps)
        if meta["policy"]["describe"] != describe:  # backends may learn things mid-run
            meta["policy"]["describe"] = describe
            store.write_meta(meta)
        done, ran = done + 1, ran + 1
        if progress:
            progress(result.task, result, done, total)

    def commit(result: EpisodeResult, steps: pa.Table, describe: dict[str, Any]) -> None:
        writer.submit(write, result, steps, describe)

    writer.submit(fill_provenance)
    spending = (
        Spending.across_processes(multiprocessing.get_context("spawn"))
        if settings.workers > 1
        else Spending()
    )
    try:
        try:
            if settings.workers <= 1:
                _run_inline(policy_config, settings, work, out, commit, spending)
            else:
                _run_pool(policy_config, settings, work, out, commit, spending)
        finally:
            writer.close()  # finished episodes are committed whatever happened
    except KeyboardInterrupt:
        status, detail = "interrupted", "stopped by Ctrl-C; re-run the same command to resume"
    except BudgetExceeded as exc:
        status, detail = "stopped", f"budget reached: {exc}"
        meta["spent_usd_this_invocation"] = spending.usd
    except BaseException as exc:  # the policy could not be built, a worker died, ...
        status, detail = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if status == "failed" and old is None and ran == 0:
            shutil.rmtree(out, ignore_errors=True)  # we made it and it holds nothing
        else:
            store.consolidate()
            meta.update(
                status=status,
                status_detail=detail,
                finished=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            store.write_meta(meta)
    return RunReport(out=out, status=status, detail=detail, ran=ran, skipped=total - len(work))


class _Writer:
    """One background thread running disk jobs in submission order; errors surface on use."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="vla-bench-writer")
        self._jobs: list[Future[None]] = []

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        """Queue a job, first raising the error of any job that already failed (disk full...)."""
        self._raise_failed()
        self._jobs.append(self._pool.submit(fn, *args))

    def close(self) -> None:
        """Wait for every queued job; raise the first error."""
        self._pool.shutdown(wait=True)
        self._raise_failed()

    def _raise_failed(self) -> None:
        pending = []
        for job in self._jobs:
            if job.done():
                job.result()
            else:
                pending.append(job)
        self._jobs = pending


CommitFn = Callable[[EpisodeResult, pa.Table, dict[str, Any]], None]


def _run_inline(
    policy_config: PolicyConfig,
    settings: RunSettings,
    work: list[tuple[str, EpisodeSpec]],
    out: Path,
    commit: CommitFn,
    spending: Spending,
) -> None:
    if not work:
        return
    runner = EpisodeRunner(policy_config, settings, spending)
    try:
        for task_name, episode in work:
            result, steps = runner.run(task_name, episode, out)
            commit(result, steps, runner.policy.describe())
    finally:
        runner.close()


# Worker processes keep one EpisodeRunner each, built by the pool initializer.
_worker: EpisodeRunner | None = None


def _init_worker(policy_config: PolicyConfig, settings: RunSettings, spending: Spending) -> None:
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    _worker = EpisodeRunner(policy_config, settings, spending)


def _work(
    task_name: str, episode: EpisodeSpec, out: Path
) -> tuple[EpisodeResult, pa.Table, dict[str, Any]]:
    assert _worker is not None
    result, steps = _worker.run(task_name, episode, out)
    return result, steps, _worker.policy.describe()


def _run_pool(
    policy_config: PolicyConfig,
    settings: RunSettings,
    work: list[tuple[str, EpisodeSpec]],
    out: Path,
    commit: CommitFn,
    spending: Spending,
) -> None:
    if not work:
        return
    context = multiprocessing.get_context("spawn")  # fork is unsafe with GL contexts and torch
    workers = min(settings.workers, len(work))
    pool = ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(policy_config, settings, spending),
    )
    pending: set[Future[Any]] = set()
    queue = list(work)
    try:
        while queue or pending:
            while queue and len(pending) < workers * 2:
                task_name, episode = queue.pop(0)
                pending.add(pool.submit(_work, task_name, episode, out))
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                commit(*future.result())
    except KeyboardInterrupt:
        # Ctrl-C stops now, as it does in one process: the episodes in flight are dropped
        # (never committed; a resume re-runs them) instead of waited for, which could take
        # minutes with a large model on a CPU.
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        raise
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
