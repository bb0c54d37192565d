"""The ``bench`` command: list, plugins, run, compare, report."""

from __future__ import annotations

import errno
import json
import math
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from harness.contract import PolicyConfig, PolicyConfigError, parse_key_values
from harness.plugins import loaded, registry
from harness.registry import RegistrationError, TaskOptionError, UnknownNameError

# Piped output (scripts, CI logs) is not wrapped at 80 columns: tables stay one row per line.
console = Console(width=None if sys.stdout.isatty() else 200)
# Errors and warnings are one line each, however long: a wrapped line reads as two messages.
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200, soft_wrap=True)

KINDS = {
    "policies": "policy",
    "tasks": "task",
    "suites": "suite",
    "reporters": "reporter",
    "judges": "judge",
}


def debug_enabled() -> bool:
    """``--debug`` or ``VLA_BENCH_DEBUG=1``: show tracebacks behind one-line errors."""
    return os.environ.get("VLA_BENCH_DEBUG", "").strip() not in ("", "0")


class UserError(click.ClickException):
    """An error the user can fix; printed as one line (the traceback with ``--debug``)."""

    def show(self, file: Any = None) -> None:
        """Print ``error: message`` in red on stderr, secrets scrubbed."""
        from harness.secrets import scrub_text

        if debug_enabled() and self.__cause__ is not None:
            import traceback

            cause = self.__cause__
            text = getattr(cause, "remote_traceback", "") + "".join(
                traceback.format_exception(cause)
            )
            err_console.print(escape(scrub_text(text)), highlight=False)
        err_console.print(
            f"[bold red]error:[/] {escape(scrub_text(self.message))}", highlight=False
        )


def _user_error_types() -> tuple[type[BaseException], ...]:
    from harness.errors import RunConfigError, RunFormatError
    from harness.policies import PolicyBuildError

    return (
        UnknownNameError,
        RegistrationError,
        RunConfigError,
        RunFormatError,
        PolicyConfigError,
        PolicyBuildError,
        TaskOptionError,
    )


_DISK_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS, errno.EPERM})
"""Filesystem errors a user fixes (space, quota, permissions): one line, not a traceback."""


def _fail_on_user_errors(fn: Any) -> Any:
    """Turn the project's user-error types into clean one-line errors; bugs stay tracebacks."""
    from functools import wraps

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except _user_error_types() as exc:
            raise UserError(str(exc).strip("'\"")) from exc
        except OSError as exc:
            if exc.errno not in _DISK_ERRORS:
                raise
            where = f" ({exc.filename})" if exc.filename else ""
            raise UserError(f"{exc.strerror or exc}{where}") from exc

    return wrapper


class PluginCommands(click.Group):
    """The built-in commands plus those plugins register; a plugin's is imported when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Built-ins, then plugin commands."""
        return [*super().list_commands(ctx), *registry().names("command")]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """A built-in, or the plugin command of that name (imported now)."""
        builtin = super().get_command(ctx, cmd_name)
        if builtin is not None or cmd_name not in registry().names("command"):
            return builtin
        entry = registry().get("command", cmd_name)
        try:
            command = entry.load()
        except RegistrationError as exc:
            return _broken_command(cmd_name, str(exc))
        if not isinstance(command, click.Command):
            return _broken_command(
                cmd_name,
                f"command {cmd_name!r} (plugin {entry.plugin!r}) is not a click command",
            )
        return command


