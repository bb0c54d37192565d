"""The judge contract: a question about a few frames in, one number out, with its cost.

A *judge* answers a :class:`Question` about a :class:`Query` — frames of an episode, the task's
instruction and, if the judge is given it, the state written out as text — with an
:class:`Answer`: a success probability, a progress number, a numeric measurement (a pole's
angle) or, for rule-based judges, a scalar score. Judges are built by factories registered
with ``registry.add_judge(name, "module:factory")``; a factory takes the ``--judge-args``
options as strings (``f(options) -> Judge``) and raises ``ValueError`` naming a bad option.

The same answer serves two uses: ``bench judge`` scores it against the simulator's truth, and
``bench train --reward-judge`` mixes it into an RL reward as R = (1 - α)·R_env + α·R_judge.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

import numpy as np

QuestionKind = Literal["probability", "number", "score"]
"""What a question asks for: a probability in [0, 1], a number in the question's range, or a
judge's own scalar score (rule-based judges; comparable only by rank)."""


@dataclass(frozen=True)
class Question:
    """One question a judge is asked, with the name, range and unit of its answer."""

    text: str
    kind: QuestionKind
    field: str
    low: float
    high: float
    unit: str = ""
    signed_by: tuple[str, str] | None = None
    """For a signed quantity read from prose: the words meaning negative and positive (e.g.
    ("left", "right")); "leaning left 30 degrees" then reads as -30."""


@dataclass(frozen=True)
class Query:
    """What a judge sees: frames (oldest first, HxWx3 uint8), the instruction, the question.

    ``steps`` are the frames' step numbers. ``state_text`` is the state written out as text;
    a judge uses it only when built with ``state=1``. ``truth`` is the simulator's state by
    field name (plus ``success`` and ``return``): only privileged judges (the oracle) may read
    it, and the evaluator hands it to no other judge.
    """

    frames: tuple[np.ndarray, ...]
    instruction: str
    question: Question
    steps: tuple[int, ...] = ()
    state_text: str | None = None
    truth: Mapping[str, float] | None = None


@dataclass(frozen=True)
class Answer:
    """A judge's answer: ``value`` (None when none could be read, with ``error``) and costs."""

    value: float | None
    text: str = ""
    error: str = ""
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    model_s: float | None = None


class Judge(Protocol):
    """Answers questions about frames. ``kinds`` lists the question kinds it can answer."""

    name: str
    kinds: frozenset[str]
    privileged: bool

    def answer(self, query: Query) -> Answer:
        """One answer (never raises for a bad model output: that is an Answer with an error)."""
        ...

    def describe(self) -> dict[str, Any]:
        """What a judges-table row needs: model/checkpoint, weights kind, options."""
        ...

    def close(self) -> None:
        """Release the model or connection."""
        ...


@dataclass(frozen=True)
class Option:
    """One ``--judge-args`` option: type, default and meaning."""

    kind: type
    default: Any
    help: str


def parse_options(
    judge: str, given: Mapping[str, str], table: Mapping[str, Option], *, passthrough: bool = False
) -> tuple[dict[str, Any], dict[str, str]]:
    """Typed values of ``given`` for the options in ``table``; with ``passthrough`` the
    unknown ones are returned as strings (for a wrapped judge), else they are an error."""
    values = {name: opt.default for name, opt in table.items()}
    rest: dict[str, str] = {}
    for name, text in given.items():
        if name not in table:
            if passthrough:
                rest[name] = text
                continue
            close = difflib.get_close_matches(name, list(table), n=1)
            hint = f" — did you mean {close[0]!r}?" if close else ""
            known = ", ".join(sorted(table)) or "none"
            raise ValueError(f"unknown {judge} judge option {name!r}{hint} (options: {known})")
        opt = table[name]
        try:
            if opt.kind is bool:
                if text.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(text)
                values[name] = text.lower() in ("1", "true", "yes")
            else:
                values[name] = opt.kind(text)
        except ValueError:
            raise ValueError(
                f"{judge} judge option {name}={text!r} is not a valid {opt.kind.__name__} "
                f"({opt.help})"
            ) from None
    return values, rest


class JudgeBase:
    """Defaults for the optional parts of a judge."""

    name: str = ""
    kinds: frozenset[str] = frozenset({"probability", "number"})
    privileged: bool = False
    options_table: ClassVar[dict[str, Option]] = {}

    def describe(self) -> dict[str, Any]:
        """The judge's name and weights kind (subclasses add the model)."""
        return {"judge": self.name, "weights": "none"}

    def close(self) -> None:
        """Nothing to release by default."""


_NUMBER = re.compile(r"[-+−]?\d+(?:[.,]\d+)?(?:[eE][-+]?\d+)?\s*%?")
_YES = {"yes", "true", "succeeded", "success", "successful", "accomplished", "done"}
_NO = {"no", "false", "failed", "failure", "not"}
_WORDS = re.compile(r"[a-z]+")


def parse_answer(text: str, question: Question) -> tuple[float | None, str]:
    """Read a number answering ``question`` from a model's free text: (value, error).

    The first number in the text counts ("45 degrees" -> 45; "70%" or "70" -> 0.7 where a
    probability was asked);
    a probability may also be a yes/no word. A signed quantity (``signed_by``) takes its sign
    from the words: "leaning left, 30 degrees" -> -30 when ("left", "right") is given. Values
    outside the question's range are clipped to it.
    """
    lowered = text.strip().lower()
    match = _NUMBER.search(lowered.replace("−", "-"))
    value: float | None = None
    if match:
        token = match.group(0).replace(",", ".").strip()
        percent = token.endswith("%")
        value = float(token.rstrip("%").strip())
        # "70%", or a bare "70" where a probability was asked, is a percentage
        if question.kind == "probability" and (percent or 1.0 < value <= 100.0):
            value /= 100.0
    elif question.kind == "probability":
        words = set(_WORDS.findall(lowered))
        if words & _YES and not words & _NO:
            value = 1.0
        elif words & _NO:
            value = 0.0
    if value is None or not math.isfinite(value):
        shown = text.strip()[:80]
        return None, f"no number in the answer {shown!r}" if shown else "empty answer"
    if question.signed_by is not None:
        negative, positive = question.signed_by
        words = set(_WORDS.findall(lowered))
        if negative in words and positive not in words:
            value = -abs(value)
        elif positive in words and negative not in words:
            value = abs(value)
    return float(np.clip(value, question.low, question.high)), ""


def last_frames(query: Query, n: int) -> Sequence[np.ndarray]:
    """The last ``n`` frames of a query (all of them when ``n`` <= 0)."""
    return query.frames if n <= 0 else query.frames[-n:]
