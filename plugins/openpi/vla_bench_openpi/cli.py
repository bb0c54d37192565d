"""``bench serve``: any registered policy as an openpi-protocol server."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

import click

from harness.cli import UserError


@click.command("serve")
@click.option("--policy", "policy_name", required=True, help="Policy name (bench list policies).")
@click.option("--policy-args", help="Backend options: k=v,k=v (checkpoint=, device=, dtype=, ...).")
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="The policy's own seed.",
)
@click.option(
    "--task",
    "task_name",
    help="Task whose spec plain openpi clients are served with (clients using the vla-bench "
    "extension send their own).",
)
@click.option("--task-args", help="Options of --task: k=v,k=v (e.g. image_size=224).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="0: any free."
)
@click.option(
    "--max-batch",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Most requests of concurrent clients answered by one forward pass.",
)
@click.option(
    "--max-wait-ms",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Longest wait for more requests to join a batch.",
)
@click.option(
    "--api-key-env",
    metavar="VAR",
    help="Require 'Authorization: Api-Key <key>', the key read from environment variable VAR.",
)
@click.option(
    "--max-frame-mb",
    type=click.FloatRange(min=0.001),
    default=16.0,
    show_default=True,
    help="Largest request frame accepted (MiB).",
)
@click.option("--debug", is_flag=True, help="Send clients full tracebacks, not one-line errors.")
def serve(
    policy_name: str,
    policy_args: str | None,
    seed: int,
    task_name: str | None,
    task_args: str | None,
    host: str,
    port: int,
    max_batch: int,
    max_wait_ms: float,
    api_key_env: str | None,
    max_frame_mb: float,
    debug: bool,
) -> None:
    """Serve a policy over openpi's wire protocol (WebSocket + msgpack) until Ctrl-C."""
    from harness.contract import PolicyConfig, PolicyConfigError, parse_key_values, supports
    from harness.host import CopiesHost, PolicyHost
    from harness.plugins import registry
    from harness.policies import PolicyBuildError, PolicyTraits, build_policy
    from harness.registry import RegistrationError, TaskOptionError, UnknownNameError
    from vla_bench_openpi.server import PolicyServer, ServerSettings, run_event_loop

    api_key = None
    if api_key_env:
        api_key = os.environ.get(api_key_env, "")
        if not api_key:
            raise UserError(f"--api-key-env {api_key_env} but ${api_key_env} is empty; export it")
    reg = registry()
    try:
        config = PolicyConfig.parse_args(policy_name, policy_args, seed=seed)
        traits = PolicyTraits.of(reg.get("policy", policy_name))
        spaces = traits.action_spaces
        if traits.privileged:
            raise UserError(
                f"policy {policy_name!r} is privileged (it reads the simulator's hidden state) "
                "and cannot be served; serve a policy that acts from observations"
            )
        task = None
        if task_name is not None:
            names = reg.resolve_tasks(task_name)
            if len(names) != 1:
                raise UserError(f"--task takes one task; {task_name!r} is a suite of {names}")
            task = reg.build_task(names[0], parse_key_values(task_args, "--task-args")).spec
            if not supports(spaces, task.action_space):
                raise UserError(
                    f"policy {policy_name!r} drives action spaces {list(spaces)}; task "
                    f"{task.name!r} uses {task.action_space.name!r}"
                )
        policy, _ = build_policy(config)
    except (
        UnknownNameError,
        RegistrationError,
        PolicyConfigError,
        PolicyBuildError,
        TaskOptionError,
    ) as exc:
        raise UserError(str(exc).strip("'\"")) from exc
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    logging.getLogger("websockets").setLevel(logging.WARNING)
    if host not in ("127.0.0.1", "localhost", "::1") and api_key is None:
        logging.warning("listening on %s with no API key: anyone who reaches it can use it", host)
    settings = ServerSettings(
        host=host,
        port=port,
        max_frame_bytes=int(max_frame_mb * 2**20),
        api_key=api_key,
        debug=debug,
    )
    policy_host: PolicyHost | CopiesHost
    if callable(getattr(policy, "fork", None)):
        policy_host = PolicyHost(policy, max_batch=max_batch, max_wait_s=max_wait_ms / 1e3)
    else:
        if max_batch > 1:
            logging.warning(
                "policy %s has no fork(): each client gets a copy of its own, without batching",
                policy_name,
            )
        policy_host = CopiesHost(policy, lambda: build_policy(config)[0])
    server = PolicyServer(
        policy_name, policy, policy_host, settings, task=task, action_spaces=spaces
    )

    def ready(bound: int) -> None:
        click.echo(f"serving {policy_name} on ws://{host}:{bound} (health: /healthz)")
        sys.stdout.flush()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await server.run(ready, stop)

    try:
        run_event_loop(main())
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    finally:
        policy_host.close()