def _broken_command(name: str, message: str) -> click.Command:
    def fail() -> None:
        raise UserError(message)

    return click.Command(
        name,
        callback=fail,
        help=f"(unavailable: {message})",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


@click.group(cls=PluginCommands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vla-bench", prog_name="bench")
@click.option(
    "--debug", is_flag=True, help="Show tracebacks behind errors (or set VLA_BENCH_DEBUG=1)."
)
def main(debug: bool) -> None:
    """vla-bench: score robot VLA policies on simulated tasks (success, smoothness, latency)."""
    if debug:
        os.environ["VLA_BENCH_DEBUG"] = "1"


_fresh = False
"""True in a process started as the ``bench`` command (see :func:`entry`)."""


def entry() -> None:
    """The ``bench`` console command: :func:`main`, knowing that this process is new (it has
    rendered nothing and started no threads), so run workers may be forked from it directly.
    Called any other way (a test's CliRunner, a notebook), ``main`` starts workers from the
    fork server instead: a child forked from a process holding a GL context hangs."""
    global _fresh
    _fresh = True
    main()


# -- list / plugins ---------------------------------------------------------------------------


@main.command("list")
@click.argument("kind", required=False, type=click.Choice(sorted(KINDS)))
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def list_cmd(kind: str | None, as_json: bool) -> None:
    """List registered policies, tasks, suites and reporters."""
    reg = registry()
    kinds = [kind] if kind else sorted(KINDS)
    data: dict[str, list[dict[str, Any]]] = {}
    for k in kinds:
        rows = []
        for entry in reg.entries(KINDS[k]):  # type: ignore[arg-type]
            row: dict[str, Any] = {
                "name": entry.name,
                "plugin": entry.plugin,
                "description": entry.description,
            }
            if entry.kind == "task":
                row["suite"] = entry.extra["suite"]
                row["expert"] = entry.extra.get("expert") is not None
                row["action_space"] = entry.extra.get("action_space") or "?"
            if entry.kind == "suite":
                row["tasks"] = list(entry.extra["tasks"])
            if entry.kind == "policy":
                row["action_spaces"] = list(entry.extra.get("action_spaces", ()))
                row["privileged"] = bool(entry.extra.get("privileged", False))
            rows.append(row)
        data[k] = rows
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for k, rows in data.items():
        table = Table(title=k, title_justify="left", show_edge=False)
        table.add_column("name", style="bold")
        table.add_column("plugin")
        table.add_column("details")
        for row in rows:
            details = row["description"]
            if k == "tasks":
                details = f"{row['suite']}: {row['description']}".strip()
                details += f" [{row['action_space']}]"
                details += "" if row["expert"] else " (no scripted expert)"
            elif k == "policies":
                details = f"{row['description']} [{', '.join(row['action_spaces'])}]"
            elif k == "suites":
                details = ", ".join(row["tasks"])
            # Plugin-provided text is shown as text, never as Rich markup.
            table.add_row(escape(row["name"]), escape(row["plugin"]), escape(details))
        if not rows:
            table.add_row("[dim](none)[/]", "", "")
        console.print(table)
        console.print()
    _warn_broken()


def _warn_broken() -> None:
    for info in loaded().broken:
        err_console.print(
            f"[yellow]warning:[/] plugin {info.name!r} ({info.distribution or info.module}) "
            f"failed to load: {info.error} (bench plugins)",
            highlight=False,
        )


@main.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def plugins_cmd(as_json: bool) -> None:
    """Every plugin: its distribution, version, what it registered, or why it failed."""
    infos = loaded().plugins
    if as_json:
        click.echo(json.dumps([vars(i) for i in infos], indent=2))
        return
    table = Table(show_edge=False)
    for column in ("plugin", "distribution", "version", "registered"):
        table.add_column(column)
    for info in infos:
        what = (
            f"[red]{escape(info.error)}[/]"
            if info.error
            else escape("; ".join(f"{k}: {', '.join(v)}" for k, v in info.registered.items()))
            or "-"
        )
        where = escape(info.distribution or f"({info.module})")
        table.add_row(escape(info.name), where, escape(info.version or "-"), what)
    console.print(table)
    if os.environ.get("VLA_BENCH_DISABLE_PLUGIN_AUTOLOAD", "").strip() not in ("", "0"):
        console.print(
            "[dim]VLA_BENCH_DISABLE_PLUGIN_AUTOLOAD is set: third-party plugins skipped[/]"
        )


# -- run --------------------------------------------------------------------------------------


def _check_ray(settings: Any) -> None:
    """Refuse ``--executor ray`` with what cannot work there, and without Ray installed."""
    import importlib.util

    if settings.isolate == "none":
        raise UserError("--executor ray runs episodes in Ray actors; drop --isolate none")
    try:
        installed = importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # a broken or blocked installation
        installed = False
    if not installed:
        raise UserError(
            "--executor ray needs Ray, which is not installed: pip install 'vla-bench[ray]' "
            "(or drop --executor ray)"
        )


@main.command("run")
@click.option("--policy", "policy_name", required=True, help="Policy name (bench list policies).")
@click.option("--task", "task_name", required=True, help="Task or suite name (bench list tasks).")
@click.option("--episodes", type=click.IntRange(min=1), help="Run the track's first N episodes.")
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the policy's own randomness; the track fixes the episodes.",
)
@click.option(
    "--workers",
    "--env-workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Env workers running episodes in parallel (processes, or Ray actors).",
)
@click.option("--policy-args", help="Backend options: k=v,k=v (checkpoint=, device=, dtype=, ...).")
@click.option("--task-args", help="Task options: k=v,k=v (e.g. render=fast); part of the track.")
@click.option(
    "--n-action-steps",
    type=click.IntRange(min=1),
    help="Actions of each chunk executed before asking again (default: the backend's).",
)
@click.option(
    "--warmup",
    type=click.IntRange(min=0),
    help="Untimed act() calls before the first episode (default: the backend's).",
)
@click.option(
    "--step-timeout",
    type=click.FloatRange(min=0),
    default=300.0,
    show_default=True,
    help="Seconds one act() call may take before the episode ends as policy_timeout.",
)
@click.option(
    "--sim-timeout",
    type=click.FloatRange(min=0),
    default=120.0,
    show_default=True,
    help="Seconds one env.reset/env.step may take before the episode ends as sim_error.",
)
@click.option(
    "--video",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Record an MP4 (and a GIF thumbnail) of the first N episodes of each task.",
)
@click.option(
    "--isolate",
    type=click.Choice(["auto", "process", "none"]),
    default="auto",
    show_default=True,
    help="Run the policy in child processes so a crash or hang ends one episode, not the run "
    "(auto: all but the built-in pure-Python baselines with one worker; none: in this process).",
)
@click.option(
    "--placement",
    type=click.Choice(["auto", "host", "worker"]),
    default="auto",
    show_default=True,
    help="host: one policy process (one model, batched) serves all workers; worker: a copy per "
    "worker (auto: host, except privileged experts).",
)
@click.option(
    "--max-batch",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Most observations the policy host answers in one batch.",
)
@click.option(
    "--max-wait-ms",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="How long the policy host waits to fill a batch.",
)
@click.option(
    "--max-errors",
    type=click.IntRange(min=1),
    help="Stop the run after N episodes ended in errors (a misconfigured run stops early).",
)
@click.option("--fail-fast", is_flag=True, help="Stop at the first error (--max-errors 1).")
@click.option(
    "--keyframes",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Store K evenly spaced frames of every episode, with the true state (for bench judge).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Run directory (default runs/<time>-<policy>-<task>). An existing one resumes.",
)
@click.option(
    "--record",
    type=click.Path(path_type=Path),
    help="Also write the rollouts as a LeRobot dataset at DIR (DIR/<task> for a suite): every "
    "camera frame, state, executed action and the instruction per step, success per episode; "
    "appends only episodes DIR lacks, never those that ended in errors (needs vla-bench-training).",
)
@click.option(
    "--timing",
    default="sync",
    show_default=True,
    help="sync: the world waits for the policy; measured or profile:FILE (bench latency-profile): "
    "the env holds while each chunk is in flight on a simulated clock (,align=start: chunks "
    "start at their first action).",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="local: processes on this machine; ray: env workers and policy hosts as Ray actors "
    "across a cluster (needs the ray extra: pip install 'vla-bench[ray]').",
)
@click.option(
    "--ray-address",
    help="The Ray cluster to use (e.g. auto, 10.0.0.5:6379, ray://head:10001; default: "
    "RAY_ADDRESS, else a cluster of this machine for this run).",
)
@click.option(
    "--hosts",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="With --executor ray: policy host actors, each holding one model; env worker i uses "
    "host i mod N.",
)
@click.option(
    "--host-gpus",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="With --executor ray: GPUs each policy host actor reserves (fractions share a GPU).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@_fail_on_user_errors
def run_cmd(
    policy_name: str,
    task_name: str,
    episodes: int | None,
    seed: int,
    workers: int,
    policy_args: str | None,
    task_args: str | None,
    n_action_steps: int | None,
    warmup: int | None,
    step_timeout: float,
    sim_timeout: float,
    video: int,
    isolate: str,
    placement: str,
    max_batch: int,
    max_wait_ms: float,
    max_errors: int | None,
    fail_fast: bool,
    keyframes: int,
    out: Path | None,
    record: Path | None,
    timing: str,
    executor: str,
    ray_address: str | None,
    hosts: int,
    host_gpus: float,
    as_json: bool,
) -> None:
    """Roll a policy out on a task's track and score it."""
    from harness.latency import Timing
    from harness.record import RunSettings
    from harness.results import load_run
    from harness.run import execute, plan_run

    try:
        config = PolicyConfig.parse_args(policy_name, policy_args, seed=seed)
        task_options = parse_key_values(task_args, "--task-args")
        timing = Timing.parse(timing).text()
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    settings = RunSettings(
        episodes=episodes,
        workers=workers,
        seed=seed,
        n_action_steps=n_action_steps,
        warmup=warmup,
        step_timeout_s=step_timeout,
        sim_timeout_s=sim_timeout,
        video=video,
        keyframes=keyframes,
        task_options=task_options,
        isolate=isolate,
        placement=placement,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        max_errors=1 if fail_fast else max_errors,
        timing=timing,
        record=str(record.absolute()) if record is not None else None,
        executor=executor,
        ray_address=ray_address,
        hosts=hosts,
        host_gpus=host_gpus,
    )
    if executor == "ray":
        _check_ray(settings)
    registry().get("policy", policy_name)  # fail fast, with a suggestion, before any work
    total = sum(len(p.track.episodes) for p in plan_run(config, task_name, settings))
    if out is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"{stamp}-{policy_name}-{task_name}"
    command = ["bench", *sys.argv[1:]]  # the same whether started as `bench` or `python -m harness`
    _warn_broken()
    show = _RunProgress(f"{policy_name} on {task_name}", total, live=not as_json)
    with show:
        report = execute(config, task_name, settings, out, command, show, fresh_process=_fresh)
    run = load_run(out)
    from harness.summary import all_tasks_summary, run_summary

    summary = run_summary(run)
    all_tasks = all_tasks_summary(summary)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "out": str(out),
                    "status": report.status,
                    "detail": report.detail,
                    "ran": report.ran,
                    "skipped": report.skipped,
                    "errors": dict(report.errors),
                    "first_errors": report.first_errors,
                    "recorded": report.recorded,
                    "tasks": summary,
                    "all_tasks": all_tasks,
                },
                indent=2,
                default=_json_default,
            )
        )
    else:
        _print_summary(policy_name, summary, all_tasks)
        for r in summary if timing != "sync" else ():
            console.print(
                f"{escape(r['task'])} at --timing {escape(timing)}: stale-action ratio "
                f"{_pct(r['stale_ratio'])}, effective control rate "
                f"{_num(r['effective_hz'], '{:.1f}')} Hz"
            )
        console.print(
            f"run directory: [bold]{escape(str(out))}[/] ({report.ran} ran, "
            f"{report.skipped} resumed)"
        )
        _print_errors(report.first_errors, report.errors)
        if report.recorded:
            console.print(escape(report.recorded))
        for warning in report.warnings:
            err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
        if report.status != "complete":
            console.print(f"[yellow]{report.status}:[/] {escape(report.detail or '')}")
    if report.status == "interrupted":
        sys.exit(143 if "SIGTERM" in (report.detail or "") else 130)
    if report.status == "stopped":
        sys.exit(1)
    if report.ran and not report.successes and report.errors:
        err_console.print(
            f"[bold red]error:[/] no episode succeeded and {sum(report.errors.values())} ended "
            "in errors (first error of each kind above); fix the cause and re-run the same "
            "command to resume",
            highlight=False,
        )
        sys.exit(1)


