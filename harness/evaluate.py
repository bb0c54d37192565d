"""Scoring one episode: the loop, the chunk executor and the measurements around them.

An :class:`EpisodeEvaluator` lives wherever episodes run (the runner's process or an env
worker) and holds that place's policy, or policy session. For each episode it builds the env,
runs :func:`harness.episode.run_episode` with a :class:`~harness.chunking.ChunkExecutor`, and
returns the summary row, the step table and the env's artifacts; rollout videos, keyframes
and ``--record`` frames are written into the run directory as they are made.
"""

from __future__ import annotations

import contextlib
import json
import math
import resource
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from harness import metrics
from harness.chunking import ChunkExecutor
from harness.contract import EpisodeSpec, Observation, Policy, Spending, Task
from harness.deadline import Deadline
from harness.episode import describe_exception, run_episode
from harness.fingerprint import observation_digests
from harness.keyframes import KeyframeRecorder
from harness.latency import Clock, Timing
from harness.media import VideoRecorder
from harness.plugins import registry
from harness.record import RunSettings
from harness.recording import RolloutRecorder
from harness.results import ERROR_OUTCOMES, EpisodeResult

PhaseFn = Callable[[str], None]
"""Reports what is happening now (``loading``, ``warm-up``, ``valve ep 3 step 40/200``)."""


@dataclass
class Evaluated:
    """One finished episode: its row, its steps and the env's per-episode artifacts."""

    result: EpisodeResult
    steps: pa.Table
    artifacts: dict[str, bytes]


