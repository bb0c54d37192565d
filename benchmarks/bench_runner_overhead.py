"""Runner overhead: the same episodes through the runner (what `bench run` executes) versus a
bare loop that calls the env and the policy directly. Prints medians and their ratio.

    uv run python benchmarks/bench_runner_overhead.py --policy scripted --task valve --episodes 50
    uv run python benchmarks/bench_runner_overhead.py --policy pixels --task valve --episodes 10

``--policy pixels`` is a policy that asks for camera images (and answers no-ops), so both
sides render: the pixel case. ``--isolate`` picks the runner's path: ``auto`` (what
``bench run`` does for that policy), ``none`` (in this process), ``process`` (env worker
and policy host processes).

``--ablate`` also times the runner without its scoring (smoothness, the step table, the
episode's artifacts) and then also without its writes (episode parts, consolidation): where
the overhead goes, measured the same way (the variants skip work a run must do, so they are a
measurement, never a mode of ``bench run``).

Target: ratio <= 1.05 with one worker. Each repetition runs a bare loop and a runner pass back
to back, in alternating order, so that machine noise hits both alike; the figures are the
ratio of the medians and the median of the per-repetition ratios, measured in one run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(var, "1")
# The pixel policy below is a plugin of this script, loaded the way a plugin under
# development is (and inherited by worker processes).
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ["VLA_BENCH_PLUGINS"] = ",".join(
    filter(None, [os.environ.get("VLA_BENCH_PLUGINS"), "bench_runner_overhead"])
)

from harness.baselines import RandomPolicy  # noqa: E402
from harness.contract import ActionChunk, Observation, PolicyConfig  # noqa: E402
from harness.hookspecs import hookimpl  # noqa: E402
from harness.plugins import registry  # noqa: E402
from harness.record import RunSettings  # noqa: E402
from harness.run import execute  # noqa: E402


class PixelNoop(RandomPolicy):
    """Asks for images and answers the do-nothing action: rendering plus a trivial policy."""

    uses_images = True

    def act(self, observation: Observation) -> ActionChunk:
        """The action space's no-op."""
        return ActionChunk(self._space.noop()[None, :])


@hookimpl
def vla_bench_register_policies(registry: object) -> None:
    """Register ``pixels`` (pure Python, like the baselines)."""
    registry.add_policy("pixels", "bench_runner_overhead:PixelNoop", in_process=True)  # type: ignore[attr-defined]


def bare_loop(policy_name: str, task_name: str, episodes: int) -> float:
    """Seconds for the episodes with nothing but env.reset/step and policy.reset/act."""
    entry = registry().get("policy", policy_name)
    policy = entry.load()(PolicyConfig(policy_name))
    privileged = entry.extra["privileged"]
    task = registry().build_task(task_name)
    spec = task.spec
    start = time.perf_counter()
    for episode in task.track().episodes[:episodes]:
        env = task.make_env(episode, render=policy.uses_images)
        obs, _ = env.reset(seed=episode.seed)
        policy.reset(spec, episode, env if privileged else None)
        queue: list = []
        for _ in range(spec.max_steps):
            if not queue:
                queue = list(policy.act(obs).actions)
            action = queue.pop(0)
            obs, _, terminated, truncated, info = env.step(
                int(action[0]) if spec.action_space.discrete else action
            )
            if info.get("success") or terminated or truncated:
                break
        env.close()
    return time.perf_counter() - start


def through_runner(policy_name: str, task_name: str, episodes: int, isolate: str) -> float:
    """Seconds for the same episodes through the runner, writing a real run directory."""
    out = Path(tempfile.mkdtemp(prefix="vla-bench-overhead-"))
    try:
        start = time.perf_counter()
        execute(
            PolicyConfig(policy_name),
            task_name,
            RunSettings(episodes=episodes, warmup=0, isolate=isolate),
            out / "run",
            ["benchmark"],
        )
        return time.perf_counter() - start
    finally:
        shutil.rmtree(out, ignore_errors=True)


@contextlib.contextmanager
def ablated(level: int) -> Iterator[None]:
    """The runner without its scoring (``level`` >= 1) and without its writes (>= 2)."""
    import harness.chunking as chunking
    import harness.evaluate as evaluate
    from harness.results import STEP_SCHEMA, RunStore

    saved = [
        (evaluate, "_score_smoothness", evaluate._score_smoothness),
        (evaluate, "_artifacts", evaluate._artifacts),
        (chunking.ChunkExecutor, "table", chunking.ChunkExecutor.table),
        (RunStore, "write_episode", RunStore.write_episode),
        (RunStore, "consolidate", RunStore.consolidate),
    ]
    try:
        if level >= 1:
            evaluate._score_smoothness = lambda *args, **kwargs: None  # type: ignore[assignment]
            evaluate._artifacts = lambda env: {}  # type: ignore[assignment]
            chunking.ChunkExecutor.table = lambda self, *a, **k: STEP_SCHEMA.empty_table()  # type: ignore[method-assign]
        if level >= 2:
            RunStore.write_episode = lambda self, *args, **kwargs: None  # type: ignore[method-assign]
            RunStore.consolidate = lambda self: (0, 0)  # type: ignore[method-assign]
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


VARIANTS = {0: "runner", 1: "  without scoring", 2: "  and without writes"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="scripted")
    parser.add_argument("--task", default="valve")
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--isolate", default="auto", choices=["auto", "none", "process"])
    parser.add_argument("--ablate", action="store_true", help="also time runner variants")
    args = parser.parse_args()
    through_runner(args.policy, args.task, 1, args.isolate)  # warm caches: imports, files
    levels = list(VARIANTS) if args.ablate else [0]
    bare: list[float] = []
    timed: dict[int, list[float]] = {level: [] for level in levels}
    for repeat in range(args.repeats):
        # Each repetition runs every side back to back, in alternating order, so that slow
        # drift of the machine's speed (a shared VM's neighbours) hits all sides alike.
        sides: list[int | None] = [None, *levels]
        for side in sides if repeat % 2 == 0 else sides[::-1]:
            if side is None:
                bare.append(bare_loop(args.policy, args.task, args.episodes))
                continue
            with ablated(side):
                timed[side].append(
                    through_runner(args.policy, args.task, args.episodes, args.isolate)
                )
    runner = timed[0]
    b, r = statistics.median(bare), statistics.median(runner)
    paired = statistics.median(x / y for x, y in zip(runner, bare, strict=True))
    print(
        f"policy={args.policy} task={args.task} episodes={args.episodes} "
        f"repeats={args.repeats} isolate={args.isolate} load={os.getloadavg()[0]:.2f}"
    )
    print(f"bare loop   median {b:.3f} s  (all: {', '.join(f'{x:.3f}' for x in bare)})")
    print(f"runner      median {r:.3f} s  (all: {', '.join(f'{x:.3f}' for x in runner)})")
    print(f"overhead ratio (runner / bare, medians): {r / b:.3f}   target <= 1.05")
    print(f"median of the paired ratios (each repetition's runner / bare): {paired:.3f}")
    for level in levels[1:]:
        times = timed[level]
        print(
            f"{VARIANTS[level]:<24} ratio {statistics.median(times) / b:.3f}, paired "
            f"{statistics.median(x / y for x, y in zip(times, bare, strict=True)):.3f}"
        )


if __name__ == "__main__":
    main()
