"""The agents' API stand-ins (``vla_bench_claude.standin``), answering with reward code.

The stand-ins speak the real Anthropic / OpenAI wire formats; these subclasses change only
the prose they answer a tool-less request with: the next of a list of scripted answers,
each a reward function in a ```python block (the last one repeats). They are not models:
the "good" candidate below was written by hand for ``cartpole_swing``, and a loop run
against a stand-in measures the machinery (sandbox, training, selection, reflection, cost),
never an LLM's skill. From a shell::

    python -m vla_bench_rewards.eureka.standin anthropic --port 8765 --answers good,raising &
    ANTHROPIC_API_KEY=dry-run bench eureka --llm claude \\
        --llm-args base_url=http://127.0.0.1:8765,model=claude-haiku-4-5 ...
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from vla_bench_claude.standin import AnthropicStandIn, OpenAIStandIn, StandIn, serve

GOOD = """```python
def compute_reward(state, action):
    # head for the threshold that was not touched last, keep the pole up, never fall
    side = -1.0 if state["has_touched_right_threshold"] else 1.0
    heading = 1.0 if side * state["swing_threshold"] > state["cart_position"] else -1.0
    upright = math.cos(state["pole_angle"] * 5.0)
    progress = 0.5 * heading * state["cart_velocity"]
    swing = 2.0 * state["swings"] / (1.0 + state["step"] / 100.0)
    fall = -20.0 * state["fell"]
    parts = {"upright": upright, "progress": progress, "swing": swing, "fall": fall}
    return sum(parts.values()), parts
```"""

CANDIDATES = {
    "good": "A reward that moves the cart towards the next threshold while upright:\n" + GOOD,
    "raising": (
        "```python\ndef compute_reward(state, action):\n"
        '    return state["no_such_input"] * 2.0, {}\n```'
    ),
    "loop": (
        "```python\ndef compute_reward(state, action):\n"
        "    total = 0.0\n    while True:\n        total += 1.0\n```"
    ),
    "nan": (
        "```python\ndef compute_reward(state, action):\n"
        '    return float("nan"), {"upright": float("nan")}\n```'
    ),
}
"""Scripted answers by name: a working reward, one that raises, one that never returns,
one that returns NaN."""


class _CodeWriter:
    """Answers a tool-less request with the next scripted answer."""

    def __init__(self, *, answers: Iterable[str] = ("good",), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        unknown = [a for a in answers if a not in CANDIDATES]
        if unknown:
            raise ValueError(f"unknown scripted answers {unknown}; known: {sorted(CANDIDATES)}")
        self.scripted: deque[str] = deque(answers)

    def _prose(self, texts: list[str], *, with_action: bool) -> str:
        name = self.scripted.popleft() if len(self.scripted) > 1 else self.scripted[0]
        return CANDIDATES[name]


class CodeWritingAnthropicStandIn(_CodeWriter, AnthropicStandIn):
    """The Anthropic Messages API stand-in, writing scripted reward code."""


class CodeWritingOpenAIStandIn(_CodeWriter, OpenAIStandIn):
    """The OpenAI Chat Completions stand-in, writing scripted reward code."""


def main(argv: list[str] | None = None) -> None:
    """Serve a code-writing stand-in on 127.0.0.1 until its request or time limit."""
    parser = argparse.ArgumentParser(description="Serve an LLM API stand-in that writes code.")
    parser.add_argument("api", choices=["anthropic", "openai"])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--answers", default="good", help="e.g. good,raising,loop,nan")
    parser.add_argument("--max-requests", type=int, default=1000)
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    args = parser.parse_args(argv)
    cls = CodeWritingAnthropicStandIn if args.api == "anthropic" else CodeWritingOpenAIStandIn
    standin: StandIn = cls(answers=[a for a in args.answers.split(",") if a])
    with serve(standin, port=args.port, max_requests=args.max_requests) as url:
        print(f"{args.api} code-writing stand-in at {url}", flush=True)
        deadline = time.monotonic() + args.max_seconds
        with contextlib.suppress(KeyboardInterrupt):
            while time.monotonic() < deadline and len(standin.requests) < args.max_requests:
                time.sleep(0.2)


if __name__ == "__main__":
    main()
