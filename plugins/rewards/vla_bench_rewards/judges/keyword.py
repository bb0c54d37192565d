"""``keyword``: the ActionVLM report's keyword-rule reward on top of a captioner.

The report turned BLIP-2 captions of LunarLander frames into a reward R_v by rules, and mixed
it with the environment's reward as R = (1 − α)·R_env + α·R_v (α = 0.15). The rules it lists
(section 3.1; it elides the rest with "..."), applied once each when a word appears in the
caption (whole words, case-insensitive):

    +1.25  "center" or "middle"        +2.75  "inside" or "within"
    +0.45  "on" or "landed"            +0.75  "stable"
    −1.75  "outside" or "away"

It is a documented baseline, not a recommendation: "on" matches most English sentences. The
judge answers with this score (kind ``score``): ``bench judge`` ranks it (AUROC, Spearman)
and thresholds it at 0 for success; ``bench train --reward-judge keyword`` uses it as R_v.

Options: ``captioner`` (``blip2``, default, or ``llava``), ``prompt`` (default: the report's
third prompt, which it found the most useful), and the captioner's own options
(``checkpoint``, ``device``, ``dtype``, ``max_new_tokens``), passed through.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from vla_bench_rewards.judges.base import Answer, JudgeBase, Option, Query, parse_options

RULES: tuple[tuple[tuple[str, ...], float], ...] = (
    (("center", "middle"), 1.25),
    (("inside", "within"), 2.75),
    (("on", "landed"), 0.45),
    (("stable",), 0.75),
    (("outside", "away"), -1.75),
)
"""(words, reward) as listed in the ActionVLM report, section 3.1."""

REPORT_PROMPT = (
    "Analyze the landing situation of the space shuttle in terms of its position relative to "
    "the snow surface inside the flags."
)

_WORD = re.compile(r"[a-z]+")


def keyword_reward(caption: str) -> tuple[float, list[str]]:
    """The rule score of a caption and the rules' words that fired."""
    words = set(_WORD.findall(caption.lower()))
    score, fired = 0.0, []
    for keys, reward in RULES:
        hit = [k for k in keys if k in words]
        if hit:
            score += reward
            fired.append(hit[0])
    return score, fired


class KeywordJudge(JudgeBase):
    """A captioner's text scored by :data:`RULES`."""

    name = "keyword"
    kinds = frozenset({"score"})
    options_table: ClassVar[dict[str, Option]] = {
        "captioner": Option(str, "blip2", "blip2 or llava"),
        "prompt": Option(str, REPORT_PROMPT, "what the captioner is asked about each frame"),
    }

    def __init__(self, options: Mapping[str, str]) -> None:
        from vla_bench_rewards.judges.hf import HFJudge

        values, rest = parse_options("keyword", options, self.options_table, passthrough=True)
        if values["captioner"] not in ("blip2", "llava"):
            raise ValueError(
                f"keyword judge option captioner={values['captioner']!r}: choose blip2 or llava"
            )
        self.prompt = values["prompt"]
        self.captioner = HFJudge(values["captioner"], rest)

    def answer(self, query: Query) -> Answer:
        """Caption the last frame and score it; the caption is the answer's text."""
        if not query.frames:
            return Answer(None, error="the query holds no frame")
        caption, seconds = self.captioner.generate(query.frames[-1], self.prompt)
        score, fired = keyword_reward(caption)
        return Answer(score, text=f"{caption} [{', '.join(fired)}]", model_s=seconds)

    def describe(self) -> dict[str, Any]:
        """The captioner's description, the prompt and the rules."""
        return {
            **self.captioner.describe(),
            "judge": self.name,
            "captioner": self.captioner.name,
            "prompt": self.prompt,
            "rules": [[list(keys), reward] for keys, reward in RULES],
        }

    def close(self) -> None:
        """Release the captioner."""
        self.captioner.close()
