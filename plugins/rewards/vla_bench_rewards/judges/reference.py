"""Two reference judges that check the scoring itself: ``oracle`` and ``constant``.

``oracle`` is privileged: it reads the simulator's truth that the evaluator hands only to it
and answers perfectly (success 1/0, progress = the truth, numbers exact), so every metric of
``bench judge`` must come out perfect for it. ``constant`` answers one number whatever it is
shown (``value=``, default 0.5): its AUROC is 0.5, its rank correlations undefined and it
gives one distinct answer — the failure mode the ActionVLM report saw in LLaVA-7B ("45 or 30
degrees whatever the angle").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from vla_bench_rewards.judges.base import Answer, JudgeBase, Option, Query, parse_options


class OracleJudge(JudgeBase):
    """Answers from the simulator's truth (privileged; never ranked with real judges)."""

    name = "oracle"
    kinds = frozenset({"probability", "number", "score"})
    privileged = True

    def __init__(self, options: Mapping[str, str]) -> None:
        parse_options("oracle", options, {})

    def answer(self, query: Query) -> Answer:
        """The true value of the question's field (``success``, ``progress``, a state field)."""
        truth = query.truth or {}
        field = query.question.field
        if field not in truth:
            return Answer(None, error=f"the oracle has no truth for {field!r}")
        return Answer(float(truth[field]), text="oracle")

    def describe(self) -> dict[str, Any]:
        """A scripted reference, like the tasks' scripted experts."""
        return {"judge": self.name, "weights": "scripted", "privileged": True}


class ConstantJudge(JudgeBase):
    """Answers ``value`` to every question."""

    name = "constant"
    kinds = frozenset({"probability", "number", "score"})
    options_table: ClassVar[dict[str, Option]] = {
        "value": Option(float, 0.5, "the answer given to every question"),
    }

    def __init__(self, options: Mapping[str, str]) -> None:
        values, _ = parse_options("constant", options, self.options_table)
        self.value = float(values["value"])

    def answer(self, query: Query) -> Answer:
        """Always ``value``."""
        return Answer(self.value, text=f"{self.value:g}")

    def describe(self) -> dict[str, Any]:
        """The constant it answers."""
        return {"judge": self.name, "weights": "none", "value": self.value}
