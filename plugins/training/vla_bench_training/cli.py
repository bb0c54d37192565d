"""The ``bench demos``, ``bench import-handtracking`` and ``bench train`` commands."""

from __future__ import annotations

import json
from functools import wraps
from pathlib import Path
from typing import Any

import click

from harness.cli import UserError


def _user_errors(fn: Any) -> Any:
    """Errors the user can fix print as one line, without a traceback; anything else is a bug
    and keeps its traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from harness.checkpoints import CheckpointRecordError
        from harness.contract import PolicyConfigError
        from harness.registry import RegistrationError, UnknownNameError
        from vla_bench_training.errors import TrainingInputError

        try:
            return fn(*args, **kwargs)
        except (
            TrainingInputError,
            PolicyConfigError,
            CheckpointRecordError,
            UnknownNameError,
            RegistrationError,
        ) as exc:
            raise UserError(str(exc).strip("'\"")) from exc

    return wrapper


def _size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    h, _, w = text.lower().partition("x")
    try:
        return (int(h), int(w or h))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not N or HxW (e.g. 96 or 96x128)") from None


def _progress() -> Any:
    from vla_bench_training.progress import Progress

    return Progress()


@click.command("demos")
@click.option("--task", "task_name", required=True, help="a task with a scripted expert")
@click.option("--episodes", type=click.IntRange(min=1), required=True, help="demos to attempt")
@click.option(
    "--noise",
    type=click.FloatRange(min=0.0),
    default=0.0,
    show_default=True,
    help="DART noise: std of the executed-action perturbation as a fraction of each bound "
    "(labels stay the expert's clean actions)",
)
@click.option("--keep-failed", is_flag=True, help="also keep episodes the expert failed")
@click.option(
    "--seed-base",
    type=click.IntRange(min=0),
    default=None,
    help="first demo seed (default 900000)",
)
@click.option("--image-size", default=None, help="store images at N or HxW (default: task's)")
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True)
@_user_errors
def demos(
    task_name: str,
    episodes: int,
    noise: float,
    keep_failed: bool,
    seed_base: int | None,
    image_size: str | None,
    out: Path,
) -> None:
    """Record a task's scripted expert as a LeRobot dataset (PNG images, instructions)."""
    from vla_bench_training.demos import DEMO_SEED_BASE, record_demos

    summary = record_demos(
        task_name,
        episodes,
        out,
        noise=noise,
        keep_failed=keep_failed,
        seed_base=DEMO_SEED_BASE if seed_base is None else seed_base,
        image_size=_size(image_size),
        progress=_progress(),
    )
    click.echo(
        f"{summary.task}: {summary.succeeded}/{summary.attempted} expert episodes succeeded; "
        f"kept {summary.kept} episodes ({summary.frames} frames) in {out}"
    )


@click.command("import-handtracking")
@click.argument("logs", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--task", "task_name", required=True)
@click.option(
    "--calibration",
    default=None,
    help="tracking->task frame: a JSON file, or inline 'translate=x,y,z;rotate=qw,qx,qy,qz;"
    "scale=s' or 'matrix=<16 numbers row-major>' (see README)",
)
@click.option(
    "--seed",
    "seeds",
    type=click.IntRange(min=0, max=2**32 - 1),
    multiple=True,
    help="scene seed per log (in order)",
)
@click.option("--keep-failed", is_flag=True, help="keep demos whose replay failed")
@click.option("--image-size", default=None, help="store images at N or HxW (default: task's)")
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True)
@_user_errors
def import_handtracking(
    logs: tuple[Path, ...],
    task_name: str,
    calibration: str | None,
    seeds: tuple[int, ...],
    keep_failed: bool,
    image_size: str | None,
    out: Path,
) -> None:
    """Import hand-tracking logs (JSON/CSV, visionOS hand anchors) as a LeRobot dataset and
    replay-check them."""
    from vla_bench_training.handtracking import import_logs, parse_calibration

    summary = import_logs(
        list(logs),
        task_name,
        out,
        calibration=parse_calibration(calibration),
        seeds=list(seeds) or None,
        keep_failed=keep_failed,
        image_size=_size(image_size),
        progress=_progress(),
    )
    click.echo(
        f"replay check: {summary.succeeded}/{summary.imported} demos still succeed in the "
        f"simulator; kept {summary.kept} episodes ({summary.frames} frames) in {out}"
    )


def option_value(raw: str) -> Any:
    """A ``--policy-args`` value: ``a;b;c`` is a list (a tuple), a JSON number, boolean, null or
    list is that value, anything else stays text."""
    if ";" in raw:
        return tuple(option_value(part.strip()) for part in raw.split(";") if part.strip())
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    return tuple(value) if isinstance(value, list) else value