def _print_errors(first: dict[str, str], counts: Any) -> None:
    """The first error of each kind this invocation met, one line each."""
    from harness.secrets import scrub_text

    for kind, message in first.items():
        err_console.print(
            f"[red]{kind}[/] ({counts[kind]} episode(s)), first: {escape(scrub_text(message))}",
            highlight=False,
        )


class _RunProgress:
    """``bench run``'s display: a bar with the current phase on a terminal (refreshed by the
    main thread alone, so worker processes can be forked safely), plain lines when piped."""

    def __init__(self, title: str, total: int, live: bool) -> None:
        self.title, self.total = title, total
        self.live = live and err_console.is_terminal
        self.plain = live and not self.live
        self.wins = self.n = 0
        self.started = time.monotonic()
        self._last_phase = 0.0
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("success {task.fields[rate]}"),
            TimeRemainingColumn(),
            TextColumn("[dim]{task.fields[phase]}"),
        )
        self.bar = Progress(
            *columns, console=err_console, disable=not self.live, auto_refresh=False
        )
        self.bar_id = self.bar.add_task(title, total=total, rate="-", phase="starting")

    def __enter__(self) -> _RunProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(None, None, None)

    def phase(self, text: str) -> None:
        """Show the current phase (throttled on plain output)."""
        if self.live:
            self.bar.update(self.bar_id, phase=escape(text), refresh=True)
        elif self.plain and time.monotonic() - self._last_phase > 5:
            self._last_phase = time.monotonic()
            err_console.print(f"[dim]{escape(text)}[/]", highlight=False)

    def episode(self, result: Any, done: int, total: int) -> None:
        """An episode was committed."""
        self.n += 1
        self.wins += bool(result.success)
        rate = f"{self.wins / self.n:.0%}"
        if self.live:
            self.bar.update(self.bar_id, completed=done, rate=rate, refresh=True)
        elif self.plain:
            err_console.print(
                f"[dim]{done}/{total} {escape(result.task)} ep {result.episode}: "
                f"{result.outcome} ({result.steps} steps, "
                f"{time.monotonic() - self.started:.0f}s)[/]",
                highlight=False,
            )


