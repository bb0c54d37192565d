"""``bench check``: does a plugin's task or policy obey the contract? (like gymnasium's check_env)

For a task: the spec agrees with its registration, the action space and track are well formed,
the env passes gymnasium's own checker, observations and infos have the documented shapes,
a reset with the same seed gives the same first observation, rendering does not change the
physics, and the registered expert solves the first track episode. For a policy: it builds,
its declared traits agree with its class, and a few calls on each installed task it claims
return checked chunks and a valid ``describe()``.

Each check is a :class:`Finding`: ``ok``, ``warn`` (allowed, but worth knowing) or ``fail``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.contract import PolicyConfig, PolicyConfigError, Task, supports
from harness.plugins import loaded, registry

WEIGHTS_KINDS = ("pretrained", "trained", "finetuned", "api", "none", "random", "scripted")
"""The values ``describe()["weights"]`` may take (see harness.contract)."""


@dataclass(frozen=True)
class Finding:
    """One check's result."""

    subject: str
    check: str
    level: str  # ok | warn | fail
    detail: str = ""


class _Failed(Exception):
    pass


class _Warned(Exception):
    pass


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise _Failed(message)


def check_names(target: str) -> list[tuple[str, str]]:
    """What ``bench check TARGET`` covers: a plugin's tasks and policies, or one name."""
    reg = registry()
    plugin_names = {p.name for p in loaded().plugins}
    if target in plugin_names:
        kinds: tuple[Any, ...] = ("task", "policy")
        return [(e.kind, e.name) for kind in kinds for e in reg.entries(kind) if e.plugin == target]
    if target in reg.names("task"):
        return [("task", target)]
    if target in reg.names("policy"):
        return [("policy", target)]
    if target in reg.names("suite"):
        return [("task", name) for name in reg.resolve_tasks(target)]
    reg.get("task", target)  # raises the "did you mean" error
    return []


def run_checks(target: str, calls: int = 1, tasks: list[str] | None = None) -> list[Finding]:
    """All findings for ``target`` (plugin, task, suite or policy name)."""
    findings: list[Finding] = []
    for kind, name in check_names(target):
        findings += check_task(name) if kind == "task" else check_policy(name, calls, tasks)
    return findings


def _collect(subject: str, checks: list[tuple[str, Callable[[], str | None]]]) -> list[Finding]:
    out = []
    for label, fn in checks:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                note = fn()
            level = "ok"
            relevant = [str(w.message) for w in caught if "pkg_resources" not in str(w.message)]
            if relevant:
                level, note = "warn", "; ".join(dict.fromkeys(relevant))[:300]
            out.append(Finding(subject, label, level, note or ""))
        except _Failed as exc:
            out.append(Finding(subject, label, "fail", str(exc)))
        except _Warned as exc:
            out.append(Finding(subject, label, "warn", str(exc)))
        except Exception as exc:  # a check that raises is a failure of the plugin
            out.append(Finding(subject, label, "fail", f"{type(exc).__name__}: {exc}"))
    return out


