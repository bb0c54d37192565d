"""Each task's scripted expert: Meta-World's own scripted policy for that task."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from harness.contract import ActionChunk, EpisodeSpec, Observation, PolicyBase, TaskSpec
from vla_bench_metaworld.env import ACTION_SPACE, MetaWorldEnv

if TYPE_CHECKING:
    import gymnasium


class MetaWorldExpert(PolicyBase):
    """Meta-World's scripted policy (``metaworld.policies.ENV_POLICY_MAP``) for the task.

    Privileged: it reads the simulation's full 39-d observation (hand, fingers, objects and the
    goal), which the policy-facing observation does not carry.
    """

    action_spaces: ClassVar[tuple[str, ...]] = (ACTION_SPACE.name,)
    privileged = True
    uses_images = False
    warmup_calls = 0

    def reset(
        self, task: TaskSpec, episode: EpisodeSpec, env: gymnasium.Env[Any, Any] | None
    ) -> None:
        """Take hold of the episode's env and pick the task's scripted policy."""
        unwrapped = env.unwrapped if env is not None else None
        if not isinstance(unwrapped, MetaWorldEnv):
            raise TypeError(
                f"the Meta-World expert reads a Meta-World simulation's state; task "
                f"{task.name!r} gave {type(unwrapped).__name__} (run it on a Meta-World task)"
            )
        import metaworld.policies as policies  # loaded with the task's simulation already

        self.env = unwrapped
        self.scripted = policies.ENV_POLICY_MAP[task.name]()  # type: ignore[abstract]

    def act(self, observation: Observation) -> ActionChunk:
        """One action from the scripted policy, given the simulation's current observation."""
        with warnings.catch_warnings():
            # Meta-World's note to its own authors that a gain makes the response exceed
            # [-1, 1]; the clipping it warns of is counted per episode (clipped_actions).
            warnings.filterwarnings("ignore", r"Constant\(s\) may be too high", UserWarning)
            action = self.scripted.get_action(self.env.raw_observation)
        return ActionChunk(np.asarray(action, dtype=np.float64)[None, :])

    def describe(self) -> dict[str, Any]:
        """A scripted expert: no checkpoint, no weights."""
        return {
            "checkpoint": None,
            "weights": "scripted",
            "expert": type(getattr(self, "scripted", None)).__name__,
        }
