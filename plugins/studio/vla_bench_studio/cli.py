"""``bench studio``: serve the studio page for a task and collect the demos recorded in it."""

from __future__ import annotations

import os
import webbrowser
from pathlib import Path

import click


def _size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    from vla_bench_manipulation.env import image_shape

    try:
        return image_shape(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--image-size") from None


@click.command("studio")
@click.option("--task", default="valve", show_default=True, help="a manipulation task")
@click.option("--episode", type=int, default=0, show_default=True, help="track episode to open")
@click.option(
    "--seed", type=int, default=None, help="open this scene seed instead of a track episode"
)
@click.option("--port", type=int, default=8765, show_default=True, help="0 picks a free port")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option(
    "-o", "--out", type=click.Path(path_type=Path), default=Path("data/studio"), show_default=True,
    help="demos go to OUT/<task>/ (logs, demos.jsonl, dataset)",
)  # fmt: skip
@click.option("--keep-failed", is_flag=True, help="also add demos whose replay fails (flagged)")
@click.option("--image-size", default=None, help="dataset images at N or HxW (default: task's)")
@click.option("--idle-timeout", type=float, default=1800.0, show_default=True, help="seconds")
@click.option("--certfile", type=click.Path(path_type=Path, exists=True), default=None,
              help="TLS certificate: serve https (WebXR off this machine needs it)")  # fmt: skip
@click.option("--keyfile", type=click.Path(path_type=Path, exists=True), default=None)
@click.option("--no-browser", is_flag=True, help="do not open a browser tab")
def studio(
    task: str,
    episode: int,
    seed: int | None,
    port: int,
    host: str,
    out: Path,
    keep_failed: bool,
    image_size: str | None,
    idle_timeout: float,
    certfile: Path | None,
    keyfile: Path | None,
    no_browser: bool,
) -> None:
    """Teleoperate TASK in the browser on MuJoCo's WASM build and record demonstrations.

    The page simulates a track episode exactly as `bench run` does (same MJCF, reset state,
    controller and success rule). Keyboard, mouse or gamepad drive the gripper; on a headset,
    WebXR hand tracking does, and recorded demos are imported into OUT/<task>/dataset after a
    replay check in Python MuJoCo.
    """
    os.environ.setdefault("MUJOCO_GL", "egl")  # demo import renders the dataset's frames
    from vla_bench_studio.assets import StudioAssetsError
    from vla_bench_studio.episode import StudioTaskError
    from vla_bench_studio.server import StudioConfig, StudioServer

    config = StudioConfig(
        task=task, episode=episode, seed=seed, out=out, host=host, port=port,
        idle_timeout=idle_timeout, keep_failed=keep_failed, image_size=_size(image_size),
        certfile=certfile, keyfile=keyfile,
    )  # fmt: skip
    try:
        server = StudioServer(config, report=click.echo)
    except (StudioAssetsError, StudioTaskError, LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port} ({exc.strerror}); pass another --port"
        ) from None
    click.echo(f"studio for {task}: {server.url}  (demos -> {out / task}; Ctrl-C stops)")
    if not no_browser:
        webbrowser.open(server.url)
    try:
        server.serve_until_idle()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()