def check_task(name: str) -> list[Finding]:
    """The contract checks of one registered task."""
    reg = registry()
    entry = reg.get("task", name)
    state: dict[str, Any] = {}

    def build() -> None:
        task = reg.build_task(name)
        state["task"] = task
        spec = task.spec
        _require(spec.name == name, f"spec.name is {spec.name!r}, registered as {name!r}")
        _require(
            spec.suite == entry.extra["suite"],
            f"spec.suite is {spec.suite!r}, registered in suite {entry.extra['suite']!r}",
        )
        declared = entry.extra.get("action_space")
        _require(
            declared in (None, spec.action_space.name),
            f"registered action_space={declared!r}, spec says {spec.action_space.name!r}",
        )
        _require(bool(spec.version), "spec.version is empty")
        _require(spec.control_hz > 0, f"control_hz must be > 0 (got {spec.control_hz})")
        _require(spec.max_steps >= 1, f"max_steps must be >= 1 (got {spec.max_steps})")
        for camera, size in spec.cameras.items():
            _require(
                len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size),
                f"camera {camera!r} size {size!r} is not (height, width) of positive ints",
            )
        if declared is None:
            raise _Warned(
                "the registration does not name the action space: bench list shows '?' "
                "(add_task(..., action_space=...))"
            )

    def action_space() -> None:
        space = state["task"].spec.action_space
        _require(len(set(space.names)) == len(space.names), "action field names repeat")
        if not space.discrete:
            low, high = np.asarray(space.low), np.asarray(space.high)
            _require(bool(np.all(np.isfinite(low) & np.isfinite(high))), "bounds not finite")
            _require(bool(np.all(low <= high)), "a lower bound exceeds its upper bound")

    def track() -> str:
        task: Task = state["task"]
        first, second = task.track(), task.track()
        _require(first == second, "track() is not the same on every call")
        _require(first.task == name, f"track.task is {first.task!r}, not {name!r}")
        _require(len(first.episodes) > 0, "the track has no episodes")
        indices = [e.index for e in first.episodes]
        _require(indices == list(range(len(indices))), "episode indices are not 0..n-1")
        state["episode"] = first.episodes[0]
        return f"{len(indices)} episodes"

    def gymnasium_checker() -> None:
        from gymnasium.utils.env_checker import check_env

        env = state["task"].make_env(state["episode"], render=True)
        try:
            check_env(env, skip_render_check=True)
        finally:
            env.close()

    def observations() -> None:
        task: Task = state["task"]
        spec = task.spec
        env = task.make_env(state["episode"], render=True)
        try:
            obs, info = env.reset(seed=state["episode"].seed)
            _check_obs(obs, spec, images=True)
            _check_info(info, spec, "reset")
            obs, reward, _, _, info = env.step(_noop(spec.action_space))
            _check_obs(obs, spec, images=True)
            _check_info(info, spec, "step")
            _require(
                isinstance(reward, int | float | np.floating) and math.isfinite(float(reward)),
                f"reward {reward!r} is not a finite number",
            )
        finally:
            env.close()

    def determinism() -> None:
        from harness.fingerprint import observation_digests

        task: Task = state["task"]
        digests = []
        for render in (True, True, False):
            env = task.make_env(state["episode"], render=render)
            try:
                obs, _ = env.reset(seed=state["episode"].seed)
                for _ in range(3):
                    obs, *_ = env.step(_noop(task.spec.action_space))
                digests.append(observation_digests(obs))
            finally:
                env.close()
        _require(digests[0] == digests[1], "the same seed gave a different observation")
        _require(
            digests[0][0] == digests[2][0],
            "render=False changed the state: rendering must not change the physics",
        )

    def expert() -> str | None:
        target = entry.extra.get("expert")
        if target is None:
            raise _Warned(
                "no scripted expert registered (bench run --policy scripted and bench demos "
                "cannot use this task)"
            )
        from harness.episode import run_episode
        from harness.registry import load_target

        task: Task = state["task"]
        policy = load_target(target)(PolicyConfig("scripted"))
        episode = state["episode"]
        env = task.make_env(episode, render=False)
        try:
            queue: list[Any] = []

            def decide(obs: Any) -> Any:
                if not queue:
                    queue.extend(policy.act(obs).actions)
                row = queue.pop(0)
                return int(row[0]) if task.spec.action_space.discrete else row

            end = run_episode(
                env,
                episode,
                decide,
                max_steps=task.spec.max_steps,
                on_reset=lambda obs, info: policy.reset(task.spec, episode, env),
            )
        finally:
            env.close()
        problem = f"the expert did not solve episode 0: {end.outcome} after {end.steps} steps"
        _require(end.outcome == "success", f"{problem} {end.error or ''}".strip())
        return f"solved episode 0 in {end.steps} steps"

    checks: list[tuple[str, Callable[[], Any]]] = [("spec", build)]
    findings = _collect(f"task {name}", checks)
    if findings[-1].level == "fail":
        return findings
    return findings + _collect(
        f"task {name}",
        [
            ("action space", action_space),
            ("track", track),
            ("gymnasium check_env", gymnasium_checker),
            ("observation and info", observations),
            ("same seed, same start; render-free physics", determinism),
            ("scripted expert", expert),
        ],
    )


def _noop(space: Any) -> Any:
    """The do-nothing action as an env takes it (an int index for a discrete space)."""
    action = space.noop()
    return int(action[0]) if space.discrete else action