class EpisodeEvaluator:
    """Runs and scores episodes with one policy (or session) in this process."""

    def __init__(
        self,
        policy: Policy,
        *,
        privileged: bool,
        settings: RunSettings,
        out: Path,
        invocation: int = 0,
        spending: Spending | None = None,
        deadline: Deadline | None = None,
        in_worker: bool = False,
        phase: PhaseFn | None = None,
    ) -> None:
        self.policy = policy
        self.privileged = privileged
        self.settings = settings
        self.out = out
        self.invocation = invocation
        self.spending = spending
        self.deadline = deadline
        self.in_worker = in_worker
        self.phase = phase or (lambda text: None)
        self._tasks: dict[str, Task] = {}
        self._warmed = False
        self.timing = Timing.parse(settings.timing)
        self._latencies = self.timing.samples()
        if spending is not None and hasattr(policy, "spending"):
            policy.spending = spending

    @property
    def n_action_steps(self) -> int | None:
        """The chunk length executed: ``--n-action-steps`` or the policy's own."""
        return self.settings.n_action_steps or getattr(self.policy, "n_action_steps", None)

    def task(self, name: str) -> Task:
        """The task object (built once per process, with the run's task options)."""
        if name not in self._tasks:
            self._tasks[name] = registry().build_task(name, self.settings.task_options)
        return self._tasks[name]

    def describe(self) -> dict[str, Any]:
        """The policy's description; a describe() that raises is reported, not fatal."""
        try:
            described = self.policy.describe()  # type: ignore[attr-defined]
            return dict(described) if isinstance(described, Mapping) else {}
        except Exception as exc:
            return {"describe_error": describe_exception(exc, limit=0)}

    def evaluate(self, task_name: str, episode: EpisodeSpec) -> Evaluated:
        """Run one episode to its end and score it."""
        task = self.task(task_name)
        spec = task.spec
        policy = self.policy
        settings = self.settings
        uses_images = bool(getattr(policy, "uses_images", True))
        video = VideoRecorder.maybe(self.out, task_name, episode.index, settings.video, spec)
        keys = KeyframeRecorder.for_episode(self.out, spec, episode.index, settings.keyframes)
        rollout = RolloutRecorder.maybe(self.out, task_name, episode.index, settings.record)
        executor = ChunkExecutor(
            policy,
            spec.action_space,
            self.n_action_steps,
            deadline=self.deadline,
            step_timeout_s=settings.step_timeout_s,
            spending=self.spending,
            clock=None
            if self.timing.sync
            else Clock(
                spec.control_hz,
                self.timing.align,
                self._latencies,
                run_seed=settings.seed,
                episode_seed=episode.seed,
            ),
        )
        rewards: list[float] = []
        successes: list[bool] = []
        poses: list[Any] = []
        path: list[np.ndarray] = []
        start_pose: list[Any] = [None]
        label = f"{task_name} ep {episode.index}"
        report_every = max(1, spec.max_steps // 20)

        def on_reset(obs: Observation, info: Mapping[str, Any]) -> None:
            start_pose[0] = info.get("ee_pose")
            if video is not None:
                video.add(obs)
            if keys is not None:
                keys.step(0, obs, 0.0, False, info)
            if rollout is not None:
                rollout.reset(obs)
            policy.reset(spec, episode, env if self.privileged else None)
            if not self._warmed:
                self._warm_up(executor, obs)
                policy.reset(spec, episode, env if self.privileged else None)

        def on_step(
            step: int, action: Any, reward: float, info: Mapping[str, Any], obs: Observation
        ) -> None:
            rewards.append(reward)
            successes.append(bool(info.get("success", False)))
            poses.append(info.get("ee_pose"))
            sub = info.get("ee_path")
            if sub is not None:
                path.append(np.asarray(sub, dtype=np.float64).reshape(-1, 3))
            if video is not None:
                video.add(obs, step)
            if keys is not None:
                keys.step(step + 1, obs, reward, bool(info.get("success", False)), info)
            if rollout is not None:
                rollout.step(action, obs)
            if step % report_every == 0:
                self.phase(f"{label} step {step + 1}/{spec.max_steps}")

        self.phase(f"{label} starting")
        start = time.perf_counter()
        env = None
        end_error: str | None
        first: Observation | None
        try:
            render = uses_images or video is not None or keys is not None or rollout is not None
            env = task.make_env(episode, render=render)
        except Exception as exc:  # a task that cannot make its env
            end_outcome, end_steps, end_error, first = (
                "sim_error",
                0,
                f"task.make_env raised {describe_exception(exc)}",
                None,
            )
            artifacts: dict[str, bytes] = {}
        else:
            end = run_episode(
                env,
                episode,
                executor.next_action,
                max_steps=spec.max_steps,
                on_reset=on_reset,
                on_step=on_step,
                deadline=self.deadline,
                sim_timeout_s=settings.sim_timeout_s,
                ctrl_c_is_policy_error=self.in_worker,
            )
            end_outcome, end_steps, end_error, first = (
                end.outcome,
                end.steps,
                end.error,
                end.first_observation,
            )
            artifacts = _artifacts(env)
            with contextlib.suppress(Exception):
                env.close()
        wall = time.perf_counter() - start
        n = len(rewards)
        result = EpisodeResult(
            task=task_name,
            episode=episode.index,
            seed=episode.seed,
            instruction=str((first or {}).get("instruction", spec.instruction)),
            success=end_outcome == "success",
            outcome=end_outcome,
            steps=end_steps,
            error=end_error,
            time_to_success_s=n / spec.control_hz if end_outcome == "success" else math.nan,
            episode_return=float(sum(rewards)),
            max_reward=max(rewards) if rewards else math.nan,
            wall_s=wall,
            act_calls=executor.calls,
            clipped_actions=executor.clipped_total,
            decode_failures=executor.decode_failures,
            input_tokens=executor.input_tokens,
            output_tokens=executor.output_tokens,
            cost_usd=executor.cost_usd,
            peak_rss_bytes=_peak_rss_bytes(),
            peak_device_bytes=float(executor.peak_device_bytes)
            if executor.peak_device_bytes is not None
            else math.nan,
            invocation=self.invocation,
        )
        if executor.clock is not None and n:
            result.held_steps = executor.chunk_pos[:n].count(-1)
            result.stale_ratio = result.held_steps / n
            result.effective_hz = (n - result.held_steps) * spec.control_hz / n
        if first is not None:
            digests = observation_digests(first)
            result.obs_state_digest, result.obs_image_digest = digests
        lat = metrics.latency_percentiles(executor.act_times)
        result.act_p50_s, result.act_p95_s, result.act_p99_s = lat["p50"], lat["p95"], lat["p99"]
        result.model_p50_s = metrics.latency_percentiles(executor.model_times)["p50"]
        if spec.smoothness_applies:
            _score_smoothness(result, start_pose[0], poses, path, spec.control_hz, n)
            groups = metrics.action_groups(spec.action_space.names)
            if executor.raw_actions and groups:
                # Between the actions the policy chose: hold steps are not a chunk's rows.
                chosen = np.asarray(executor.chunk_pos[:n]) != -1
                raw = np.asarray(executor.raw_actions[:n], dtype=np.float64)[chosen]
                chunks = np.asarray(executor.chunk[:n])[chosen]
                ratios = metrics.chunk_jump_ratios(raw, chunks, groups)
                result.chunk_jumps = json.dumps(ratios, allow_nan=True)
        if video is not None:
            result.extra["video"] = video.finish(spec.control_hz)
        if keys is not None:
            keys.write()
        if rollout is not None and end_outcome not in ERROR_OUTCOMES:
            written = rollout.finish()
            if written is not None:
                result.extra["rollout"] = written
        steps = executor.table(task_name, episode.index, rewards, successes, poses)
        return Evaluated(result, steps, artifacts)

    def _warm_up(self, executor: ChunkExecutor, obs: Observation) -> None:
        calls = self.settings.warmup
        if calls is None:
            calls = int(getattr(self.policy, "warmup_calls", 1))
        if calls:
            self.phase(f"warm-up ({calls} untimed call{'s' if calls > 1 else ''})")
        for _ in range(calls):
            executor.call_policy(obs)
        self._warmed = True

    def close(self, timeout_s: float = 10.0) -> str | None:
        """Close the policy; returns a warning when ``close()`` raised or hung."""
        return close_quietly(self.policy, timeout_s)


def close_quietly(policy: Any, timeout_s: float = 10.0) -> str | None:
    """Call ``policy.close()`` on a helper thread; a raise or a hang becomes a warning."""
    import threading

    close = getattr(policy, "close", None)
    if close is None:
        return None
    problem: list[str] = []

    def run() -> None:
        try:
            close()
        except Exception as exc:
            problem.append(f"policy.close() raised {describe_exception(exc, limit=0)}")

    thread = threading.Thread(target=run, name="vla-bench-close", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        return f"policy.close() did not return within {timeout_s:g}s; left behind"
    return problem[0] if problem else None


def _artifacts(env: Any) -> dict[str, bytes]:
    make = getattr(env, "episode_artifacts", None)
    if make is None:
        return {}
    try:
        produced = make()
    except Exception:  # optional extras never cost the episode
        return {}
    if not isinstance(produced, Mapping):
        return {}
    return {str(k): bytes(v) for k, v in produced.items() if isinstance(v, bytes | bytearray)}


def _score_smoothness(
    result: EpisodeResult,
    start_pose: Any,
    poses: list[Any],
    path: list[np.ndarray],
    control_hz: float,
    steps: int,
) -> None:
    """Fill the smoothness fields (:func:`metrics.path_smoothness`): on the physics-rate path
    when the env reports one, else on the poses at the control rate. An episode ends at its
    first success, so a successful path ends at success; any other ends at its last motion."""
    if path and steps:
        fs = control_hz * len(path[0])
        first = (
            np.asarray(start_pose, dtype=np.float64)[None, :3] if start_pose is not None else None
        )
        points = np.concatenate([p for p in ([first] if first is not None else [])] + path)
    else:
        fs = control_hz
        points = np.asarray(
            [np.asarray(p, dtype=np.float64)[:3] for p in [start_pose, *poses] if p is not None]
        )
    if len(points) < 3:
        return
    end = len(points) if result.outcome == "success" else None
    for field_name, value in metrics.path_smoothness(points, fs, end).items():
        setattr(result, field_name, value)


def _peak_rss_bytes() -> int:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(kib if sys.platform == "darwin" else kib * 1024)
