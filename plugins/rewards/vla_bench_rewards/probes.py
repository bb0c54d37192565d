"""Probes: the questions ``bench judge --probe`` asks, and where their true answers come from.

- ``success`` (one question per episode, on its keyframes): "has the task been accomplished
  by the last frame?" as a probability. Truth: the episode's recorded success. Scored by
  precision, recall, F1 and AUROC.
- ``progress`` (one question per keyframe): "how close is the task to done, 0 to 1?". Truth:
  the task's progress at that frame (below) and the return so far. Scored by Spearman's rank
  correlation with each.
- numeric probes (one question per keyframe), scored by mean absolute error, the number of
  distinct answers and Spearman's correlation with the truth:
  ``pole_angle`` (cartpole tasks; the ActionVLM report's LLaVA prompt, signed: left < 0),
  ``cart_position`` (cartpole tasks, metres, left < 0), ``snake_length`` (snake).

Task progress, what a frame shows of how well the task is going: LunarLander — Gymnasium's
own shaping potential (−100·distance to the pad − 100·speed − 100·|tilt| + 10 per leg down,
the quantity its per-step reward is the difference of); CartPole — the fraction of the
episode survived; CartPole swing — threshold touches so far; Snake — the snake's length;
any other task — the return so far.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from harness.keyframes import EpisodeKeyframes, Keyframe
from vla_bench_rewards.judges.base import Question

Truth = Callable[[EpisodeKeyframes, Keyframe, bool], float]
"""(episode, frame, episode succeeded) -> the true answer."""


@dataclass(frozen=True)
class Probe:
    """A question, when it is asked (once per episode or per keyframe) and its true answer."""

    name: str
    kind: Literal["binary", "ranking", "numeric"]
    per: Literal["episode", "frame"]
    question: Question
    truth: Truth
    tasks: tuple[str, ...] = ()
    """Tasks it applies to (empty: every task)."""
    description: str = ""

    def applies(self, task: str) -> bool:
        """Whether this probe can be asked about ``task``'s frames."""
        return not self.tasks or task in self.tasks


def lunar_potential(state: Mapping[str, float]) -> float:
    """Gymnasium LunarLander's shaping potential of a state (higher = closer to landed)."""
    return (
        -100.0 * math.hypot(state["x"], state["y"])
        - 100.0 * math.hypot(state["vx"], state["vy"])
        - 100.0 * abs(state["angle"])
        + 10.0 * state["left_leg"]
        + 10.0 * state["right_leg"]
    )


def task_progress(episode: EpisodeKeyframes, frame: Keyframe) -> float:
    """How well the task is going at ``frame`` (see the module docstring, per task)."""
    state = episode.named_state(frame)
    if episode.task == "lunarlander" and "x" in state:
        return lunar_potential(state)
    if episode.task == "cartpole":
        last = episode.frames[-1].step if episode.frames else 0
        return frame.step / max(last, 1)
    if episode.task == "cartpole_swing":
        return float(frame.info.get("touches", frame.ret))
    if episode.task == "snake" and "length" in state:
        return state["length"]
    return frame.ret


def _state(field: str, scale: float = 1.0) -> Truth:
    def truth(episode: EpisodeKeyframes, frame: Keyframe, success: bool) -> float:
        return episode.named_state(frame)[field] * scale

    return truth


CARTPOLES = ("cartpole", "cartpole_swing")

PROBES: dict[str, Probe] = {
    probe.name: probe
    for probe in (
        Probe(
            "success",
            "binary",
            "episode",
            Question(
                "These are frames of one episode, oldest first. Has the task been accomplished "
                "by the last frame? Give the probability, from 0 to 1, that it has.",
                "probability",
                "success",
                0.0,
                1.0,
            ),
            lambda episode, frame, success: float(success),
            description="episode success from its keyframes: precision, recall, F1, AUROC",
        ),
        Probe(
            "progress",
            "ranking",
            "frame",
            Question(
                "How close is the task to being accomplished in this frame, from 0 (far from "
                "it, or failing) to 1 (accomplished)?",
                "probability",
                "progress",
                0.0,
                1.0,
            ),
            lambda episode, frame, success: task_progress(episode, frame),
            description="per-frame progress: Spearman with task progress and the return so far",
        ),
        Probe(
            "pole_angle",
            "numeric",
            "frame",
            Question(
                "The image is about a pole sitting on a cart. Is the pole leaning left or "
                "right? Output the degree that it's leaning. Round the degree to the nearest "
                "whole number.",
                "number",
                "pole_angle",
                -90.0,
                90.0,
                unit="degrees",
                signed_by=("left", "right"),
            ),
            _state("pole_angle", 180.0 / math.pi),
            tasks=CARTPOLES,
            description="the pole's tilt in degrees (the ActionVLM LLaVA prompt): MAE, distinct",
        ),
        Probe(
            "cart_position",
            "numeric",
            "frame",
            Question(
                "How far is the cart from the centre of the track, in metres? The track ends "
                "2.4 m either side of the centre. Say whether it is left or right of centre.",
                "number",
                "cart_position",
                -2.4,
                2.4,
                unit="m",
                signed_by=("left", "right"),
            ),
            _state("cart_position"),
            tasks=CARTPOLES,
            description="the cart's position in metres: MAE, distinct answers",
        ),
        Probe(
            "snake_length",
            "numeric",
            "frame",
            Question(
                "How long is the green snake, counted in grid cells (head included)?",
                "number",
                "snake_length",
                0.0,
                100.0,
                unit="cells",
            ),
            _state("length"),
            tasks=("snake",),
            description="the snake's length in cells: MAE, distinct answers",
        ),
    )
}
"""Every probe by name."""


def get_probe(name: str) -> Probe:
    """The probe ``name``, or a one-line error listing the probes."""
    try:
        return PROBES[name]
    except KeyError:
        raise ValueError(
            f"unknown probe {name!r}; choose one of {', '.join(sorted(PROBES))}"
        ) from None
