"""``cartpole`` and ``cartpole_swing``: Gymnasium's CartPole dynamics with a true no-op.

Both use Gymnasium's ``CartPoleEnv`` physics unchanged (10 N pushes, 50 Hz, failure when the
pole leans past 12 degrees or the cart leaves ±2.4 m) and add a third action, "do nothing"
(zero force), at index 0 so that a policy's undecodable answer falls back to a real no-op
rather than to a push.

- ``cartpole``: keep the pole up for 500 steps. Success: still balanced after step 500.
  Reward: Gymnasium's +1 per step.
- ``cartpole_swing`` (after the modified CartPole of the ActionVLM report): keep the pole up
  for 2000 steps while swinging the cart between two thresholds at x = ±1.0 m. Reward: +1 per
  step alive, +10 for touching the threshold opposite the one touched last (the first touch of
  either counts), +100 per completed swing. A swing is a round trip: from one threshold to the
  other and back, so touches 1-2-3 complete the first swing, 3-4-5 the second, and so on.
  Success: still balanced after step 2000 with at least 3 completed swings.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import scipy.linalg

from harness.contract import ActionSpace, EpisodeSpec, Observation, PolicyConfig, TaskSpec
from vla_bench_games.base import GameEnv, GameTask
from vla_bench_games.experts import ExpertBase

# pygame (Gymnasium's renderer) prints a banner on import unless told not to, and draws our
# off-screen frames through SDL, which complains on headless machines without a video driver.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from gymnasium.envs.classic_control.cartpole import CartPoleEnv

SWING_THRESHOLD_M = 1.0
SWINGS_FOR_SUCCESS = 3

ACTIONS = ActionSpace(
    name="cartpole_discrete",
    names=("do nothing", "push cart left", "push cart right"),
    discrete=True,
    description=(
        "0 do nothing (no force); 1 push the cart left (10 N); 2 push the cart right (10 N). "
        "Gymnasium's CartPole actions 0/1 are indices 1/2 here."
    ),
    hold=(0,),  # no force while the policy thinks
)

STATE_FIELDS = ("cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity")
_FRAME = (400, 600)

SPEC = TaskSpec(
    name="cartpole",
    version="1",
    suite="games",
    instruction="Keep the pole balanced upright on the cart by pushing the cart left or right.",
    control_hz=50.0,
    max_steps=500,
    action_space=ACTIONS,
    state_fields=STATE_FIELDS,
    cameras={"front": _FRAME},
    has_ee_pose=False,
    description=(
        "Gymnasium CartPole-v1 dynamics plus a zero-force action. State: cart position (m, "
        "positive = right), cart velocity (m/s), pole angle (rad, positive = leaning right), "
        "pole angular velocity. Success: balanced for all 500 steps."
    ),
)

SWING_SPEC = TaskSpec(
    name="cartpole_swing",
    version="1",
    suite="games",
    instruction=(
        "Keep the pole balanced upright while moving the cart back and forth between the two "
        "red threshold lines, touching each in turn."
    ),
    control_hz=50.0,
    max_steps=2000,
    action_space=ACTIONS,
    state_fields=(*STATE_FIELDS, "last_threshold", "swings"),
    cameras={"front": _FRAME},
    has_ee_pose=False,
    description=(
        f"CartPole balancing while swinging between x = ±{SWING_THRESHOLD_M} m. State adds the "
        "side of the threshold touched last (-1 left, +1 right, 0 none) and completed swings. "
        "Reward: +1 per step alive, +10 per alternating threshold touch, +100 per swing "
        f"(there and back). Success: balanced for 2000 steps with >= {SWINGS_FOR_SUCCESS} swings."
    ),
)


def _describe_cart(s: np.ndarray, steps: int, max_steps: int) -> str:
    x, x_dot, theta, theta_dot = (float(v) for v in s[:4])
    return (
        f"Cart position x = {x:+.3f} m (the track ends at -2.4 and +2.4 m; positive = right).\n"
        f"Cart velocity = {x_dot:+.3f} m/s (moving {'left' if x_dot < 0 else 'right'}).\n"
        f"Pole angle = {theta:+.4f} rad (leaning {'left' if theta < 0 else 'right'}; the "
        f"episode fails beyond -0.2094 or +0.2094 rad).\n"
        f"Pole angular velocity = {theta_dot:+.3f} rad/s "
        f"(falling {'left' if theta_dot < 0 else 'right'}).\n"
        f"Step {steps} of {max_steps}."
    )


class CartPoleGame(GameEnv):
    """Gymnasium's CartPole physics with a zero-force action; success = survive ``max_steps``."""

    def __init__(self, spec: TaskSpec = SPEC, *, render: bool = True) -> None:
        super().__init__(spec, render=render)
        self.cart = CartPoleEnv(render_mode="rgb_array" if render else None)
        self._obs = np.zeros(4, dtype=np.float32)
        self._push = self.cart.force_mag

    def _game_reset(self, seed: int | None, options: dict[str, Any] | None) -> None:
        self._obs, _ = self.cart.reset(seed=seed, options=options)

    def _game_step(self, action: int) -> tuple[float, bool]:
        # Gymnasium's step only knows left/right; a zero push is its "right" with no force.
        self.cart.force_mag = 0.0 if action == 0 else self._push
        try:
            self._obs, reward, terminated, _, _ = self.cart.step(0 if action == 1 else 1)
        finally:
            self.cart.force_mag = self._push
        return float(reward), bool(terminated)

    def _game_state(self) -> np.ndarray:
        return self._obs

    def _game_text(self) -> str:
        return _describe_cart(self._obs, self.steps, self.task_spec.max_steps)

    def _game_success(self, terminated: bool) -> bool:
        return not terminated and self.steps >= self.task_spec.max_steps

    def _game_frame(self) -> np.ndarray:
        if self.cart.render_mode is None:
            raise RuntimeError("this env was made with render=False; make it with render=True")
        return np.asarray(self.cart.render(), dtype=np.uint8)

    def close(self) -> None:
        """Release pygame surfaces."""
        self.cart.close()


