"""The ``bench`` command: list, plugins, run, compare, report."""

from __future__ import annotations

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
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from harness.contract import PolicyConfig, PolicyConfigError, parse_key_values
from harness.plugins import loaded, registry
from harness.registry import RegistrationError, TaskOptionError, UnknownNameError

# Piped output (scripts, CI logs) is not wrapped at 80 columns: tables stay one row per line.
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

KINDS = {
    "policies": "policy",
    "tasks": "task",
    "suites": "suite",
    "reporters": "reporter",
    "judges": "judge",
}


class UserError(click.ClickException):
    """An error the user can fix; printed without a traceback."""

    def show(self, file: Any = None) -> None:
        """Print ``error: message`` in red on stderr."""
        err_console.print(f"[bold red]error:[/] {self.message}", highlight=False)


def _fail_on_user_errors(fn: Any) -> Any:
    """Turn known, user-fixable exceptions into clean one-line errors."""
    from functools import wraps

    from harness.errors import RunConfigError, RunFormatError

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (
            UnknownNameError,
            RegistrationError,
            RunConfigError,
            RunFormatError,
            PolicyConfigError,
            TaskOptionError,
        ) as exc:
            raise UserError(str(exc).strip("'\"")) from exc
        except LookupError as exc:
            raise UserError(str(exc).strip("'\"")) from exc

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
        return command if isinstance(command, click.Command) else None


def _broken_command(name: str, message: str) -> click.Command:
    def fail() -> None:
        raise UserError(message)

    return click.Command(name, callback=fail, help=f"(unavailable: {message})")


@click.group(cls=PluginCommands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vla-bench", prog_name="bench")
def main() -> None:
    """vla-bench: score robot VLA policies on simulated tasks (success, smoothness, latency)."""


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
            if entry.kind == "suite":
                row["tasks"] = list(entry.extra["tasks"])
            if entry.kind == "policy":
                row["action_spaces"] = list(entry.extra.get("action_spaces", ()))
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
                details += "" if row["expert"] else " (no scripted expert)"
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


@main.command("run")
@click.option("--policy", "policy_name", required=True, help="Policy name (bench list policies).")
@click.option("--task", "task_name", required=True, help="Task or suite name (bench list tasks).")
@click.option("--episodes", type=click.IntRange(min=1), help="Run the track's first N episodes.")
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the policy's own randomness; the track fixes the episodes.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes running episodes in parallel.",
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
    "--video",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Record a GIF of the first N episodes of each task.",
)
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
    video: int,
    keyframes: int,
    out: Path | None,
    as_json: bool,
) -> None:
    """Roll a policy out on a task's track and score it."""
    from harness.results import load_run
    from harness.runner import RunSettings, execute, plan_run

    try:
        config = PolicyConfig.parse_args(policy_name, policy_args, seed=seed)
        task_options = parse_key_values(task_args, "--task-args")
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    settings = RunSettings(
        episodes=episodes,
        workers=workers,
        seed=seed,
        n_action_steps=n_action_steps,
        warmup=warmup,
        step_timeout_s=step_timeout,
        video=video,
        keyframes=keyframes,
        task_options=task_options,
    )
    registry().get("policy", policy_name)  # fail fast, with a suggestion, before any work
    total = sum(len(track.episodes) for _, track in plan_run(config, task_name, settings))
    if out is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"{stamp}-{policy_name}-{task_name}"
    command = ["bench", *sys.argv[1:]]  # the same whether started as `bench` or `python -m harness`
    _warn_broken()

    wins = {"n": 0, "ok": 0}
    show_bar = not as_json and console.is_terminal
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("success {task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, disable=not show_bar) as bar:
        bar_id = bar.add_task(f"{policy_name} on {task_name}", total=total, rate="-")
        started = time.monotonic()

        def progress(task: str, result: Any, done: int, n_total: int) -> None:
            if result is not None:
                wins["n"] += 1
                wins["ok"] += bool(result.success)
            rate = f"{wins['ok'] / wins['n']:.0%}" if wins["n"] else "-"
            bar.update(bar_id, completed=done, rate=rate)
            if not show_bar and not as_json and result is not None:
                err_console.print(
                    f"[dim]{done}/{n_total} {task} ep {result.episode}: {result.outcome} "
                    f"({result.steps} steps, {time.monotonic() - started:.0f}s)[/]",
                    highlight=False,
                )

        report = execute(config, task_name, settings, out, command, progress)
    run = load_run(out)
    from harness.summary import task_summary

    summary = task_summary(run.episodes, run.steps())
    if as_json:
        click.echo(
            json.dumps(
                {
                    "out": str(out),
                    "status": report.status,
                    "detail": report.detail,
                    "ran": report.ran,
                    "skipped": report.skipped,
                    "tasks": summary,
                },
                indent=2,
                default=_json_default,
            )
        )
    else:
        _print_summary(policy_name, summary)
        console.print(f"run directory: [bold]{out}[/] ({report.ran} ran, {report.skipped} resumed)")
        if report.status != "complete":
            console.print(f"[yellow]{report.status}:[/] {report.detail}")
    if report.status == "interrupted":
        sys.exit(130)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return str(obj)


def _pct(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.0%}"


def _num(x: float, fmt: str = "{:.2f}", scale: float = 1.0) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x * scale)


