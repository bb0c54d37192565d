"""The figures of reports/rewards/README.md: judge-shaped DQN, Eureka vs the task's reward, judges.

Runs, in one work directory (default /tmp/vla-bench-rewards-report), all on this machine's CPU:

1. DQN on ``lunarlander`` (rl-baselines3-zoo hyper-parameters) with the task's reward, and
   with R = 0.85·R_env + 0.15·R_judge, the judge being the ActionVLM keyword rule on a tiny
   random BLIP-2 captioner (asked every ``--judge-every`` steps, held between);
2. PPO (SB3 defaults) on ``cartpole_swing`` with the task's own shaped reward, and the
   Eureka loop (1 iteration, 1 candidate) against the Anthropic stand-in, which answers the
   hand-written "good" candidate of ``vla_bench_rewards.eureka.standin``;
3. every final policy through ``bench run`` on its task's track, and a small judges table
   (``bench judge``) on cartpole and lunarlander keyframes.

Writes ``figures.json`` and ``judges.md`` to the work directory and prints the curves::

    python plugins/rewards/benchmarks/reward_report.py [--quick] [--work DIR]

``--quick`` shrinks every budget to check the script in a minute or two.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _train(work: Path, name: str, **kwargs: Any) -> dict[str, Any]:
    from vla_bench_rewards.rl.train import TrainConfig, train

    out = work / name
    if (out / "training.json").exists():
        return dict(json.loads((out / "training.json").read_text()))
    print(f"== {name}", flush=True)
    return train(TrainConfig(**kwargs), out, progress=lambda line: print(line, flush=True))


def _bench_run(policy: str, checkpoint: Path | None, task: str, episodes: int, out: Path) -> Any:
    from harness.contract import PolicyConfig
    from harness.record import RunSettings
    from harness.results import load_run
    from harness.run import execute
    from harness.summary import task_summary

    if not (out / "episodes.parquet").exists():
        config = PolicyConfig(name=policy, checkpoint=str(checkpoint) if checkpoint else None)
        execute(config, task, RunSettings(episodes=episodes), out, ["reward_report"])
    run = load_run(out)
    return task_summary(run.episodes, run.steps())[0]


def _keyframe_runs(work: Path, quick: bool) -> dict[str, Path]:
    from harness.contract import PolicyConfig
    from harness.record import RunSettings
    from harness.run import execute

    runs = {}
    plan = [("cartpole", "scripted", 2 if quick else 4), ("cartpole", "random", 2 if quick else 8)]
    plan += [
        ("lunarlander", "scripted", 2 if quick else 6),
        ("lunarlander", "random", 2 if quick else 6),
    ]
    for task, policy, episodes in plan:
        out = work / "keyframes" / f"{task}-{policy}"
        if not (out / "episodes.parquet").exists():
            execute(
                PolicyConfig(name=policy),
                task,
                RunSettings(episodes=episodes, keyframes=5),
                out,
                [],
            )
        runs[f"{task}-{policy}"] = out
    return runs


def _judges(work: Path, tiny_dirs: dict[str, Path], quick: bool) -> list[dict[str, Any]]:
    from vla_bench_claude.standin import OpenAIStandIn, serve
    from vla_bench_rewards import board
    from vla_bench_rewards.cli import build_judge
    from vla_bench_rewards.evaluate import evaluate
    from vla_bench_rewards.probes import PROBES

    runs = _keyframe_runs(work, quick)
    cart = [runs["cartpole-scripted"], runs["cartpole-random"]]
    lander = [runs["lunarlander-scripted"], runs["lunarlander-random"]]
    os.environ.setdefault("OPENAI_API_KEY", "dry-run")
    standin = OpenAIStandIn()
    results = []
    with serve(standin) as url:
        jobs = [
            ("oracle", "", "success", lander),
            ("constant", "value=0.5", "success", lander),
            ("keyword", f"checkpoint={tiny_dirs['blip2']},max_new_tokens=8", "success", lander),
            ("vlm", f"base_url={url}/v1,model=stand-in", "success", lander),
            ("oracle", "", "progress", lander),
            ("keyword", f"checkpoint={tiny_dirs['blip2']},max_new_tokens=8", "progress", lander),
            ("oracle", "", "pole_angle", cart),
            ("constant", "value=45", "pole_angle", cart),
            ("llava", f"checkpoint={tiny_dirs['llava']},max_new_tokens=8", "pole_angle", cart),
            ("blip2", f"checkpoint={tiny_dirs['blip2']},max_new_tokens=8", "pole_angle", cart),
            ("vlm", f"base_url={url}/v1,model=stand-in", "pole_angle", cart),
        ]
        for name, args, probe, paths in jobs:
            out = work / "judges" / f"{name}-{probe}"
            judge = build_judge(name, args)
            try:
                result = evaluate(
                    judge,
                    PROBES[probe],
                    paths,
                    out,
                    config={"judge": name, "judge_args": args.replace(url, "<stand-in>")},
                )
            finally:
                judge.close()
            results.append({**result, "path": str(out)})
    (work / "judges.md").write_text(board.render(results, "md"))
    return results


def _eureka(work: Path, timesteps: int, eval_every: int) -> dict[str, Any]:
    from vla_bench_claude.standin import serve
    from vla_bench_rewards.eureka.loop import EurekaConfig, run_loop
    from vla_bench_rewards.eureka.standin import CodeWritingAnthropicStandIn

    out = work / "eureka"
    os.environ.setdefault("ANTHROPIC_API_KEY", "dry-run")
    standin = CodeWritingAnthropicStandIn(answers=["good"])
    print("== eureka (stand-in)", flush=True)
    with serve(standin) as url:
        config = EurekaConfig(
            task="cartpole_swing",
            llm="claude",
            llm_args=f"base_url={url},model=claude-haiku-4-5,max_cost=1",
            iterations=1,
            candidates=1,
            timesteps=timesteps,
            eval_every=eval_every,
            eval_episodes=5,
            screenshots=True,
            command=["reward_report.py"],
        )
        summary = run_loop(config, out, progress=lambda line: print(line, flush=True))
    result = json.loads((out / "iter_00/cand_0/result.json").read_text())
    return {"summary": summary, "candidate": result}


def main() -> None:
    """Run everything (skipping what the work directory already holds) and print figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/vla-bench-rewards-report"))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--dqn-steps", type=int, default=100_000)
    parser.add_argument("--ppo-steps", type=int, default=200_000)
    parser.add_argument("--judge-every", type=int, default=5)
    args = parser.parse_args()
    from vla_bench_rewards import tiny

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    dqn_steps = 2_000 if args.quick else args.dqn_steps
    ppo_steps = 2_048 if args.quick else args.ppo_steps
    dqn_every, ppo_every = max(1000, dqn_steps // 20), max(1024, ppo_steps // 20)
    tiny_dirs = {}
    for family, build in (("blip2", tiny.build_blip2), ("llava", tiny.build_llava)):
        tiny_dirs[family] = work / f"tiny-{family}"
        if not (tiny_dirs[family] / "config.json").exists():
            build(tiny_dirs[family])
    started = time.perf_counter()
    figures: dict[str, Any] = {"budgets": vars(args) | {"work": str(work)}}
    figures["dqn_env"] = _train(
        work, "dqn-lunarlander-env", algo="dqn", task="lunarlander", timesteps=dqn_steps,
        eval_every=dqn_every, eval_episodes=5,
    )  # fmt: skip
    figures["dqn_judge"] = _train(
        work, "dqn-lunarlander-keyword", algo="dqn", task="lunarlander", timesteps=dqn_steps,
        eval_every=dqn_every, eval_episodes=5, reward_judge="keyword",
        judge_args=f"captioner=blip2,checkpoint={tiny_dirs['blip2']},max_new_tokens=4",
        alpha=0.15, judge_every=args.judge_every,
    )  # fmt: skip
    figures["ppo_env"] = _train(
        work, "ppo-swing-env", algo="ppo", task="cartpole_swing", timesteps=ppo_steps,
        eval_every=ppo_every, eval_episodes=5,
    )  # fmt: skip
    figures["eureka"] = _eureka(work, ppo_steps, ppo_every)
    episodes = {"lunarlander": 4 if args.quick else 20, "cartpole_swing": 2 if args.quick else 10}
    figures["bench_run"] = {
        name: _bench_run("sb3", checkpoint, task, episodes[task], work / "runs" / name)
        for name, checkpoint, task in (
            ("dqn-env", work / "dqn-lunarlander-env", "lunarlander"),
            ("dqn-keyword", work / "dqn-lunarlander-keyword", "lunarlander"),
            ("ppo-env", work / "ppo-swing-env", "cartpole_swing"),
            ("ppo-eureka", work / "eureka" / "best", "cartpole_swing"),
        )
    }
    figures["judges"] = [
        {k: r[k] for k in ("judge", "probe", "scores", "tasks", "status")}
        for r in _judges(work, tiny_dirs, args.quick)
    ]
    figures["wall_s"] = time.perf_counter() - started
    (work / "figures.json").write_text(json.dumps(figures, indent=2, default=str))
    for key in ("dqn_env", "dqn_judge", "ppo_env"):
        curve = figures[key]["curve"]
        print(key, [(r["timesteps"], round(r["return_mean"], 1)) for r in curve])
    print(
        "eureka",
        [(r["timesteps"], r["return_mean"]) for r in figures["eureka"]["candidate"]["curve"]],
    )
    print(json.dumps(figures["bench_run"], indent=1, default=str)[:3000])
    print(f"wall {figures['wall_s']:.0f} s; figures in {work / 'figures.json'}")


if __name__ == "__main__":
    main()
