"""What every game shares: the contract-shaped observation, index actions, success and step limit.

A game subclasses :class:`GameEnv` and fills in six small methods (reset, step, state vector,
state text, success, frame); :class:`GameTask` pairs a game with its :class:`TaskSpec` and
default track. Actions arrive either as a Python/NumPy integer or, as the runner sends them,
a length-1 float array holding the action index (the contract's discrete convention).
"""

from __future__ import annotations

import math
import string
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from harness.contract import EpisodeSpec, Observation, TaskSpec, Track, seeded_track

# pygame (Gymnasium's renderer) imports pkg_resources, which warns on every command that
# renders a game; the warning is about pygame's packaging, nothing a user can act on.
warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning, "pygame")

TRACK_EPISODES = 50
"""Episodes in every games track (the seeds are ``base_seed + i``)."""

TRACK_VERSION = "1"

_TEXT_LIMIT = 8192


def action_index(action: Any, names: tuple[str, ...]) -> int:
    """The integer index an action stands for, or ``ValueError`` naming the expected shape.

    Accepts a scalar or any one-element array (the runner sends ``float64[1]``); rejects NaN,
    non-integral values and indices outside ``[0, len(names))``.
    """
    arr = np.asarray(action, dtype=np.float64)
    if arr.size != 1:
        raise ValueError(
            f"expected one action index (a scalar or an array of shape (1,)), got shape "
            f"{arr.shape}; actions are {list(enumerate(names))}"
        )
    value = float(arr.reshape(-1)[0])
    if not math.isfinite(value):
        raise ValueError(f"action index is {value}; expected an integer in [0, {len(names)})")
    index = round(value)
    if abs(value - index) > 1e-6 or not 0 <= index < len(names):
        raise ValueError(
            f"action index {value!r} is not an integer in [0, {len(names)}); "
            f"actions are {list(enumerate(names))}"
        )
    return index


class GameEnv(gymnasium.Env[Observation, Any]):
    """A discrete game behind the vla-bench observation contract.

    Subclasses implement the ``_game_*`` methods. This class counts steps, truncates at
    ``spec.max_steps``, reports ``info["success"]`` and renders only when asked to, so that
    ``render=False`` (scripted experts) leaves ``images`` empty without touching the dynamics.
    """

    metadata = {"render_modes": ["rgb_array"]}  # noqa: RUF012  (Gymnasium declares it so)

    def __init__(self, spec: TaskSpec, *, render: bool = True) -> None:
        self.task_spec = spec
        self.render_mode = "rgb_array" if render else None
        self._render = render
        self.steps = 0
        self.action_space = spaces.Discrete(len(spec.action_space.names))
        text = spaces.Text(max_length=_TEXT_LIMIT, charset=string.printable)
        images: dict[str, spaces.Space[Any]] = {
            cam: spaces.Box(0, 255, (h, w, 3), np.uint8) for cam, (h, w) in spec.cameras.items()
        }
        self.observation_space = spaces.Dict(
            {
                "images": spaces.Dict(images if render else {}),
                "state": spaces.Box(-np.inf, np.inf, (len(spec.state_fields),), np.float32),
                "instruction": text,
                "state_text": text,
            }
        )

    # -- what a game provides ---------------------------------------------------------------
    def _game_reset(self, seed: int | None, options: dict[str, Any] | None) -> None:
        raise NotImplementedError

    def _game_step(self, action: int) -> tuple[float, bool]:
        """Advance one step; return (reward, terminated)."""
        raise NotImplementedError

    def _game_state(self) -> np.ndarray:
        raise NotImplementedError

    def _game_text(self) -> str:
        raise NotImplementedError

    def _game_success(self, terminated: bool) -> bool:
        raise NotImplementedError

    def _game_frame(self) -> np.ndarray:
        raise NotImplementedError

    def _game_info(self) -> dict[str, Any]:
        """Extra ``info`` entries (progress counters); none by default."""
        return {}

    # -- the gymnasium API ------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Start an episode; the same seed gives the same start (and the same episode)."""
        super().reset(seed=seed)
        self.steps = 0
        self._game_reset(seed, options)
        return self._observe(), {"success": False, **self._game_info()}

    def step(self, action: Any) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        """Apply one action index; ``info["success"]`` follows the task's documented rule."""
        index = action_index(action, self.task_spec.action_space.names)
        reward, terminated = self._game_step(index)
        self.steps += 1
        truncated = not terminated and self.steps >= self.task_spec.max_steps
        success = self._game_success(terminated)
        info = {"success": success, "action_name": self.task_spec.action_space.names[index]}
        return self._observe(), float(reward), terminated, truncated, {**info, **self._game_info()}

    def render(self) -> np.ndarray:
        """The current frame (HxWx3 uint8), whatever ``render`` was set to."""
        return self._game_frame()

    def _observe(self) -> Observation:
        images = {"front": self._game_frame()} if self._render else {}
        return {
            "images": images,
            "state": np.asarray(self._game_state(), dtype=np.float32),
            "instruction": self.task_spec.instruction,
            "state_text": self._game_text(),
        }


@dataclass(frozen=True)
class GameTask:
    """A game as a vla-bench Task: its spec, its default seeded track and an env factory."""

    spec: TaskSpec
    env_factory: Callable[..., GameEnv]
    base_seed: int

    def track(self) -> Track:
        """``TRACK_EPISODES`` episodes with seeds ``base_seed + i`` (version ``TRACK_VERSION``)."""
        return seeded_track(self.spec.name, TRACK_VERSION, TRACK_EPISODES, self.base_seed)

    def make_env(self, episode: EpisodeSpec, *, render: bool = True) -> GameEnv:
        """A fresh env; ``reset(seed=episode.seed)`` fixes the episode's start."""
        return self.env_factory(self.spec, render=render)
