"""The Eureka loop: generate reward code → train PPO on it → score by fitness → reflect.

Per iteration the LLM writes ``candidates`` reward functions (one request each, the same
prompt); each runs in its own sandbox (:mod:`.sandbox`) while PPO trains on it for
``timesteps`` steps; every ``eval_every`` steps the current greedy policy plays
``eval_episodes`` held-out episodes scored by the task's fitness (ground truth, computed in
this trusted process; the sandbox never sees it), and the reward components' per-step means
are recorded. A candidate's fitness is its final evaluation. The fittest so far is fed back
(:func:`.prompts.feedback_parts`) with its code, the component breakdown, the failures and,
with ``--screenshots``, five frames of one of its evaluation episodes.

The run directory (every file written atomically; re-running the same command resumes: a
stored LLM answer is never paid for twice, a candidate with ``result.json`` is not retrained)::

    eureka.json                     config, status, per-iteration best, spent USD
    iter_NN/prompt.json             what the LLM was sent (images as file names)
    iter_NN/screenshots/*.png       the frames shown in that prompt
    iter_NN/cand_K/answer.json      the LLM's answer, tokens and cost
    iter_NN/cand_K/reward.py        the extracted code
    iter_NN/cand_K/result.json      ok/failed (and why), fitness curve, components, sandbox
    iter_NN/cand_K/policy/          the trained policy (an sb3 checkpoint)
    iter_NN/cand_K/scratch/         the sandbox's only writable directory (its stderr.txt)
    best/                           the fittest policy (sb3 checkpoint: bench run --policy sb3)
    best_run/                       a bench run of it on the task's track (eval_episodes)

``max_cost`` (in ``--llm-args``) holds across the whole loop, resumes included: the ledger
starts at what the stored answers cost.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vla_bench_claude import prompt as P

from harness.contract import BudgetExceeded, parse_key_values
from harness.results import atomic_write_bytes, atomic_write_json
from vla_bench_rewards.eureka import prompts
from vla_bench_rewards.eureka.sandbox import CandidateFailed, Limits, RewardSandbox

STATE_FILE = "eureka.json"
SCREENSHOT_FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class EurekaConfig:
    """One ``bench eureka`` invocation (see :meth:`identity` for what must match to resume)."""

    task: str
    llm: str
    llm_args: str = ""
    iterations: int = 7
    candidates: int = 3
    timesteps: int = 300_000
    eval_every: int = 10_000
    eval_episodes: int = 5
    screenshots: bool = False
    seed: int = 0
    limits: Limits = field(default_factory=Limits)
    command: list[str] = field(default_factory=list)

    def identity(self) -> dict[str, Any]:
        """What must match to resume: everything but the iteration count, the command and
        the LLM client's transport options (endpoint, budget, timeouts) — its model counts."""
        out = asdict(self)
        for key in ("iterations", "command", "llm_args"):
            out.pop(key)
        out["llm_model"] = parse_key_values(self.llm_args, "--llm-args").get("model")
        return out


Progress = Callable[[str], None]


def run_loop(config: EurekaConfig, out: Path, progress: Progress | None = None) -> dict[str, Any]:
    """Run (or resume) the loop into ``out``; returns the stored summary."""
    from harness.plugins import registry
    from vla_bench_rewards.judges.api import build_agent

    say = progress or (lambda line: None)
    spec = registry().build_task(config.task).spec
    if not spec.action_space.discrete:
        raise ValueError(f"task {config.task!r} is not discrete; the loop trains discrete tasks")
    state = _resume(out, config)
    agent = build_agent(
        config.llm, parse_key_values(config.llm_args, "--llm-args"), max_tokens="4096"
    )
    agent.spending.add(_stored_cost(out))
    system = prompts.system_text(spec, config.timesteps)
    status, detail = "complete", None
    try:
        for iteration in range(config.iterations):
            folder = out / f"iter_{iteration:02d}"
            parts = _prompt(config, out, iteration, state)
            _write_prompt(folder, system, parts)
            results = []
            for k in range(config.candidates):
                cand = folder / f"cand_{k}"
                result = _candidate(config, agent, system, parts, cand, iteration, k, say)
                results.append(result)
            ok = [r for r in results if r["status"] == "ok"]
            best_here = max(ok, key=lambda r: r["fitness"]) if ok else None
            state["iterations"][iteration] = {
                "best": best_here["id"] if best_here else None,
                "fitness": best_here["fitness"] if best_here else None,
                "failed": [r["id"] for r in results if r["status"] != "ok"],
            }
            if best_here and (
                state["best"] is None or best_here["fitness"] > state["best"]["fitness"]
            ):
                state["best"] = {k: best_here[k] for k in ("id", "fitness", "folder")}
            state["spent_usd"] = agent.spending.usd
            _save(out, config, state, "running", None)
            say(
                f"iteration {iteration}: best {best_here['id'] if best_here else 'none'} "
                f"(fitness {best_here['fitness'] if best_here else float('nan'):.1f}); "
                f"spent ${agent.spending.usd:.4f}"
            )
    except BudgetExceeded as exc:
        status, detail = "stopped", f"budget reached: {exc}"
    finally:
        agent.close()
    state["spent_usd"] = agent.spending.usd
    if state["best"] is not None:
        state["best"]["checkpoint"] = str(_publish_best(config, out, state["best"], say))
    return _save(out, config, state, status, detail)


