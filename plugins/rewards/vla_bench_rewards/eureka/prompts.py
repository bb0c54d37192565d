"""What the reward-writing LLM is told and given: the task, the documented inputs, feedback.

The reward function's contract (the only inputs it gets, as a JSON dict after every step):
the task's state fields by name, ``step`` (steps taken in the episode) and ``fell`` (1 when
this step ended the episode in failure), plus, on ``cartpole_swing``, the ActionVLM
report's three variables — ``swing_threshold`` (1.0 m), ``has_touched_left_threshold`` and
``has_touched_right_threshold`` (1 when that threshold is the one touched last, so the other
one is next). It returns ``(reward, {component: value})``.

Fitness — how a trained policy is scored — is the task's own return from the simulator
(ground truth): on ``cartpole_swing`` exactly the report's definition, +1 per step survived,
+10 per threshold touch, +100 per full swing, up to 2000 steps (above 2000: balancing while
moving). The reward code never sees it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from vla_bench_claude import prompt as P

from harness.contract import TaskSpec
from vla_bench_rewards.rl.env import TaskEnv

SWING_INPUTS = {
    "swing_threshold": "the distance of each threshold from the centre, in metres (1.0)",
    "has_touched_left_threshold": "1 if the left threshold (x = -1) is the one touched last",
    "has_touched_right_threshold": "1 if the right threshold (x = +1) is the one touched last",
}


def documented_inputs(spec: TaskSpec) -> dict[str, str]:
    """Every input the reward function gets, with its meaning."""
    out = {
        name: f"state field of {spec.name} (see the task description)" for name in spec.state_fields
    }
    out["step"] = f"steps taken so far in this episode (at most {spec.max_steps})"
    out["fell"] = "1 if this step ended the episode in failure, else 0"
    if spec.name == "cartpole_swing":
        out.update(SWING_INPUTS)
    return out


def inputs(env: TaskEnv, failed: bool) -> dict[str, float]:
    """The documented inputs for the env's current state (see :func:`documented_inputs`)."""
    state = env.named_state()
    state["step"] = float(env.game.steps)
    state["fell"] = float(failed)
    if env.task_spec.name == "cartpole_swing":
        last = state.get("last_threshold", 0.0)
        state["swing_threshold"] = 1.0
        state["has_touched_left_threshold"] = float(last < 0)
        state["has_touched_right_threshold"] = float(last > 0)
    return state


def fitness_text(spec: TaskSpec) -> str:
    """How a trained policy is scored, in words."""
    if spec.name == "cartpole_swing":
        return (
            "+1 per step the pole stays up, +10 per threshold touch (alternating sides), "
            "+100 per full swing (there and back), over at most 2000 steps; above 2000 means "
            "balancing while moving"
        )
    return f"the task's own return (the sum of its reward over at most {spec.max_steps} steps)"


def system_text(spec: TaskSpec, timesteps: int) -> str:
    """The system prompt: the job, the function's contract, the task and how it is scored."""
    lines = "\n".join(f"- {name}: {meaning}" for name, meaning in documented_inputs(spec).items())
    return (
        "You write reward functions for reinforcement learning. Write a Python function\n\n"
        "def compute_reward(state: dict[str, float], action: int) -> tuple[float, dict[str, "
        "float]]:\n\n"
        "It is called after every step with the inputs below and returns the total reward and "
        "its components (component name -> value; the total should be their sum). `math` and "
        "`numpy` (as `np`) are already imported; use no other module, no files and no network: "
        "it runs in a sandbox and each call must return within a second.\n\n"
        f"Task {spec.name}: {spec.description}\nGoal: {spec.instruction}\n"
        f"Actions: {spec.action_space.description}\n"
        f"Episodes last at most {spec.max_steps} steps at {spec.control_hz:g} Hz.\n\n"
        f"Inputs (state[name]):\n{lines}\n\n"
        f"A policy is trained with PPO (Stable-Baselines3 defaults) for {timesteps} steps on "
        f"your reward alone, then scored by the task's fitness: {fitness_text(spec)}.\n"
        "Answer with the complete function in one ```python block."
    )


def first_parts() -> list[P.Part]:
    """The first iteration's request."""
    return [P.Part("Write the reward function.")]


def _series(name: str, values: Sequence[float]) -> str:
    if not values:
        return f"{name}: (no data)"
    shown = ", ".join(f"{v:.3g}" for v in values)
    return (
        f"{name}: [{shown}], max {max(values):.3g}, mean {float(np.mean(values)):.3g}, "
        f"min {min(values):.3g}"
    )


def feedback_parts(
    iteration: int,
    best: Mapping[str, Any],
    code: str,
    failures: Sequence[tuple[str, str]],
    eval_every: int,
    screenshots: Sequence[tuple[int, bytes]] = (),
) -> list[P.Part]:
    """The reflection: the best code so far, its training feedback, failures, screenshots."""
    curve = best.get("curve") or []
    names = sorted({name for row in curve for name in row.get("components", {})})
    series = [
        _series(f"component {name}", [row["components"].get(name, 0.0) for row in curve])
        for name in names
    ]
    series.append(_series("fitness (task score)", [row["return_mean"] for row in curve]))
    series.append(_series("episode length", [row["steps_mean"] for row in curve]))
    text = (
        f"Iteration {iteration}. The fittest reward function so far ({best['id']}, fitness "
        f"{best['fitness']:.1f}):\n```python\n{code.strip()}\n```\n"
        f"We trained a policy on it and, every {eval_every} steps, recorded each reward "
        "component's mean value per step since the previous record, and the fitness and "
        "length of evaluation episodes:\n" + "\n".join(series)
    )
    if failures:
        text += "\nCandidates that failed:\n" + "\n".join(
            f"- {cid}: {why}" for cid, why in failures
        )
    parts = [P.Part(text)]
    if screenshots:
        parts.append(
            P.Part(
                "Frames of one evaluation episode of that policy (first, 25 %, 50 %, 75 %, "
                "last); describe what the agent does before you change the reward."
            )
        )
        for step, png in screenshots:
            parts += [P.Part(f"Step {step}:"), P.Part(png=png)]
    parts.append(
        P.Part(
            "Analyse the feedback: a component that barely changes is not being optimised; "
            "one much larger than the others dominates; a fitness that does not grow means "
            "the reward does not lead to the goal. Then write an improved reward function, "
            "complete, in one ```python block."
        )
    )
    return parts


_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)


def extract_code(text: str) -> str | None:
    """The reward code in an answer: the last fenced block defining ``compute_reward``."""
    blocks = [b for b in _FENCE.findall(text) if "def compute_reward" in b]
    if blocks:
        return str(blocks[-1]).strip() + "\n"
    at = text.find("def compute_reward")
    return text[at:].strip() + "\n" if at >= 0 else None
