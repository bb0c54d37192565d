"""The ``bench judge``, ``bench judges`` and ``bench eureka`` commands, and ``bench train --algo``.

``bench train`` belongs to the training plugin; it calls :func:`train_rl` here when given
``--algo``.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any

import click

from harness.cli import UserError


def _user_errors(fn: Any) -> Any:
    """Errors the user can fix (bad names, options, paths: ValueError, LookupError,
    FileNotFoundError and their subclasses) print as one line, without a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ValueError, LookupError, FileNotFoundError) as exc:
            raise UserError(str(exc).strip("'\"")) from exc

    return wrapper


def build_judge(name: str, args: str | None) -> Any:
    """The judge ``name`` built from ``--judge-args k=v,...``."""
    from harness.contract import parse_key_values
    from harness.plugins import registry

    factory = registry().get("judge", name).load()
    return factory(parse_key_values(args, "--judge-args"))


@click.command("judge")
@click.option("--judge", "judge_name", required=True, help="judge name (bench list judges)")
@click.option("--judge-args", help="judge options k=v,k=v (model=, checkpoint=, max_cost=, ...)")
@click.option(
    "--runs",
    "runs",
    multiple=True,
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="run directories recorded with bench run --keyframes K (--runs A B C)",
)
@click.argument(
    "more_runs", nargs=-1, type=click.Path(path_type=Path, exists=True, file_okay=False)
)
@click.option(
    "--probe",
    default="success",
    show_default=True,
    help="success, progress, pole_angle, cart_position or snake_length",
)
@click.option(
    "--frames",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="success probe: show an episode's last N keyframes (0: all stored)",
)
@click.option("--state-text", is_flag=True, help="also give the judge the state as text")
@click.option("--threshold", type=float, help="success cut-off (default 0.5; 0 for scores)")
@click.option("-o", "--out", type=click.Path(path_type=Path), help="result directory")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@_user_errors
def judge(
    judge_name: str,
    judge_args: str | None,
    runs: tuple[Path, ...],
    more_runs: tuple[Path, ...],
    probe: str,
    frames: int,
    state_text: bool,
    threshold: float | None,
    out: Path | None,
    as_json: bool,
) -> None:
    """Score a judge against the simulator's truth on runs' stored keyframes."""
    from vla_bench_rewards import board
    from vla_bench_rewards.evaluate import evaluate
    from vla_bench_rewards.probes import get_probe

    every = [*runs, *more_runs]
    if not every:
        raise UserError("give the runs to judge: --runs RUN [RUN ...] (bench run --keyframes 5)")
    the_probe = get_probe(probe)
    if out is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / "judges" / f"{stamp}-{judge_name}-{probe}"
    the_judge = build_judge(judge_name, judge_args)

    def progress(done: int, total: int) -> None:
        if done % 10 == 0 or done == total:
            click.echo(f"{done}/{total} answered", err=True)

    try:
        result = evaluate(
            the_judge,
            the_probe,
            every,
            out,
            config={"judge": judge_name, "judge_args": judge_args or ""},
            frames=frames,
            state_text=state_text,
            threshold=threshold,
            progress=lambda done, total: (
                click.echo(f"{done}/{total} answered", err=True)
                if done % 10 == 0 or done == total
                else None
            ),
        )
    finally:
        the_judge.close()
    if as_json:
        click.echo(json.dumps({"out": str(out), **result}, indent=2, default=str))
        return
    click.echo(board.render([{**result, "path": str(out)}], "term"))
    click.echo(f"result directory: {out}")
    if result["status"] != "complete":
        click.echo(f"{result['status']}: {result['status_detail']}")


@click.command("judges")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", default="term", show_default=True, help="md, term or html")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="write to a file")
@_user_errors
def judges(paths: tuple[Path, ...], fmt: str, output: Path | None) -> None:
    """The judges table of stored bench judge results (default: under runs/judges)."""
    from harness.results import atomic_write_bytes
    from vla_bench_rewards import board

    results = board.find(paths or [Path("runs") / "judges"])
    if not results:
        raise UserError(f"no judge results under {', '.join(map(str, paths or ['runs/judges']))}")
    text = board.render(results, fmt)
    if output is None:
        click.echo(text)
        return
    atomic_write_bytes(output, text.encode())
    click.echo(f"wrote {output} ({len(results)} result(s))")