def _json_default(obj: Any) -> Any:
    """JSON for what ``json`` cannot encode: NumPy scalars by value, NaN as null, else text."""
    from harness.summary import json_ready

    if hasattr(obj, "item"):
        return json_ready(obj.item())
    return str(obj)


def _pct(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.0%}"


def _num(x: float, fmt: str = "{:.2f}", scale: float = 1.0) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x * scale)


def _print_summary(
    policy: str, rows: list[dict[str, Any]], all_tasks: dict[str, Any] | None = None
) -> None:
    from harness.summary import printable

    def text(value: Any) -> str:  # run-derived text is shown, never interpreted
        return escape(printable(value))

    def mean(value: Any) -> str:
        if not isinstance(value, dict) or value.get("value") is None:
            return "-"
        return f"{value['value']:.2f} (n={value['n']})"

    def outcome(r: dict[str, Any], errors: str) -> list[str]:  # task, success ... errors
        return [
            text(r["task"]),
            _pct(r["success_rate"]),
            f"{_pct(r['ci_low'])}–{_pct(r['ci_high'])}",
            f"{r['successes']}/{r['episodes']}",
            str(r["failures"]),
            text(errors),
        ]

    columns = ["task", "success", "95% CI", "succ/n", "fail", "errors", "steps→ok",
               "act p50 ms", "act p95 ms", "sync Hz", "LDLJ", "SPARC", "clipped"]  # fmt: skip
    # Columns that only some backends fill (API agents, token decoders) appear when used.
    optional: list[tuple[str, str, Callable[[Any], str]]] = [
        ("decode fail", "decode_failures", str),
        ("tokens in/out", "tokens", str),
        ("$/episode", "cost_usd_per_episode", lambda x: f"{x:.4f}"),
    ]
    shown = [(name, key, fmt) for name, key, fmt in optional if any(r.get(key) for r in rows)]
    table = Table(title=f"policy {text(policy)}", title_justify="left", show_edge=False)
    for column in columns + [name for name, _, _ in shown]:
        table.add_column(column, justify="left" if column == "task" else "right")
    for r in rows:
        errors = str(r["errors"])
        if r["errors"]:
            errors += " " + ", ".join(f"{k} {v}" for k, v in sorted(r["error_kinds"].items()))
        table.add_row(
            *outcome(r, errors),
            _num(r["mean_steps_to_success"], "{:.1f}"),
            _num(r["act_p50_s"], "{:.2f}", 1e3),
            _num(r["act_p95_s"], "{:.2f}", 1e3),
            _num(r["sync_hz"], "{:.1f}"),
            mean(r["ldlj"]),
            mean(r["sparc"]),
            str(r["clipped_actions"]),
            *(text(fmt(r[key])) for _, key, fmt in shown),
        )
    if all_tasks is not None:
        table.add_section()
        first = outcome(all_tasks, str(all_tasks["errors"]))
        rest = ["-"] * (len(columns) + len(shown) - len(first))  # per-task figures only
        table.add_row(*first, *rest, style="bold")
    console.print(table)
    console.print(
        "[dim]success = successes / all episodes (errors included, counted apart from "
        "failures), 95% CI by Wilson's score interval; LDLJ, SPARC: means over successful "
        "episodes (n); sync Hz = "
        "n_action_steps / (mean act + n_action_steps / task rate)"
        + (
            f"; {all_tasks['task']}: success = the mean of the task rates, each task weighted "
            "equally, 95% CI by MOVER from the task intervals"
            if all_tasks
            else ""
        )
        + "[/]",
        soft_wrap=True,
    )


