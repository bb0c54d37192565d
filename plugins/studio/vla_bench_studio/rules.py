"""Each manipulation task's success rule as parameters for the page's port (web/js/rules.js).

The rule itself is each env's ``evaluate()``; the page evaluates the same expression on the
WASM state with the numbers given here, read from the env after its reset (so an episode's
direction, goal and receptacle come from the task, never from the page). The browser test
checks the port against ``evaluate()`` at every step of expert and random rollouts.
"""

from __future__ import annotations

from typing import Any

from vla_bench_manipulation.env import ManipulationEnv
from vla_bench_manipulation.handle import THRESHOLD, HandleEnv
from vla_bench_manipulation.pick_place import HALF_HEIGHT, RECEPTACLES, SHAPES, PickPlaceEnv
from vla_bench_manipulation.valve import TOLERANCE, ValveEnv


def _qpos(env: ManipulationEnv, joint: str) -> int:
    return int(env.model.jnt_qposadr[env.model.joint(joint).id])


def _valve(env: ValveEnv) -> dict[str, Any]:
    return {
        "kind": "valve",
        "qpos": _qpos(env, "valve"),
        "direction": env.direction,
        "goal": float(env.goal),
        "start_angle": env.start_angle,
        "tolerance": TOLERANCE,
    }


def _handle(env: HandleEnv) -> dict[str, Any]:
    return {"kind": "handle", "qpos": _qpos(env, "lever"), "threshold": THRESHOLD}


# PickPlaceEnv.evaluate: "low" means the centre is below surface + HALF_HEIGHT + this margin.
_PICK_PLACE_LOW_MARGIN = 0.012


def _pick_place(env: PickPlaceEnv) -> dict[str, Any]:
    m = env.model
    radius, surface, _ = RECEPTACLES[env.target]
    return {
        "kind": "pick_place",
        "object_body": int(m.body("obj0").id),
        "object_geoms": [int(m.geom(f"obj0_{s}").id) for s in SHAPES],
        "finger_geoms": [int(m.geom("finger_l").id), int(m.geom("finger_r").id)],
        "receptacle_body": int(m.body(env.target).id),
        "radius": radius,
        "surface": surface,
        "low_below": surface + HALF_HEIGHT + _PICK_PLACE_LOW_MARGIN,
    }


def success_rule(env: ManipulationEnv) -> dict[str, Any]:
    """The parameters of ``env``'s success rule for the episode it was just reset to."""
    if isinstance(env, ValveEnv):
        return _valve(env)
    if isinstance(env, HandleEnv):
        return _handle(env)
    if isinstance(env, PickPlaceEnv):
        return _pick_place(env)
    raise ValueError(
        f"the studio has no port of {type(env).__name__}'s success rule; it knows valve, "
        "handle and pick_place (add one to vla_bench_studio/rules.py and web/js/rules.js)"
    )
