"""``lunarlander``: Gymnasium's LunarLander (Box2D), discrete engines, land between the flags.

Success rule: the lander comes to rest (Box2D puts its body to sleep, which is when Gymnasium
ends the episode with +100) without its hull touching the ground, with its centre between the
two flags (``|x| <= 0.2`` in Gymnasium's normalised coordinates). Landing outside the flags,
crashing, flying off screen or still flying after ``max_steps`` is a failure. The return is
Gymnasium's own reward (shaping, fuel, +100 rest / -100 crash).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from harness.contract import ActionSpace, EpisodeSpec, Observation, TaskSpec
from vla_bench_games.base import GameEnv, GameTask
from vla_bench_games.experts import ExpertBase

# pygame (Gymnasium's renderer) prints a banner on import unless told not to, and draws our
# off-screen frames through SDL, which complains on headless machines without a video driver.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from gymnasium.envs.box2d.lunar_lander import (
    VIEWPORT_H,
    VIEWPORT_W,
    LunarLander,
)

FLAG_X = 0.2
"""The flags stand at x = ±0.2 in Gymnasium's normalised coordinates (the helipad's ends)."""

ACTIONS = ActionSpace(
    name="lunarlander_discrete",
    names=("do nothing", "fire left engine", "fire main engine", "fire right engine"),
    discrete=True,
    description=(
        "Gymnasium LunarLander's four discrete actions, in its order: 0 do nothing; "
        "1 fire the left orientation engine (pushes the lander left and turns it "
        "counter-clockwise); 2 fire the main engine (thrust along the lander's up axis); "
        "3 fire the right orientation engine (pushes right, turns clockwise)."
    ),
    hold=(0,),  # engines off while the policy thinks
)

STATE_FIELDS = ("x", "y", "vx", "vy", "angle", "angular_velocity", "left_leg", "right_leg")

SPEC = TaskSpec(
    name="lunarlander",
    version="1",
    suite="games",
    instruction="Land the lander gently on the landing pad between the two yellow flags.",
    control_hz=50.0,
    max_steps=1000,
    action_space=ACTIONS,
    state_fields=STATE_FIELDS,
    cameras={"front": (VIEWPORT_H, VIEWPORT_W)},
    has_ee_pose=False,
    description=(
        "Gymnasium LunarLander-v3 (Box2D, discrete, no wind). State: Gymnasium's 8 values "
        "(x and y normalised so the pad centre is (0, 0) and the flags are at x = ±0.2; "
        "velocities; angle in radians, positive = counter-clockwise; leg contacts). Success: "
        "comes to rest between the flags with the hull off the ground."
    ),
)


def describe_state(s: np.ndarray) -> str:
    """The lander's state in words, with signs spelled out (language agents misread signs)."""
    x, y, vx, vy, angle, omega, left, right = (float(v) for v in s)
    side = "left of" if x < 0 else "right of"
    inside = "between the flags" if abs(x) <= FLAG_X else "outside the flags"
    return (
        f"Horizontal position x = {x:+.3f} ({abs(x):.3f} {side} the pad centre, {inside}; "
        f"the flags are at x = -{FLAG_X} and +{FLAG_X}).\n"
        f"Height above the pad y = {y:+.3f}.\n"
        f"Horizontal speed vx = {vx:+.3f} (moving {'left' if vx < 0 else 'right'}).\n"
        f"Vertical speed vy = {vy:+.3f} ({'falling' if vy < 0 else 'rising'}).\n"
        f"Angle = {angle:+.3f} rad (positive = tilted counter-clockwise), "
        f"angular speed = {omega:+.3f} rad/s.\n"
        f"Left leg touching the ground: {'yes' if left else 'no'}; "
        f"right leg: {'yes' if right else 'no'}."
    )


class LunarLanderGame(GameEnv):
    """Gymnasium's LunarLander with the contract's observation and the between-flags rule."""

    def __init__(self, spec: TaskSpec = SPEC, *, render: bool = True) -> None:
        super().__init__(spec, render=render)
        self.lander = LunarLander(render_mode="rgb_array" if render else None)
        self._obs = np.zeros(len(STATE_FIELDS), dtype=np.float32)

    def _game_reset(self, seed: int | None, options: dict[str, Any] | None) -> None:
        self._obs, _ = self.lander.reset(seed=seed, options=options)

    def _game_step(self, action: int) -> tuple[float, bool]:
        self._obs, reward, terminated, _, _ = self.lander.step(action)
        return float(reward), bool(terminated)

    def _game_state(self) -> np.ndarray:
        return self._obs

    def _game_text(self) -> str:
        return describe_state(self._obs)

    def _game_success(self, terminated: bool) -> bool:
        at_rest = terminated and not self.lander.lander.awake  # type: ignore[union-attr]
        return bool(at_rest and not self.lander.game_over and abs(self._obs[0]) <= FLAG_X)

    def _game_frame(self) -> np.ndarray:
        if self.lander.render_mode is None:
            raise RuntimeError("this env was made with render=False; make it with render=True")
        return np.asarray(self.lander.render(), dtype=np.uint8)

    def close(self) -> None:
        """Release pygame surfaces."""
        self.lander.close()


def make_task() -> GameTask:
    """The ``lunarlander`` task (track seeds 1000..1049)."""
    return GameTask(SPEC, LunarLanderGame, base_seed=1000)


class LunarLanderExpert(ExpertBase):
    """A PD lander: lean towards the pad, hold altitude until centred, then settle.

    It leans (up to 0.3 rad) against its horizontal offset and drift, stays high while it is
    off-centre (target height 2.5 |x|), and fires the main engine when below that target or
    sinking fast; once a leg touches it only brakes its fall. Tuned on seeds 1000-1199 (it
    lands between the flags on all of them). It reads only the state vector, but is marked
    privileged like every scripted expert.
    """

    LEAN_PER_OFFSET = 0.6
    LEAN_PER_DRIFT = 1.2
    MAX_LEAN = 0.3
    HOLD_HEIGHT_PER_OFFSET = 2.5
    DEADBAND = 0.05

    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: Any) -> None:
        """Nothing to keep: the state vector is enough."""

    def choose(self, observation: Observation) -> int:
        """One of: 0 coast, 1 left engine, 2 main engine, 3 right engine."""
        x, y, vx, vy, angle, omega, left, right = (float(v) for v in observation["state"])
        lean = float(
            np.clip(
                self.LEAN_PER_OFFSET * x + self.LEAN_PER_DRIFT * vx, -self.MAX_LEAN, self.MAX_LEAN
            )
        )
        turn = 0.5 * (lean - angle) - omega
        lift = 0.5 * (self.HOLD_HEIGHT_PER_OFFSET * abs(x) - y) - 0.5 * vy
        if left or right:  # touching down: only brake the fall, do not steer any more
            turn, lift = 0.0, -0.5 * vy
        if lift > max(abs(turn), self.DEADBAND):
            return 2
        if turn > self.DEADBAND:
            return 1  # the left engine turns the lander counter-clockwise
        if turn < -self.DEADBAND:
            return 3
        return 0