# -- check ------------------------------------------------------------------------------------


@main.command("check")
@click.argument("target")
@click.option("--calls", type=click.IntRange(min=1), default=2, show_default=True,
              help="act() calls per task when checking a policy.")  # fmt: skip
@click.option("--task", "tasks", multiple=True, help="Check a policy on these tasks only.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@_fail_on_user_errors
def check_cmd(target: str, calls: int, tasks: tuple[str, ...], as_json: bool) -> None:
    """Check that a plugin's tasks and policies (or one task, suite or policy) obey the
    contract: spec, track, gymnasium's env checker, observation shapes, determinism, expert;
    a policy's build, traits, describe() and a few calls on the tasks it claims."""
    from dataclasses import asdict

    from harness.check import run_checks

    findings = run_checks(target, calls, list(tasks) or None)
    if as_json:
        click.echo(json.dumps([asdict(f) for f in findings], indent=2))
    else:
        table = Table(show_edge=False)
        for column in ("", "subject", "check", "detail"):
            table.add_column(column)
        style = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]FAIL[/]"}
        for f in findings:
            table.add_row(style[f.level], escape(f.subject), escape(f.check), escape(f.detail))
        console.print(table)
    failed = [f for f in findings if f.level == "fail"]
    if not findings:
        raise UserError(f"{target!r} registers no task or policy to check")
    if failed:
        raise UserError(f"{len(failed)} of {len(findings)} checks failed")