class CartPoleSwingGame(CartPoleGame):
    """CartPole with swing thresholds at ±``SWING_THRESHOLD_M`` and the swing score."""

    def __init__(self, spec: TaskSpec = SWING_SPEC, *, render: bool = True) -> None:
        super().__init__(spec, render=render)
        self.last_side = 0
        self.touches = 0

    @property
    def swings(self) -> int:
        """Completed round trips: every second alternating touch after the first."""
        return max(0, (self.touches - 1) // 2)

    def _game_reset(self, seed: int | None, options: dict[str, Any] | None) -> None:
        super()._game_reset(seed, options)
        self.last_side = 0
        self.touches = 0

    def _game_step(self, action: int) -> tuple[float, bool]:
        _, terminated = super()._game_step(action)
        if terminated:
            return 0.0, True
        reward = 1.0
        x = float(self._obs[0])
        side = 1 if x >= SWING_THRESHOLD_M else -1 if x <= -SWING_THRESHOLD_M else 0
        if side and side != self.last_side:
            swings_before = self.swings
            self.last_side = side
            self.touches += 1
            reward += 10.0 + 100.0 * (self.swings - swings_before)
        return reward, False

    def _game_state(self) -> np.ndarray:
        return np.array([*self._obs, self.last_side, self.swings], dtype=np.float32)

    def _game_text(self) -> str:
        last = {0: "none yet", -1: "the left one", 1: "the right one"}[self.last_side]
        target = "the right one" if self.last_side <= 0 else "the left one"
        if self.last_side == 0:
            target = "either one"
        return (
            _describe_cart(self._obs, self.steps, self.task_spec.max_steps)
            + f"\nThresholds at x = -{SWING_THRESHOLD_M} m and +{SWING_THRESHOLD_M} m. "
            f"Threshold touched last: {last}; touch next: {target}.\n"
            f"Completed swings: {self.swings} (success needs at least {SWINGS_FOR_SUCCESS} "
            f"and the pole up until step {self.task_spec.max_steps})."
        )

    def _game_success(self, terminated: bool) -> bool:
        survived = super()._game_success(terminated)
        return survived and self.swings >= SWINGS_FOR_SUCCESS

    def _game_info(self) -> dict[str, Any]:
        return {"swings": self.swings, "touches": self.touches}

    def _game_frame(self) -> np.ndarray:
        frame = super()._game_frame().copy()
        w = frame.shape[1]
        scale = w / (2 * self.cart.x_threshold)
        for side in (-1, 1):
            col = round(side * SWING_THRESHOLD_M * scale + w / 2)
            # the threshold to touch next is red, the one just touched grey
            colour = (150, 150, 150) if side == self.last_side else (220, 30, 30)
            frame[:, max(col - 1, 0) : col + 2] = colour
        return frame


def make_task() -> GameTask:
    """The ``cartpole`` task (track seeds 2000..2049)."""
    return GameTask(SPEC, CartPoleGame, base_seed=2000)


def make_swing_task() -> GameTask:
    """The ``cartpole_swing`` task (track seeds 3000..3049)."""
    return GameTask(SWING_SPEC, CartPoleSwingGame, base_seed=3000)


def lqr_gain(cart: CartPoleEnv, q: tuple[float, float, float, float]) -> np.ndarray:
    """Discrete LQR gain for CartPole linearised about upright, from the env's own constants."""
    total = cart.masspole + cart.masscart
    pml = cart.masspole * cart.length
    eff = cart.length * (4.0 / 3.0 - cart.masspole / total)
    a = np.array(
        [
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, -pml * cart.gravity / (total * eff), 0.0],
            [0.0, 0.0, 0.0, 1.0],
            [0.0, 0.0, cart.gravity / eff, 0.0],
        ]
    )
    b = np.array(
        [[0.0], [1.0 / total + pml / (total * total * eff)], [0.0], [-1.0 / (total * eff)]]
    )
    ad, bd = np.eye(4) + cart.tau * a, cart.tau * b  # Gymnasium integrates with Euler steps
    r = np.array([[0.1]])
    p = scipy.linalg.solve_discrete_are(ad, bd, np.diag(q), r)
    return np.asarray(np.linalg.solve(r + bd.T @ p @ bd, bd.T @ p @ ad))[0]