def _print_summary(policy: str, rows: list[dict[str, Any]]) -> None:
    columns = ["task", "success", "95% CI", "n", "fail", "errors", "steps→ok", "act p50 ms",
               "act p95 ms", "LDLJ", "SPARC", "clipped"]  # fmt: skip
    # Columns that only some backends fill (API agents, token decoders) appear when used.
    optional: list[tuple[str, str, Callable[[Any], str]]] = [
        ("decode fail", "decode_failures", str),
        ("tokens in/out", "tokens", str),
        ("$/episode", "cost_usd_per_episode", lambda x: f"{x:.4f}"),
    ]
    shown = [(name, key, fmt) for name, key, fmt in optional if any(r.get(key) for r in rows)]
    table = Table(title=f"policy {policy}", title_justify="left", show_edge=False)
    for column in columns + [name for name, _, _ in shown]:
        table.add_column(column, justify="left" if column == "task" else "right")
    for r in rows:
        table.add_row(
            r["task"],
            _pct(r["success_rate"]),
            f"{_pct(r['ci_low'])}–{_pct(r['ci_high'])}",
            str(r["episodes"]),
            str(r["failures"]),
            str(r["errors"]) + (f" {r['error_kinds']}" if r["errors"] else ""),
            _num(r["mean_steps_to_success"], "{:.1f}"),
            _num(r["act_p50_s"], "{:.2f}", 1e3),
            _num(r["act_p95_s"], "{:.2f}", 1e3),
            _num(r["ldlj"]),
            _num(r["sparc"]),
            str(r["clipped_actions"]),
            *(fmt(r[key]) for _, key, fmt in shown),
        )
    console.print(table)


# -- compare ----------------------------------------------------------------------------------


@main.command("compare")
@click.argument("run_a", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.argument("run_b", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@_fail_on_user_errors
def compare_cmd(run_a: Path, run_b: Path, as_json: bool) -> None:
    """Paired comparison of two runs: success with intervals, McNemar p, deltas (B - A)."""
    from harness.results import load_run
    from harness.summary import compare_runs

    a, b = load_run(run_a), load_run(run_b)
    rows = compare_runs(a, b)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=_json_default))
        return
    if not rows:
        raise UserError(f"{run_a} and {run_b} share no task; nothing to compare")
    table = Table(
        title=f"A = {a.policy} ({run_a})   B = {b.policy} ({run_b})",
        title_justify="left",
        show_edge=False,
    )
    for column in (
        "task",
        "A success",
        "B success",
        "paired",
        "A only",
        "B only",
        "McNemar p",
        "Δ LDLJ",
        "Δ SPARC",
        "Δ p50 ms",
    ):
        table.add_column(column, justify="left" if column == "task" else "right")
    for r in rows:
        sa, sb = r["a"], r["b"]
        table.add_row(
            r["task"],
            _rate_with_ci(sa),
            _rate_with_ci(sb),
            str(r["paired"]),
            str(r["b_only_a"]),
            str(r["c_only_b"]),
            _num(r["p_value"], "{:.3g}"),
            _num(r["delta_ldlj"]),
            _num(r["delta_sparc"]),
            _num(r["delta_act_p50_s"], "{:+.2f}", 1e3),
        )
    console.print(table)
    for r in rows:
        if r["note"]:
            console.print(f"[yellow]{r['task']}:[/] {r['note']}")


def _rate_with_ci(summary: dict[str, Any]) -> str:
    low, high = _pct(summary["ci_low"]), _pct(summary["ci_high"])
    return f"{_pct(summary['success_rate'])} [{low}–{high}] n={summary['episodes']}"


# -- report -----------------------------------------------------------------------------------


@main.command("report")
@click.argument("run_dirs", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    default="html",
    show_default=True,
    help="Reporter name (bench list reporters): term, md, html, ...",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Output file (default reports/leaderboard.<ext>; term prints).",
)
@_fail_on_user_errors
def report_cmd(run_dirs: tuple[Path, ...], fmt: str, output: Path | None) -> None:
    """Build the leaderboard from run directories (default: everything under runs/)."""
    from harness.results import RunFormatError, atomic_write_bytes, find_runs, load_run

    render = registry().get("reporter", fmt).load()
    roots = list(run_dirs) or [Path("runs")]
    problems = [f"{p}: no such directory" for p in roots if not p.exists()]
    runs = []
    for path in find_runs(p for p in roots if p.exists()):
        try:
            runs.append(load_run(path))
        except (RunFormatError, OSError, ValueError) as exc:
            problems.append(str(exc))
    if not runs and not problems:
        problems.append(f"no runs found under {', '.join(map(str, roots))} (bench run ... first)")
    text = render(runs, problems)
    if output is None and fmt == "term":
        click.echo(text)
        return
    ext = {"md": "md", "html": "html", "term": "txt"}.get(fmt, fmt)
    target = output or Path("reports") / f"leaderboard.{ext}"
    atomic_write_bytes(target, text.encode())
    notes = f", {len(problems)} note(s)" if problems else ""
    console.print(f"wrote {target} ({len(runs)} run(s){notes})")
