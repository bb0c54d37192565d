"""The base of the games' scripted experts: privileged, image-free, one action per call."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np

from harness.contract import ActionChunk, Observation, PolicyBase, PolicyConfig

G = TypeVar("G")


class ExpertBase(PolicyBase):
    """A scripted expert: ``choose(observation) -> action index``; the env comes at reset.

    ``privileged`` because it may read the env's hidden state; it never looks at images, so
    the runner can skip rendering.
    """

    privileged = True
    uses_images = False
    warmup_calls = 0
    n_action_steps = 1

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__(config)

    @staticmethod
    def unwrap(env: Any, kind: type[G]) -> G:
        """The game behind ``env`` (through any wrappers), or a clear error."""
        if env is None:
            raise ValueError(
                f"the {kind.__name__} expert is privileged and needs the env at reset(); "
                f"got None (run it as `--policy scripted`)"
            )
        game = getattr(env, "unwrapped", env)
        if not isinstance(game, kind):
            raise TypeError(f"expected a {kind.__name__} env, got {type(game).__name__}")
        return game

    def choose(self, observation: Observation) -> int:
        """The action index for this observation."""
        raise NotImplementedError

    def act(self, observation: Observation) -> ActionChunk:
        """One action: the chosen index as a ``1 x 1`` chunk."""
        return ActionChunk(np.array([[float(self.choose(observation))]]))

    def describe(self) -> dict[str, Any]:
        """A scripted controller: no checkpoint."""
        return {"checkpoint": None, "weights": "scripted"}
