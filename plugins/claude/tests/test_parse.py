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


def test_price_arithmetic_follows_the_documented_rules() -> None:
    """Anthropic's pricing rules, on a price made up here (not the shipped table): cache writes
    cost 1.25x and cache reads 0.1x the input price unless a model lists its own, and a long
    prompt band multiplies the whole call once the prompt (cached tokens included) exceeds it."""
    price = Price(2.0, 8.0)
    assert price.cost(Usage(1_000_000, 0)) == pytest.approx(2.0)
    assert price.cost(Usage(0, 500_000)) == pytest.approx(4.0)
    assert price.cost(Usage(0, 0, cache_write_tokens=1_000_000)) == pytest.approx(2.5)
    assert price.cost(Usage(0, 0, cache_read_tokens=1_000_000)) == pytest.approx(0.2)
    listed = Price(2.0, 8.0, cache_write=3.0, cache_read=0.05)
    assert listed.cost(Usage(0, 0, 1_000_000, 1_000_000)) == pytest.approx(3.05)
    banded = Price(1.0, 4.0, long_prompt_tokens=1000, long_prompt_factor=3.0)
    at, over = Usage(600, 10, cache_read_tokens=400), Usage(600, 10, cache_read_tokens=401)
    assert banded.cost(at) == pytest.approx(Price(1.0, 4.0).cost(at))
    assert banded.cost(over) == pytest.approx(3.0 * Price(1.0, 4.0).cost(over))


def test_a_model_id_takes_the_price_of_its_longest_listed_prefix() -> None:
    """Dated snapshots bill as their alias; a nested alias beats its family; a prefix must end
    at a '-' boundary; an unlisted model has no price."""
    family, point = Price(1.0, 1.0), Price(2.0, 2.0)
    table = {"m-4": family, "m-4-1": point}
    assert price_for("m-4-1", table) is point
    assert price_for("m-4-1-20250805", table) is point
    assert price_for("m-4-20250514", table) is family
    assert price_for("m-40", table) is None and price_for("m", table) is None
    # the shipped table: every alias's dated snapshot resolves to that alias's own entry
    for alias, listed in ANTHROPIC_PRICES.items():
        assert price_for(f"{alias}-20990101", ANTHROPIC_PRICES) is listed, alias