# -- compare ----------------------------------------------------------------------------------


@main.command("compare")
@click.argument("run_a", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.argument("run_b", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@_fail_on_user_errors
def compare_cmd(run_a: Path, run_b: Path, as_json: bool) -> None:
    """Paired comparison of two runs: success with intervals, McNemar p, deltas (B - A)."""
    from vla_bench_leaderboard.loading import load_one

    from harness.summary import compare_overall, compare_runs, printable

    a, b = load_one(run_a), load_one(run_b)
    rows = compare_runs(a, b)
    overall = compare_overall(rows)
    if as_json:
        listed = [{**r, "scope": "task"} for r in rows] + ([overall] if overall else [])
        click.echo(json.dumps(listed, indent=2, allow_nan=False, default=_json_default))
        return
    if not rows:
        raise UserError(f"{run_a} and {run_b} share no task; nothing to compare")

    def text(value: Any) -> str:  # run-derived text is shown, never interpreted
        return escape(printable(value))

    table = Table(
        title=f"A = {text(a.policy)} ({text(run_a)})   B = {text(b.policy)} ({text(run_b)})",
        title_justify="left",
        show_edge=False,
    )
    holm = len(rows) > 1
    for column in (
        "task",
        "A success",
        "B success",
        "paired",
        "A only",
        "B only",
        "McNemar p",
        *(["Holm p"] if holm else []),
        "Δ LDLJ",
        "Δ SPARC",
        "Δ p50 ms",
    ):
        table.add_column(column, justify="left" if column == "task" else "right")
    for r in rows + ([overall] if overall else []):
        sa, sb = r["a"], r["b"]
        if r is overall:
            table.add_section()
        table.add_row(
            text(r["task"]),
            _rate_with_ci(sa),
            _rate_with_ci(sb),
            str(r["paired"]),
            str(r["b_only_a"]),
            str(r["c_only_b"]),
            _num(r["p_value"], "{:.3g}"),
            *([_num(r["p_holm"], "{:.3g}")] if holm else []),
            _num(r["delta_ldlj"]),
            _num(r["delta_sparc"]),
            _num(r["delta_act_p50_s"], "{:+.2f}", 1e3),
            style="bold" if r is overall else None,
        )
    console.print(table)
    console.print(
        "[dim]success [95% Wilson score interval] n = episodes; paired = episodes both runs ran "
        "(same seed, same task fingerprint); A only / B only = paired episodes only A / only B "
        "solved; McNemar p = exact two-sided test on those two counts; Δ = B − A: LDLJ and "
        "SPARC over each run's successful episodes (higher is smoother), act() p50 in ms"
        + (
            "; Holm p = the task p-values adjusted for testing every task (Holm 1979); "
            f"{overall['task']}: success = the mean of the task rates [95% MOVER interval], "
            "McNemar over every paired episode of every task"
            if overall
            else ""
        )
        + "[/]",
        soft_wrap=True,  # one line when piped, for whoever reads it with a script
    )
    for r in rows:
        if r["note"]:
            console.print(f"[yellow]{text(r['task'])}:[/] {text(r['note'])}")


def _rate_with_ci(summary: dict[str, Any]) -> str:
    low, high = _pct(summary["ci_low"]), _pct(summary["ci_high"])
    return f"{_pct(summary['success_rate'])} [{low}–{high}] n={summary['episodes']}"


@main.command("latency-profile")
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), required=True, help="Profile file (JSON)."
)
@_fail_on_user_errors
def latency_profile_cmd(run_dir: Path, output: Path) -> None:
    """Store a run's act() latencies as a profile for bench run --timing profile:FILE."""
    from harness.latency import extract_profile
    from harness.results import load_run

    profile = extract_profile(load_run(run_dir))
    profile.save(output)
    q = profile.to_json()["quantiles_s"]
    console.print(
        f"wrote {escape(str(output))}: {len(profile.samples_s)} act() calls of "
        f"{escape(str(profile.policy['name']))}, p50 {q['p50'] * 1e3:.1f} ms, "
        f"p95 {q['p95'] * 1e3:.1f} ms"
    )