def _check_obs(obs: Any, spec: Any, images: bool) -> None:
    _require(isinstance(obs, dict), f"observation is a {type(obs).__name__}, not a dict")
    state = np.asarray(obs.get("state"))
    _require(state.dtype == np.float32, f"state dtype is {state.dtype}, not float32")
    _require(
        state.shape == (len(spec.state_fields),),
        f"state shape {state.shape} != ({len(spec.state_fields)},) from state_fields",
    )
    _require(isinstance(obs.get("instruction"), str), "instruction is not a str")
    frames = obs.get("images") or {}
    if images:
        names = sorted(frames)
        _require(set(names) == set(spec.cameras), f"cameras {names} != {sorted(spec.cameras)}")
        for camera, (height, width) in spec.cameras.items():
            image = np.asarray(frames[camera])
            _require(
                image.shape == (height, width, 3) and image.dtype == np.uint8,
                f"camera {camera!r}: {image.shape} {image.dtype}, spec says "
                f"({height}, {width}, 3) uint8",
            )


def _check_info(info: Any, spec: Any, where: str) -> None:
    _require(isinstance(info, dict), f"{where} info is a {type(info).__name__}, not a dict")
    if where == "step":
        _require(isinstance(info.get("success"), bool | np.bool_), "info['success'] not a bool")
    if spec.has_ee_pose:
        pose = np.asarray(info.get("ee_pose", ()), dtype=np.float64)
        ok = pose.shape == (7,) and bool(np.isfinite(pose).all())
        _require(ok, f"{where} info['ee_pose'] is not 7 finite numbers")


def check_policy(name: str, calls: int = 1, tasks: list[str] | None = None) -> list[Finding]:
    """The contract checks of one registered policy on the installed tasks it claims."""
    from harness.chunking import ChunkExecutor
    from harness.policies import PolicyTraits, build_policy

    reg = registry()
    traits = PolicyTraits.of(reg.get("policy", name))
    state: dict[str, Any] = {}

    def build() -> str:
        policy, _ = build_policy(PolicyConfig(name))
        state["policy"] = policy
        described = policy.describe() if hasattr(policy, "describe") else {}
        _require(isinstance(described, dict), "describe() must return a dict")
        weights = described.get("weights")
        _require(weights in WEIGHTS_KINDS, f"describe()['weights'] is {weights!r}: {WEIGHTS_KINDS}")
        return f"weights: {weights}"

    findings = _collect(f"policy {name}", [("build and describe", build)])
    if findings[-1].level == "fail":
        return findings
    policy = state["policy"]

    def on(task_name: str) -> Callable[[], str]:
        def check() -> str:
            task = reg.build_task(task_name)
            episode = task.track().episodes[0]
            env = task.make_env(episode, render=bool(getattr(policy, "uses_images", True)))
            try:
                obs, _ = env.reset(seed=episode.seed)
                try:
                    policy.reset(task.spec, episode, env if traits.privileged else None)
                except PolicyConfigError as exc:  # the documented way to refuse a task
                    raise _Warned(f"refuses this task: {exc}") from None
                executor = ChunkExecutor(policy, task.spec.action_space, None)
                shapes = []
                for _ in range(calls):
                    chunk = executor.call_policy(obs)
                    shapes.append(chunk.actions.shape)
            finally:
                env.close()
            return f"{calls} call(s): chunks {sorted(set(shapes))}"

        return check

    return findings + _collect(
        f"policy {name}",
        [(f"on {t}", on(t)) for t in claimed_tasks(name, traits.action_spaces, tasks)],
    )


def claimed_tasks(name: str, spaces: tuple[str, ...], only: list[str] | None) -> list[str]:
    """The tasks to try a policy on: ``only``, or the first task of each installed suite whose
    action space the policy drives (declared at registration, else read from the task)."""
    reg = registry()
    if only:
        return only
    picked = []
    for suite in reg.entries("suite"):
        for task in suite.extra["tasks"]:
            declared = reg.get("task", task).extra.get("action_space")
            try:
                space = reg.build_task(task).spec.action_space
            except Exception:  # a task that cannot be built is the task check's business
                continue
            if declared in (None, space.name) and supports(spaces, space):
                picked.append(task)
                break
    return picked


def summarize(findings: list[Finding]) -> Iterator[str]:
    """Plain lines for a report."""
    for f in findings:
        yield f"{f.level:4}  {f.subject}: {f.check}" + (f" — {f.detail}" if f.detail else "")