def train_rl(
    *,
    algo: str,
    task: str,
    reward_judge: str | None,
    judge_args: str | None,
    alpha: float,
    timesteps: int,
    seed: int,
    out: Path,
    eval_every: int | None = None,
    eval_episodes: int = 5,
) -> None:
    """``bench train --algo``: train, write the checkpoint and print where it is."""
    from vla_bench_rewards.rl.train import TrainConfig, train

    config = TrainConfig(
        algo=algo,
        task=task,
        timesteps=timesteps,
        seed=seed,
        reward_judge=reward_judge,
        judge_args=judge_args or "",
        alpha=alpha,
        eval_every=eval_every,
        eval_episodes=eval_episodes,
    )
    summary = train(config, out, progress=lambda line: click.echo(line, err=True))
    last = summary["curve"][-1] if summary["curve"] else {}
    click.echo(
        f"{algo} on {task}: {summary['timesteps']} steps in {summary['wall_s']:.0f} s, final "
        f"eval return {last.get('return_mean', float('nan')):.1f}; checkpoint {out} "
        f"(bench run --policy sb3 --policy-args checkpoint={out} --task {task})"
    )


@click.command("eureka")
@click.option(
    "--task", "task_name", default="cartpole_swing", show_default=True, help="a discrete task"
)
@click.option("--llm", type=click.Choice(["claude", "vlm"]), required=True)
@click.option("--llm-args", help="the LLM client's options k=v (model=, base_url=, max_cost=)")
@click.option(
    "--iterations", type=click.IntRange(min=1), default=7, show_default=True, help="rounds"
)
@click.option(
    "--candidates", type=click.IntRange(min=1), default=3, show_default=True, help="per round"
)
@click.option(
    "--timesteps", type=click.IntRange(min=1), default=300_000, show_default=True, help="PPO steps"
)
@click.option(
    "--eval-every", type=click.IntRange(min=1), default=10_000, show_default=True, help="steps"
)
@click.option(
    "--eval-episodes", type=click.IntRange(min=1), default=5, show_default=True, help="per point"
)
@click.option("--screenshots", is_flag=True, help="show 5 rollout frames in the reflection")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--out", type=click.Path(path_type=Path), help="run directory (resumes)")
@_user_errors
def eureka(
    task_name: str,
    llm: str,
    llm_args: str | None,
    iterations: int,
    candidates: int,
    timesteps: int,
    eval_every: int,
    eval_episodes: int,
    screenshots: bool,
    seed: int,
    out: Path | None,
) -> None:
    """Generate reward code with an LLM, train PPO on it, keep the fittest, reflect, repeat."""
    from vla_bench_rewards.eureka.loop import EurekaConfig, run_loop

    if out is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"{stamp}-eureka-{task_name}"
    config = EurekaConfig(
        task=task_name,
        llm=llm,
        llm_args=llm_args or "",
        iterations=iterations,
        candidates=candidates,
        timesteps=timesteps,
        eval_every=eval_every,
        eval_episodes=eval_episodes,
        screenshots=screenshots,
        seed=seed,
        command=["bench", *sys.argv[1:]],
    )
    summary = run_loop(config, out, progress=lambda line: click.echo(line, err=True))
    best = summary.get("best") or {}
    click.echo(
        f"eureka on {task_name}: status {summary['status']}; best fitness "
        f"{best.get('fitness', float('nan')):.1f} ({best.get('id', 'none')}); spent "
        f"${summary['spent_usd']:.4f}; run directory {out}"
    )
    if best.get("checkpoint"):
        checkpoint = best["checkpoint"]
        click.echo(
            f"bench run --policy sb3 --policy-args checkpoint={checkpoint} --task {task_name}"
        )
    if summary["status"] != "complete":
        click.echo(f"{summary['status']}: {summary.get('status_detail')}")