def _resume(out: Path, config: EurekaConfig) -> dict[str, Any]:
    """A fresh state, after checking a stored run is this one: the loop rebuilds the rest
    from the stored candidates, in order, so every prompt is the one first sent. A new run
    marks ``out`` as its own first; a non-empty ``out`` that is no eureka run is refused,
    since publishing the best policy replaces ``best/`` and ``best_run/`` in it."""
    path = out / STATE_FILE
    state: dict[str, Any] = {"iterations": {}, "best": None, "spent_usd": 0.0}
    if path.exists():
        stored = json.loads(path.read_text())
        if stored.get("identity") != json.loads(json.dumps(config.identity())):
            raise ValueError(
                f"{out} holds another eureka run ({stored.get('identity')}); pass the same "
                f"arguments to resume it, or a new --out"
            )
        return state
    if out.is_file() or (out.is_dir() and any(out.iterdir())):
        raise ValueError(
            f"{out} is not empty and holds no eureka run ({STATE_FILE}); pass a new or empty --out"
        )
    _save(out, config, state, "running", None)
    return state


def _stored_cost(out: Path) -> float:
    return sum(
        float(json.loads(p.read_text()).get("cost_usd", 0.0))
        for p in out.glob("iter_*/cand_*/answer.json")
    )


def _save(
    out: Path, config: EurekaConfig, state: dict[str, Any], status: str, detail: str | None
) -> dict[str, Any]:
    doc = {
        "schema": 1,
        "status": status,
        "status_detail": detail,
        "identity": config.identity(),
        "config": asdict(config),
        "iterations": {str(k): v for k, v in sorted(state["iterations"].items())},
        "best": state["best"],
        "spent_usd": state["spent_usd"],
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    atomic_write_json(out / STATE_FILE, doc)
    return doc


def _prompt(config: EurekaConfig, out: Path, iteration: int, state: dict[str, Any]) -> list[P.Part]:
    best = state["best"]
    if iteration == 0 or best is None:
        return prompts.first_parts()
    best_result = json.loads((Path(out) / best["folder"] / "result.json").read_text())
    code = (Path(out) / best["folder"] / "reward.py").read_text()
    previous = out / f"iter_{iteration - 1:02d}"
    failures = [
        (r["id"], r["reason"])
        for p in sorted(previous.glob("cand_*/result.json"))
        if (r := json.loads(p.read_text()))["status"] != "ok"
    ]
    shots: list[tuple[int, bytes]] = []
    if config.screenshots:
        shots = _screenshots(config, out / best["folder"], out / f"iter_{iteration:02d}")
    return prompts.feedback_parts(iteration, best_result, code, failures, config.eval_every, shots)


def _screenshots(config: EurekaConfig, candidate: Path, folder: Path) -> list[tuple[int, bytes]]:
    """Frames of the policy's first evaluation episode (replayed; stored as PNGs)."""
    from vla_bench_rewards.rl.checkpoint import load_policy
    from vla_bench_rewards.rl.env import EVAL_SEED_BASE, TaskEnv, rollout, screenshots

    shots_dir = folder / "screenshots"
    stored = sorted(shots_dir.glob("*.png"))
    if stored:
        return [(int(p.stem), p.read_bytes()) for p in stored]
    policy, _, _ = load_policy(candidate / "policy")
    env = TaskEnv(config.task, seed=config.seed, render=True)
    try:
        _, _, steps = rollout(policy, env, EVAL_SEED_BASE)
        frames = screenshots(policy, env, EVAL_SEED_BASE, steps, SCREENSHOT_FRACTIONS)
    finally:
        env.close()
    out = []
    for step, frame in frames:
        png = P.encode_png(frame)
        atomic_write_bytes(shots_dir / f"{step:06d}.png", png)
        out.append((step, png))
    return out


def _write_prompt(folder: Path, system: str, parts: list[P.Part]) -> None:
    shown = [
        {"text": part.text} if part.png is None else {"image": f"{len(part.png)} bytes of PNG"}
        for part in parts
    ]
    atomic_write_json(folder / "prompt.json", {"system": system, "parts": shown})


def _candidate(
    config: EurekaConfig,
    agent: Any,
    system: str,
    parts: list[P.Part],
    folder: Path,
    iteration: int,
    k: int,
    say: Progress,
) -> dict[str, Any]:
    """Ask for (or reuse) one candidate's code, train on it, store and return its result."""
    from vla_bench_rewards.judges.api import complete_text

    cid = f"iter_{iteration:02d}/cand_{k}"
    done = folder / "result.json"
    if done.exists():
        return dict(json.loads(done.read_text()))
    answer_path = folder / "answer.json"
    if answer_path.exists():
        answer = json.loads(answer_path.read_text())
    else:
        reply, cost = complete_text(agent, system, parts)
        answer = {
            "text": reply.text,
            "cost_usd": cost,
            "input_tokens": reply.usage.prompt_tokens,
            "output_tokens": reply.usage.output_tokens,
            "stop_reason": reply.stop_reason,
        }
        atomic_write_json(answer_path, answer)
    code = prompts.extract_code(answer["text"])
    result: dict[str, Any] = {"id": cid, "folder": f"iter_{iteration:02d}/cand_{k}"}
    if code is None:
        result.update(status="failed", reason="the answer holds no compute_reward function")
    else:
        atomic_write_bytes(folder / "reward.py", code.encode())
        result.update(_train(config, code, folder, say, cid))
    atomic_write_json(done, result)
    fitness = result.get("fitness")
    say(
        f"  {cid}: "
        + (f"fitness {fitness:.1f}" if result["status"] == "ok" else f"failed: {result['reason']}")
    )
    return result


def _train(
    config: EurekaConfig, code: str, folder: Path, say: Progress, cid: str
) -> dict[str, Any]:
    """PPO on the candidate's reward in its sandbox; the fitness curve; the policy."""
    from vla_bench_rewards.rl.checkpoint import CheckpointMeta, save_policy
    from vla_bench_rewards.rl.env import FunctionReward, TaskEnv
    from vla_bench_rewards.rl.train import evaluate_policy, hyperparams, learn, make_model

    start = time.perf_counter()
    scratch = folder / "scratch"
    if scratch.exists():
        shutil.rmtree(scratch)  # a resumed candidate trains from scratch, in a clean sandbox
    try:
        box = RewardSandbox(code, scratch, config.limits)
    except CandidateFailed as exc:
        return {"status": "failed", "reason": exc.reason, "sandbox": {}}
    env = TaskEnv(config.task, seed=config.seed)
    eval_env = TaskEnv(config.task, seed=config.seed)
    shaped = FunctionReward(env, box, prompts.inputs)
    curve: list[dict[str, Any]] = []
    model = make_model("ppo", shaped, config.task, config.seed, config.timesteps)

    def evaluate(current: Any, steps: int) -> dict[str, Any]:
        row = {
            "timesteps": steps,
            **evaluate_policy(current.policy, eval_env, config.eval_episodes),
        }
        row.update(shaped.stats.take(), wall_s=time.perf_counter() - start)
        curve.append(row)
        return row

    try:
        learn(model, config.timesteps, config.eval_every, evaluate)
    except CandidateFailed as exc:
        return {
            "status": "failed",
            "reason": exc.reason,
            "curve": curve,
            "sandbox": box.enforced,
            "stderr": box.stderr_tail(),
        }
    finally:
        box.close()
        env.close()
        eval_env.close()
    meta = CheckpointMeta(
        algo="ppo",
        task=config.task,
        task_version=env.task_spec.version,
        observation_dim=len(env.task_spec.state_fields),
        n_actions=len(env.task_spec.action_space.names),
        policy_kwargs=hyperparams("ppo", config.task).get("policy_kwargs", {}),
    )
    training = {
        "origin": "trained",
        "algo": "ppo",
        "task": config.task,
        "timesteps": int(model.num_timesteps),
        "seed": config.seed,
        "reward": {"kind": "eureka", "candidate": cid},
        "curve": curve,
    }
    save_policy(folder / "policy", model.policy, meta, training)
    return {
        "status": "ok",
        "fitness": curve[-1]["return_mean"],
        "curve": curve,
        "calls": box.calls,
        "train_s": time.perf_counter() - start,
        "sandbox": box.enforced,
    }


def _publish_best(config: EurekaConfig, out: Path, best: dict[str, Any], say: Progress) -> Path:
    """Copy the fittest policy to ``best/`` and run it on the task's track into ``best_run/``."""
    from harness.contract import PolicyConfig
    from harness.record import RunSettings
    from harness.run import execute

    target = out / "best"
    source = out / best["folder"] / "policy"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    run_dir = out / "best_run"
    if run_dir.exists():
        shutil.rmtree(run_dir)  # the best may have changed since the last publication
    report = execute(
        PolicyConfig(name="sb3", checkpoint=str(target)),
        config.task,
        RunSettings(episodes=config.eval_episodes, seed=config.seed),
        run_dir,
        ["bench", "run", "--policy", "sb3", "--policy-args", f"checkpoint={target}",
         "--task", config.task, "--episodes", str(config.eval_episodes)],
    )  # fmt: skip
    say(f"best policy {best['id']}: bench run -> {run_dir} ({report.status})")
    return target
