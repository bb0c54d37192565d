"""``bench publish``: a leaderboard, and the runs behind it, to Weights & Biases or the HF Hub.

Both publishers are optional extras, imported only here: ``pip install
'vla-bench-leaderboard[wandb]'`` or ``[hub]``. Both send exactly what ``bench report --format
json`` shows (one record per policy and task) and, for W&B, every episode row of the runs; the
Hub upload adds the HTML page and, with ``--include-runs``, the run directories themselves.
W&B honours its own settings (``WANDB_MODE=offline`` writes the run locally); the Hub honours
``HF_ENDPOINT``, ``HF_TOKEN`` and ``HF_HUB_OFFLINE``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import click
import pandas as pd

from harness.results import EPISODES_FILE, RUN_FILE, STEPS_FILE, Run
from vla_bench_leaderboard import export
from vla_bench_leaderboard.loading import load_runs
from vla_bench_leaderboard.table import build

RUN_FILES = (RUN_FILE, EPISODES_FILE, STEPS_FILE)
"""What ``--include-runs`` uploads of each run (plus its ``videos/``)."""


def _require(module: str, extra: str) -> Any:
    """Import an optional publisher library, or say which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise click.ClickException(
            f"{module} is not installed: pip install 'vla-bench-leaderboard[{extra}]'"
        ) from None


def _runs(paths: tuple[Path, ...], skip_bad: bool) -> list[Run]:
    runs, problems = load_runs(paths or (Path("runs"),))
    for line in problems:
        click.echo(f"skipped: {line}", err=True)
    if problems and not skip_bad:
        raise click.ClickException(
            f"{len(problems)} run(s) or path(s) could not be read (listed above); fix or move "
            "them, or pass --skip-bad to publish the rest"
        )
    if not runs:
        raise click.ClickException("no runs to publish (bench run ... first)")
    return runs


def episode_rows(runs: list[Run]) -> pd.DataFrame:
    """Every episode of ``runs`` with the run and policy it belongs to (JSON-safe columns)."""
    frames = []
    for run in runs:
        df = run.episodes.copy()
        df.insert(0, "run_id", run.record.run_id)
        df.insert(1, "policy", run.record.policy.name)
        frames.append(df)
    table = pd.concat(frames, ignore_index=True)
    for column in table.columns:
        if table[column].dtype == object:
            table[column] = table[column].map(lambda v: None if v is None else str(v))
    return table


@click.group("publish")
def publish() -> None:
    """Publish a leaderboard and its runs to Weights & Biases or the Hugging Face Hub."""


@publish.command("wandb")
@click.argument("run_dirs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--project", default="vla-bench", show_default=True, help="W&B project.")
@click.option("--entity", help="W&B entity (team or user); default: yours.")
@click.option("--name", help="Name of the W&B run (default: W&B's).")
@click.option("--skip-bad", is_flag=True, help="Publish the readable runs when some are not.")
def wandb_cmd(
    run_dirs: tuple[Path, ...], project: str, entity: str | None, name: str | None, skip_bad: bool
) -> None:
    """Log the leaderboard (a table, and one summary value per policy, task and figure) and
    every episode of the runs as one W&B run."""
    wandb = _require("wandb", "wandb")
    runs = _runs(run_dirs, skip_bad)
    board = build(runs, [])
    records = export.records_of(board)
    episodes = episode_rows(runs)
    config = {"runs": [r.record.run_id for r in runs], "columns": list(export.COLUMNS)}
    run = wandb.init(project=project, entity=entity, name=name, config=config, job_type="report")
    try:
        columns = list(export.COLUMNS)
        run.log(
            {
                "leaderboard": wandb.Table(
                    columns=columns, data=[[r[c] for c in columns] for r in records]
                ),
                "episodes": wandb.Table(dataframe=episodes),
            }
        )
        for r in records:
            for figure in ("success_rate", "ci_low", "ci_high", "act_p50_s", "sync_rate_hz"):
                if r[figure] is not None:
                    run.summary[f"{r['policy']}/{r['task']}/{figure}"] = r[figure]
    finally:
        run.finish()
    click.echo(f"logged {len(records)} record(s) and {len(episodes)} episode(s) to W&B")


@publish.command("hub")
@click.argument("run_dirs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--repo-id", required=True, help="Hub repository, e.g. my-org/vla-bench-results.")
@click.option(
    "--repo-type",
    type=click.Choice(["dataset", "model", "space"]),
    default="dataset",
    show_default=True,
)
@click.option("--include-runs", is_flag=True, help="Also upload each run's files and videos.")
@click.option("--private", is_flag=True, help="Create the repository as private.")
@click.option("--skip-bad", is_flag=True, help="Publish the readable runs when some are not.")
def hub_cmd(
    run_dirs: tuple[Path, ...],
    repo_id: str,
    repo_type: str,
    include_runs: bool,
    private: bool,
    skip_bad: bool,
) -> None:
    """Upload the leaderboard (HTML, JSON, CSV) and optionally the runs to a Hub repository."""
    hub = _require("huggingface_hub", "hub")
    runs = _runs(run_dirs, skip_bad)
    api = hub.HfApi(endpoint=os.environ.get("HF_ENDPOINT"), token=os.environ.get("HF_TOKEN"))
    with tempfile.TemporaryDirectory(prefix="vla-bench-publish-") as tmp:
        folder = Path(tmp)
        from vla_bench_leaderboard import html  # plots import matplotlib: only when publishing

        (folder / "leaderboard.html").write_text(html.render(runs, []), encoding="utf-8")
        (folder / "leaderboard.json").write_text(export.render_json(runs, []))
        (folder / "leaderboard.csv").write_text(export.render_csv(runs, []))
        if include_runs:
            for run in runs:
                dest = folder / "runs" / run.record.run_id
                dest.mkdir(parents=True)
                for file in RUN_FILES:
                    if (run.root / file).is_file():
                        shutil.copy2(run.root / file, dest / file)
                if (run.root / "videos").is_dir():
                    shutil.copytree(run.root / "videos", dest / "videos")
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        try:
            api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
            commit = api.upload_folder(
                repo_id=repo_id,
                repo_type=repo_type,
                folder_path=folder,
                commit_message=f"vla-bench: leaderboard of {len(runs)} run(s)",
            )
        except hub.errors.OfflineModeIsEnabled:
            raise click.ClickException(
                "HF_HUB_OFFLINE is set: unset it to upload to the Hub"
            ) from None
        except hub.errors.HfHubHTTPError as exc:
            raise click.ClickException(
                f"the Hub refused the upload to {repo_id}: {str(exc).splitlines()[0]}"
            ) from None
    click.echo(json.dumps({"commit": commit.oid, "url": commit.commit_url, "files": files}))
