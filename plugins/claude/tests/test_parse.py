"""The answer decoders: tool input first, the free-text fallback second."""

from __future__ import annotations

import numpy as np
import pytest
from vla_bench_claude.parse import match_name, parse_text, parse_tool_input
from vla_bench_claude.pricing import ANTHROPIC_PRICES, Price, Usage, price_for

from harness.contract import EE_DELTA_7D, ActionSpace, with_bounds

LANDER = ActionSpace(
    "lander",
    ("do nothing", "fire left engine", "fire main engine", "fire right engine"),
    discrete=True,
)
CART = ActionSpace("cart", ("do nothing", "push cart left", "push cart right"), discrete=True)
ARM = with_bounds(EE_DELTA_7D, [-0.05] * 6 + [-1.0], [0.05] * 6 + [1.0])

# The answer quoted in the ActionVLM report (Figure 5), apostrophes and all.
PAPER_ANSWER = (
    "Let's analyze the situation: 1. Position: You're slightly left of center which is good as "
    "you're close to the landing zone 2. Horizontal speed: Moving left at 0.55, which needs to "
    "be slowed down ... The slight counterclockwise rotation isn't severe enough to prioritize "
    "correcting it over managing your horizontal velocity. 'fire main'"
)


def label(decoded) -> str:
    assert decoded.ok, decoded.error
    return decoded.label


def test_the_reports_quoted_answer_is_read() -> None:
    decoded = parse_text(PAPER_ANSWER, LANDER)
    assert label(decoded) == "fire main engine"
    assert decoded.actions is not None and decoded.actions.tolist() == [[2.0]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('I choose "push cart right".', "push cart right"),
        ("The answer is `push cart left`", "push cart left"),
        ("Best move: (push cart right)", "push cart right"),
        ("Answer: \u2018push cart left\u2019", "push cart left"),
        ('Not \'push cart left\' but... final: {"action": "push cart right"}', "push cart right"),
        ("It's leaning right, so I'll push cart right now.", "push cart right"),
        ("'left' looks wrong; 'push right' it is", "push cart right"),
    ],
)
def test_free_text_variants(text: str, expected: str) -> None:
    assert label(parse_text(text, CART)) == expected


@pytest.mark.parametrize("text", ["I am not sure.", "'fire' something", ""])
def test_free_text_without_a_clear_action_fails(text: str) -> None:
    decoded = parse_text(text, LANDER)
    assert not decoded.ok and decoded.actions is None and decoded.error


def test_match_name_needs_a_unique_action() -> None:
    assert match_name("fire main", LANDER.names) == 2
    assert match_name("FIRE-Main engine!", LANDER.names) == 2
    assert match_name("fire", LANDER.names) is None  # three engines
    assert match_name("engine", LANDER.names) is None


def test_tool_input_must_name_an_allowed_action_exactly() -> None:
    assert label(parse_tool_input({"action": "Fire Main Engine"}, LANDER)) == "fire main engine"
    assert not parse_tool_input({"action": "fire main"}, LANDER).ok  # off the enum
    assert not parse_tool_input({"action": "do a barrel roll"}, LANDER).ok
    assert not parse_tool_input({"reasoning": "no action"}, LANDER).ok
    assert not parse_tool_input(["fire main engine"], LANDER).ok
    assert label(parse_tool_input('{"action": "push cart left"}', CART)) == "push cart left"
    cut = parse_tool_input('{"action": "push ca', CART)
    assert not cut.ok and "JSON" in cut.error


def test_continuous_answers_are_clipped_and_checked() -> None:
    values = dict.fromkeys(ARM.names, 0.01) | {"dx": 0.5, "gripper": -3}
    decoded = parse_tool_input(values, ARM)
    assert decoded.ok and decoded.clipped
    assert decoded.actions is not None and decoded.actions.shape == (1, 7)
    assert decoded.actions[0, 0] == 0.05 and decoded.actions[0, 6] == -1.0
    assert not parse_tool_input({"dx": 0.0}, ARM).ok  # missing fields
    assert not parse_tool_input(dict.fromkeys(ARM.names, "x"), ARM).ok
    assert not parse_tool_input(dict.fromkeys(ARM.names, float("nan")), ARM).ok
    text = "Move a bit: " + str(dict.fromkeys(ARM.names, 0.02)).replace("'", '"')
    decoded = parse_text(text, ARM)
    assert decoded.ok and np.allclose(decoded.actions, 0.02)
    assert not parse_text("'dx'", ARM).ok


def test_prices() -> None:
    sonnet = price_for("claude-sonnet-5-5", ANTHROPIC_PRICES)
    assert sonnet is not None
    assert sonnet.cost(Usage(1_000_000, 1_000_000)) == pytest.approx(12.0)
    assert sonnet.cost(Usage(0, 0, cache_write_tokens=1_000_000, cache_read_tokens=1_000_000)) == (
        pytest.approx(2.60)
    )
    assert (
        price_for("claude-haiku-4-5-20251001", ANTHROPIC_PRICES)
        == ANTHROPIC_PRICES["claude-haiku-4-5"]
    )
    assert (
        price_for("claude-opus-4-1-20250805", ANTHROPIC_PRICES)
        == ANTHROPIC_PRICES["claude-opus-4-1"]
    )
    assert price_for("gpt-oss", ANTHROPIC_PRICES) is None
    haiku = ANTHROPIC_PRICES["claude-haiku-5-5"]
    short, long = Usage(100_000, 1_000), Usage(100_001, 1_000)
    assert haiku.cost(long) == pytest.approx(5 * Price(0.10, 0.50).cost(long))
    assert haiku.cost(short) == pytest.approx(Price(0.10, 0.50).cost(short))
