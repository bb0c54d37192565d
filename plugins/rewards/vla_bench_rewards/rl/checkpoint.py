"""The ``sb3`` checkpoint: policy weights as safetensors plus JSON, never a pickle.

Stable-Baselines3's own ``model.save`` zip holds cloudpickled objects, so loading one runs
code from the file. A checkpoint here is a directory:

    policy.safetensors   the SB3 policy's ``state_dict`` (tensors only)
    sb3.json             algorithm, task (name and version), observation size, number of
                         actions and the ``policy_kwargs`` (net_arch) to rebuild the network
    training.json        how it was trained (``origin: trained``, reward, steps, curve)

:func:`load_policy` rebuilds the policy class of the algorithm with those arguments and loads
the weights into it; a file that does not match that network is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.results import atomic_write_bytes, atomic_write_json

WEIGHTS_FILE = "policy.safetensors"
META_FILE = "sb3.json"
TRAINING_FILE = "training.json"
ALGOS = ("dqn", "ppo")


@dataclass(frozen=True)
class CheckpointMeta:
    """What ``sb3.json`` says about a checkpoint."""

    algo: str
    task: str
    task_version: str
    observation_dim: int
    n_actions: int
    policy_kwargs: dict[str, Any]


def _algo_class(algo: str) -> Any:
    from stable_baselines3 import DQN, PPO

    if algo not in ALGOS:
        raise ValueError(f"unknown algorithm {algo!r}; choose one of {', '.join(ALGOS)}")
    return {"dqn": DQN, "ppo": PPO}[algo]


def save_policy(
    directory: Path, policy: Any, meta: CheckpointMeta, training: dict[str, Any]
) -> None:
    """Write the three files atomically (``training.json`` last)."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in policy.state_dict().items()}
    atomic_write_bytes(directory / WEIGHTS_FILE, save(tensors))
    atomic_write_json(directory / META_FILE, meta.__dict__)
    atomic_write_json(directory / TRAINING_FILE, training)


def read_meta(directory: Path) -> CheckpointMeta:
    """``sb3.json`` of ``directory``, or a one-line error saying what is missing."""
    path = Path(directory) / META_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{directory} is not an sb3 checkpoint (no {META_FILE}); make one with "
            f"bench train --algo dqn|ppo --task TASK -o DIR"
        )
    doc = json.loads(path.read_text())
    return CheckpointMeta(
        algo=str(doc["algo"]),
        task=str(doc["task"]),
        task_version=str(doc["task_version"]),
        observation_dim=int(doc["observation_dim"]),
        n_actions=int(doc["n_actions"]),
        policy_kwargs=dict(doc.get("policy_kwargs") or {}),
    )


def build_policy(meta: CheckpointMeta) -> Any:
    """A fresh SB3 policy network of the checkpoint's algorithm and shape (random weights)."""
    import numpy as np
    from gymnasium import spaces

    cls = _algo_class(meta.algo)
    policy_class = cls.policy_aliases["MlpPolicy"]
    observation = spaces.Box(-np.inf, np.inf, (meta.observation_dim,), np.float32)
    return policy_class(
        observation,
        spaces.Discrete(meta.n_actions),
        lambda _: 0.0,
        **meta.policy_kwargs,
    )


def load_policy(directory: Path) -> tuple[Any, CheckpointMeta, dict[str, Any]]:
    """(policy in eval mode, its meta, training.json) from a checkpoint directory."""
    from safetensors.torch import load_file

    directory = Path(directory)
    meta = read_meta(directory)
    policy = build_policy(meta)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"{directory} holds no {WEIGHTS_FILE}: the checkpoint is partial")
    try:
        policy.load_state_dict(load_file(str(weights)))
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ValueError(
            f"{weights} does not fit the {meta.algo} network described in {META_FILE}: {first}"
        ) from None
    policy.set_training_mode(False)
    training_path = directory / TRAINING_FILE
    training = json.loads(training_path.read_text()) if training_path.is_file() else {}
    return policy, meta, training