def _print_degradation(runs: list[Any], as_json: bool) -> None:
    """Each --timing run against the synchronous run of its policy configuration."""
    from harness.latency import degradation, pair_for_degradation
    from harness.summary import printable

    pairs = pair_for_degradation(runs)
    if not pairs:
        raise UserError(
            "no --timing run with a synchronous run of the same policy configuration among "
            "these runs: pass both run directories"
        )
    rows = [
        {"sync_run": str(a.root), "timed_run": str(b.root), **row}
        for a, b in pairs
        for row in degradation(a, b)
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2, allow_nan=False, default=_json_default))
        return
    table = Table(title="success degradation under latency", title_justify="left", show_edge=False)
    columns = ("task", "timed run", "timing", "paired", "sync", "timed", "Δ success",
               "sync only", "timed only", "McNemar p", "stale", "effective Hz")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column in columns[:3] else "right")
    for r in rows:
        table.add_row(
            escape(printable(r["task"])),
            escape(printable(r["timed_run"])),
            escape(printable(r["timing"])),
            str(r["paired"]),
            _pct(r["sync_success"]),
            _pct(r["timed_success"]),
            _num(r["success_delta"], "{:+.0%}"),
            str(r["sync_only"]),
            str(r["timed_only"]),
            _num(r["p_value"], "{:.3g}"),
            _pct(r["stale_ratio"]),
            _num(r["effective_hz"], "{:.1f}"),
        )
    console.print(table)
    for r in rows:
        if r["note"]:
            console.print(f"[yellow]{escape(printable(r['task']))}:[/] {escape(r['note'])}")


