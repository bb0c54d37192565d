"""Registers the ``games`` suite: four discrete games, each with its scripted expert."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.hookspecs import hookimpl

if TYPE_CHECKING:
    from harness.registry import Registry

PACKAGE = "vla_bench_games"


@hookimpl
def vla_bench_register_tasks(registry: Registry) -> None:
    """Add lunarlander, cartpole, cartpole_swing and snake to the ``games`` suite."""
    games = (
        (
            "lunarlander",
            "lunarlander:make_task",
            "lunarlander:LunarLanderExpert",
            "Gymnasium LunarLander (Box2D): land between the flags",
            "lunarlander_discrete",
        ),
        (
            "cartpole",
            "cartpole:make_task",
            "cartpole:CartPoleExpert",
            "CartPole: balance the pole for 500 steps",
            "cartpole_discrete",
        ),
        (
            "cartpole_swing",
            "cartpole:make_swing_task",
            "cartpole:CartPoleSwingExpert",
            "CartPole: balance for 2000 steps while swinging between two thresholds",
            "cartpole_discrete",
        ),
        (
            "snake",
            "snake:make_task",
            "snake:SnakeExpert",
            "Snake on a 10x10 grid: grow to length 10",
            "snake_discrete",
        ),
    )
    for name, target, expert, description, space in games:
        registry.add_task(
            name,
            f"{PACKAGE}.{target}",
            suite="games",
            description=description,
            expert=f"{PACKAGE}.{expert}",
            action_space=space,
        )