class CartPoleExpert(ExpertBase):
    """Bang-bang LQR: push in the direction of the linear-quadratic optimal force."""

    Q = (1.0, 1.0, 10.0, 1.0)

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__(config)
        self._game: CartPoleGame | None = None
        self._gain = np.zeros(4)

    def reset(self, task: TaskSpec, episode: EpisodeSpec, env: Any) -> None:
        """Compute the gain from the env's physical constants."""
        self._game = self.unwrap(env, CartPoleGame)
        self._gain = lqr_gain(self._game.cart, self.Q)

    def target(self) -> float:
        """Where the cart should be (the centre)."""
        return 0.0

    def choose(self, observation: Observation) -> int:
        """Push right when the optimal force is positive, else left."""
        state = np.asarray(observation["state"][:4], dtype=np.float64)
        error = state - np.array([self.target(), 0.0, 0.0, 0.0])
        # a far target must not make the controller lean the pole too far: clip the error
        error[0] = np.clip(error[0], -1.0, 1.0)
        force = -float(self._gain @ error)
        return 2 if force > 0 else 1


class CartPoleSwingExpert(CartPoleExpert):
    """The balancing LQR tracking a target just beyond the threshold it must touch next."""

    Q = (10.0, 1.0, 10.0, 1.0)

    def target(self) -> float:
        """Just past the threshold opposite the one touched last (right first)."""
        assert self._game is not None, "reset() must come before act()"
        side = -1 if getattr(self._game, "last_side", 0) > 0 else 1
        return side * (SWING_THRESHOLD_M + 0.2)