# -- report -----------------------------------------------------------------------------------


@main.command("report")
@click.argument("run_dirs", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    default="html",
    show_default=True,
    help="Reporter name (bench list reporters): term, md, html, csv, json, ...",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Output file (default <runs root>/leaderboard.<ext>; term prints). Never inside a run.",
)
@click.option("--allow-empty", is_flag=True, help="Write a report even when no run was found.")
@click.option(
    "--skip-bad", is_flag=True, help="Exit 0 even when malformed runs were skipped (listed)."
)
@click.option(
    "--degradation",
    is_flag=True,
    help="Instead of the leaderboard, print each --timing run's success against the "
    "synchronous run of the same policy (paired exact McNemar); --format json for JSON.",
)
@_fail_on_user_errors
def report_cmd(
    run_dirs: tuple[Path, ...],
    fmt: str,
    output: Path | None,
    allow_empty: bool,
    skip_bad: bool,
    degradation: bool,
) -> None:
    """Build the leaderboard from run directories (default: everything under runs/)."""
    from vla_bench_leaderboard.loading import load_runs

    from harness.results import RUN_FILE, atomic_write_bytes

    render = registry().get("reporter", fmt).load()
    roots = list(run_dirs) or [Path("runs")]
    missing = [str(p) for p in roots if not p.exists()]
    if missing:
        raise UserError(
            f"no such directory: {', '.join(missing)} (bench run ... --out DIR writes runs)"
        )

    def run_dir_holding(path: Path) -> Path | None:  # the run directory at or above path
        return next((p for p in (path, *path.parents) if (p / RUN_FILE).is_file()), None)

    ext = {"md": "md", "html": "html", "term": "txt"}.get(fmt, fmt)
    if output is None:
        base = Path(os.path.commonpath([p.resolve() for p in roots]))
        while (inside := run_dir_holding(base)) is not None:
            base = inside.parent
        target: Path | None = None if fmt == "term" else base / f"leaderboard.{ext}"
    else:
        target = output
    if target is not None:
        holder = run_dir_holding(target.resolve().parent)
        if holder is not None or (target / RUN_FILE).exists():
            raise UserError(
                f"refusing to write {target}: it is inside run directory {holder or target}, "
                "whose files stay as the runner wrote them; pass -o outside it"
            )
    runs, problems = load_runs(roots)
    if degradation:
        _print_degradation(runs, as_json=fmt == "json")
        return
    if not runs and not allow_empty:
        detail = f" ({'; '.join(problems)})" if problems else ""
        raise UserError(
            f"no runs found under {', '.join(map(str, roots))}{detail}: bench run ... first, "
            "or pass --allow-empty to write an empty report"
        )
    text = render(runs, problems)
    if target is None:
        click.echo(text)
    else:
        atomic_write_bytes(target, text.encode())
        notes = f", {len(problems)} problem(s)" if problems else ""
        console.print(f"wrote {escape(str(target))} ({len(runs)} run(s){notes})")
    if problems:
        err_console.print(
            f"[bold red]{len(problems)} run(s) or path(s) could not be read and are left out "
            "of the report:[/]",
            highlight=False,
        )
        for line in problems:
            err_console.print(f"[red]- {escape(line)}[/]", highlight=False)
        if not skip_bad:
            err_console.print("(--skip-bad exits 0 all the same)", highlight=False)
            sys.exit(1)