def training_options(policy_args: str | None, config_items: tuple[str, ...]) -> dict[str, Any]:
    """``--policy-args k=v,...`` (and the deprecated repeatable ``--config k=v``) as values."""
    from harness.contract import parse_key_values

    try:
        raw = parse_key_values(policy_args, "--policy-args")
    except ValueError as exc:
        raise click.BadParameter(
            f"{exc}; write lists as a;b;c", param_hint="--policy-args"
        ) from None
    if config_items:
        click.echo(
            "note: --config k=v is deprecated; pass --policy-args k=v,k=v (as `bench run` does)",
            err=True,
        )
    for item in config_items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not key=value", param_hint="--config")
        raw[key.strip()] = value.strip()
    return {key: option_value(value) for key, value in raw.items()}


def _recipe_names() -> list[str]:
    from vla_bench_training.recipes import RECIPES

    return list(RECIPES)


@click.command("train")
@click.option(
    "--policy",
    type=click.Choice(_recipe_names()),
    help="what to train (each name is a recipe: from scratch, fine-tune or LoRA)",
)
@click.option("--dataset", type=click.Path(path_type=Path, exists=True))
@click.option("--steps", type=int, default=1000, show_default=True)
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option(
    "--policy-args",
    default=None,
    help="recipe settings k=v,k=v: LeRobot config fields (lists as a;b;c), LoRA settings, or "
    "local copies of hub files (vlm=, tokenizer=, action_tokenizer=)",
)
@click.option("--config", "config_items", multiple=True, hidden=True)
@click.option("--pretrained", default=None, help="local weights to fine-tune (VLAs)")
@click.option("--save-every", type=int, default=0, help="also save a checkpoint every N steps")
@click.option("--device", default="cpu", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--resume",
    is_flag=True,
    help="continue the run in -o from its newest checkpoint, up to --steps (sample-exact)",
)
@click.option("--algo", type=click.Choice(["dqn", "ppo"]), help="RL on --task (vla-bench-rewards)")
@click.option("--task", "rl_task", help="with --algo: lunarlander, cartpole, cartpole_swing, ...")
@click.option("--reward-judge", help="with --algo: mix a judge's reward in (bench list judges)")
@click.option("--judge-args", help="with --reward-judge: judge options k=v,k=v")
@click.option("--alpha", type=float, default=0.15, show_default=True, help="judge reward weight")
@click.option("--timesteps", type=int, default=100_000, show_default=True, help="with --algo")
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True)
@_user_errors
def train(
    policy: str | None,
    dataset: Path | None,
    steps: int,
    batch_size: int,
    policy_args: str | None,
    config_items: tuple[str, ...],
    pretrained: str | None,
    save_every: int,
    device: str,
    seed: int,
    resume: bool,
    algo: str | None,
    rl_task: str | None,
    reward_judge: str | None,
    judge_args: str | None,
    alpha: float,
    timesteps: int,
    out: Path,
) -> None:
    """Train (diffusion, act) or fine-tune (smolvla, pi0fast, openvla) on a LeRobot dataset,
    or with --algo train a DQN/PPO agent on a game task (reward-shaped by a judge if asked)."""
    if algo is not None:
        try:
            from vla_bench_rewards.cli import train_rl
        except ImportError:
            raise UserError(
                "--algo needs the vla-bench-rewards plugin: pip install vla-bench-rewards"
            ) from None
        if rl_task is None:
            raise UserError("--algo needs --task (e.g. --task cartpole)")
        train_rl(
            algo=algo,
            task=rl_task,
            reward_judge=reward_judge,
            judge_args=judge_args,
            alpha=alpha,
            timesteps=timesteps,
            seed=seed,
            out=out,
        )
        return
    if policy is None or dataset is None:
        raise UserError("give --policy and --dataset, or --algo and --task (bench train --help)")
    from vla_bench_training.recipes import train as run_training
    from vla_bench_training.request import TrainRequest

    record = run_training(
        TrainRequest(
            policy=policy,
            dataset=dataset,
            out=out,
            steps=steps,
            batch_size=batch_size,
            options=training_options(policy_args, config_items),
            pretrained=pretrained,
            device=device,
            seed=seed,
            save_every=save_every,
            resume=resume,
            progress=_progress(),
        )
    )
    final = record.losses[-1][1] if record.losses else float("nan")
    click.echo(
        f"{policy}: {record.steps_done} steps on {record.episodes} episodes / {record.frames} "
        f"frames in {record.wall_s:.0f} s, final loss {final:.4f}; checkpoint {out} "
        f"(bench run --policy {policy} --policy-args checkpoint={out})"
    )
