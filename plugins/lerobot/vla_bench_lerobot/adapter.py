"""Between a task's observations/actions and a LeRobot policy's input and output features.

A LeRobot checkpoint names its inputs ``observation.images.<camera>`` (3 x H x W, floats in
[0, 1]), ``observation.state`` (S,) and its output ``action`` (D,). A task gives images by
camera name (H x W x 3 uint8), a state vector with named fields and an action space. By default
cameras match by name (``observation.image``, LeRobot's key for the only camera of an env such
as Meta-World, matches a task's only camera) and state/action vectors must have the same width;
anything else fails with both sides listed. An explicit mapping can be passed as policy options:

``camera_map=front:observation.images.top;wrist:observation.images.wrist``
    task camera ``:`` policy image key (``top`` is short for ``observation.images.top``).
    Every policy image key must be fed; task cameras left out are not used.
``state_map=ee_x;ee_y;ee_z;gripper;const=0``
    one item per policy state dimension, in order: a task state field name or index,
    optionally scaled (``gripper*-1``), or a constant (``const=0``).
``action_map=0;1;2;3;4;5;6*-1``
    one item per task action dimension, in order: a policy action index, optionally scaled,
    or a constant (``const=0``).

Images whose size differs from the checkpoint's declared size are resized (bilinear,
antialiased) to it, since every LeRobot policy saw its dataset's resolution in training.

Widths alone do not make vectors match: where the checkpoint names the elements of its state
or action (``action_feature_names`` of the π configs, or the dataset's names ``bench train``
records in ``training.json``), vectors matched without a map must have the task's names in the
task's order; otherwise the error shows both lists and the map that would accept them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

    from harness.checkpoints import TrainingRecord
    from harness.contract import Observation, TaskSpec

IMAGE_PREFIX = "observation.images."
SINGLE_IMAGE_KEY = "observation.image"
STATE_KEY = "observation.state"
ENV_STATE_KEY = "observation.environment_state"
ACTION_KEY = "action"


class FeatureMismatchError(ValueError):
    """The task and the checkpoint disagree on cameras, state or action, and no map says how."""


@dataclass(frozen=True)
class Term:
    """One output element of a state or action map: ``scale * source[index]`` or a constant."""

    index: int | None
    scale: float = 1.0
    constant: float = 0.0

    def apply(self, values: np.ndarray) -> np.ndarray:
        """This term over the last axis of ``values`` (any leading shape)."""
        if self.index is None:
            return np.full(values.shape[:-1], self.constant, dtype=values.dtype)
        return values[..., self.index] * self.scale


def parse_terms(text: str, names: Sequence[str], width: int, what: str) -> tuple[Term, ...]:
    """Parse a ``;``-separated map (see the module docstring) against a source of ``width``."""
    terms = []
    for raw in filter(None, (item.strip() for item in text.split(";"))):
        if raw.startswith("const="):
            try:
                terms.append(Term(None, constant=float(raw.removeprefix("const="))))
            except ValueError:
                raise ValueError(f"{what}: {raw!r} is not const=<number>") from None
            continue
        source, _, factor = raw.partition("*")
        source = source.strip()
        if source in names:
            index = names.index(source)
        elif source.lstrip("-").isdigit():
            index = int(source)
        else:
            raise ValueError(f"{what}: {source!r} is neither an index nor one of {list(names)}")
        if not 0 <= index < width:
            raise ValueError(f"{what}: index {index} is outside 0..{width - 1}")
        try:
            scale = float(factor) if factor else 1.0
        except ValueError:
            raise ValueError(f"{what}: scale {factor!r} in {raw!r} is not a number") from None
        terms.append(Term(index, scale))
    return tuple(terms)


def _describe(names: Sequence[str]) -> str:
    return f"{len(names)} ({', '.join(names)})" if names else "0"


@dataclass(frozen=True)
class PolicyFeatures:
    """What a LeRobot policy config declares: image shapes by key, state and action widths."""

    images: Mapping[str, tuple[int, int, int]]
    state_dim: int | None
    action_dim: int
    env_state_dim: int | None = None
    state_names: tuple[str, ...] | None = None
    """Element names of ``observation.state`` where the checkpoint records them."""
    action_names: tuple[str, ...] | None = None
    """Element names of ``action`` where the checkpoint records them."""

    @staticmethod
    def of(config: Any, training: TrainingRecord | None = None) -> PolicyFeatures:
        """Read them from a LeRobot ``PreTrainedConfig`` (and the names from ``training``,
        the checkpoint's ``training.json``, or the config's ``action_feature_names``)."""
        images = {k: tuple(ft.shape) for k, ft in config.image_features.items()}
        state = config.robot_state_feature
        env = config.env_state_feature
        action = config.action_feature
        if action is None:
            raise FeatureMismatchError("the checkpoint declares no 'action' output feature")
        names = dict(training.features) if training is not None else {}
        if names.get(ACTION_KEY) is None and getattr(config, "action_feature_names", None):
            names[ACTION_KEY] = tuple(config.action_feature_names)
        state_dim = state.shape[0] if state is not None else None
        action_dim = action.shape[0]

        def named(key: str, width: int | None) -> tuple[str, ...] | None:
            found = names.get(key)
            return tuple(found) if found is not None and len(found) == width else None

        return PolicyFeatures(
            images=images,
            state_dim=state_dim,
            action_dim=action_dim,
            env_state_dim=env.shape[0] if env is not None else None,
            state_names=named(STATE_KEY, state_dim),
            action_names=named(ACTION_KEY, action_dim),
        )


@dataclass(frozen=True)
class Adapter:
    """The resolved mapping between one task and one policy (built by :func:`build_adapter`)."""

    cameras: Mapping[str, str]  # policy image key -> task camera
    image_shapes: Mapping[str, tuple[int, int, int]]  # policy image key -> (3, H, W)
    state_terms: tuple[Term, ...] | None  # None: pass the task state through unchanged
    state_dim: int | None
    action_terms: tuple[Term, ...] | None  # None: the policy action is the task action

    def batch(self, observation: Observation) -> dict[str, Any]:
        """A LeRobot input batch (unbatched tensors, images 3xHxW in [0, 1], ``task`` text)."""
        import torch

        images = observation.get("images") or {}
        out: dict[str, Any] = {}
        for key, camera in self.cameras.items():
            if camera not in images:
                raise FeatureMismatchError(
                    f"observation has no image from camera {camera!r} (needed for {key}); "
                    f"it has {sorted(images)}"
                )
            out[key] = image_tensor(images[camera], self.image_shapes[key][1:])
        if self.state_dim is not None:
            state = np.asarray(observation["state"], dtype=np.float32)
            if self.state_terms is not None:
                state = np.stack([t.apply(state) for t in self.state_terms], axis=-1)
            out[STATE_KEY] = torch.from_numpy(np.ascontiguousarray(state, dtype=np.float32))
        out["task"] = str(observation.get("instruction", ""))
        return out

    def actions(self, chunk: np.ndarray) -> np.ndarray:
        """Map a ``T x D_policy`` chunk to ``T x D_task``."""
        if self.action_terms is None:
            return chunk
        return np.stack([t.apply(chunk) for t in self.action_terms], axis=-1)


def image_tensor(image: np.ndarray, size: tuple[int, ...]) -> torch.Tensor:
    """HxWx3 uint8 -> 3xHxW float32 in [0, 1], resized to ``size`` (H, W) if it differs."""
    import torch
    import torch.nn.functional as F

    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise FeatureMismatchError(f"expected an HxWx3 image, got shape {array.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float() / 255.0
    if tuple(tensor.shape[1:]) != tuple(size):
        tensor = F.interpolate(
            tensor[None], size=tuple(size), mode="bilinear", antialias=True, align_corners=False
        )[0].clamp_(0.0, 1.0)
    return tensor


def build_adapter(
    task: TaskSpec, policy: PolicyFeatures, options: Mapping[str, str], checkpoint: str
) -> Adapter:
    """Match ``task`` to ``policy`` by name and width, or by the maps in ``options``."""
    if task.action_space.discrete:
        raise FeatureMismatchError(
            f"task {task.name!r} has a discrete action space ({task.action_space.name}); "
            f"LeRobot policies output continuous vectors"
        )
    if policy.env_state_dim is not None:
        raise FeatureMismatchError(
            f"{checkpoint} expects {ENV_STATE_KEY} ({policy.env_state_dim} values), which "
            f"vla-bench tasks do not provide; pick a checkpoint trained on images and state"
        )
    cameras = _match_cameras(task, policy, options.get("camera_map"), checkpoint)
    state_terms = _match_state(task, policy, options.get("state_map"), checkpoint)
    action_terms = _match_actions(task, policy, options.get("action_map"), checkpoint)
    return Adapter(
        cameras=cameras,
        image_shapes=dict(policy.images),
        state_terms=state_terms,
        state_dim=policy.state_dim,
        action_terms=action_terms,
    )


def _match_cameras(
    task: TaskSpec, policy: PolicyFeatures, text: str | None, checkpoint: str
) -> dict[str, str]:
    task_cams = list(task.cameras)
    if text:
        mapping: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in text.split(";"))):
            camera, sep, key = item.partition(":")
            if not sep:
                raise ValueError(f"camera_map item {item!r} is not <task camera>:<policy key>")
            key = key if key.startswith("observation.") else IMAGE_PREFIX + key
            if camera not in task_cams:
                raise FeatureMismatchError(
                    f"camera_map names task camera {camera!r}; task {task.name!r} has {task_cams}"
                )
            if key not in policy.images:
                raise FeatureMismatchError(
                    f"camera_map names policy image {key!r}; "
                    f"{checkpoint} has {sorted(policy.images)}"
                )
            mapping[key] = camera
    else:
        mapping = {key: _default_camera(key, task_cams) for key in policy.images}
    missing = [key for key in policy.images if mapping.get(key) not in task_cams]
    if missing:
        raise FeatureMismatchError(
            f"cameras do not match: {checkpoint} needs images {sorted(policy.images)}, task "
            f"{task.name!r} has cameras {task_cams}; unmatched: {missing}. Pass e.g. "
            f"--policy-args camera_map="
            + ";".join(f"{c}:{k}" for c, k in zip(task_cams, policy.images, strict=False))
        )
    return {key: mapping[key] for key in policy.images}


def _default_camera(key: str, task_cams: Sequence[str]) -> str:
    """The task camera a policy image key names when no camera_map is given."""
    if key == SINGLE_IMAGE_KEY and len(task_cams) == 1:
        return task_cams[0]
    return key.removeprefix(IMAGE_PREFIX)


def _match_state(
    task: TaskSpec, policy: PolicyFeatures, text: str | None, checkpoint: str
) -> tuple[Term, ...] | None:
    fields = list(task.state_fields)
    if policy.state_dim is None:
        return None
    if text:
        terms = parse_terms(text, fields, len(fields), "state_map")
        if len(terms) != policy.state_dim:
            raise FeatureMismatchError(
                f"state_map has {len(terms)} items; {checkpoint} expects observation.state "
                f"with {policy.state_dim} values"
            )
        return terms
    if len(fields) != policy.state_dim:
        raise FeatureMismatchError(
            f"state does not match: {checkpoint} expects observation.state with "
            f"{policy.state_dim} values, task {task.name!r} gives {_describe(fields)}. Pass "
            f"--policy-args state_map=<{policy.state_dim} items of field names, indices or const=0>"
        )
    _check_names("state", "state_map", policy.state_names, tuple(fields), task, checkpoint)
    return None


def _check_names(
    what: str,
    option: str,
    expected: tuple[str, ...] | None,
    given: tuple[str, ...],
    task: TaskSpec,
    checkpoint: str,
) -> None:
    """Vectors of equal width must also agree by name, where the checkpoint names them."""
    if expected is None or expected == given:
        return
    identity = ";".join(str(i) for i in range(len(given)))
    raise FeatureMismatchError(
        f"{what} names do not match: {checkpoint} was trained on ({', '.join(expected)}), task "
        f"{task.name!r} has ({', '.join(given)}). Map them with --policy-args {option}=..., or "
        f"pass {option}={identity} to use them in this order as they are"
    )


def _match_actions(
    task: TaskSpec, policy: PolicyFeatures, text: str | None, checkpoint: str
) -> tuple[Term, ...] | None:
    names = list(task.action_space.names)
    if text:
        terms = parse_terms(text, [], policy.action_dim, "action_map")
        if len(terms) != len(names):
            raise FeatureMismatchError(
                f"action_map has {len(terms)} items; task {task.name!r} action space "
                f"{task.action_space.name} has {_describe(names)}"
            )
        return terms
    if policy.action_dim != len(names):
        raise FeatureMismatchError(
            f"actions do not match: {checkpoint} outputs {policy.action_dim} values per action, "
            f"task {task.name!r} action space {task.action_space.name} has {_describe(names)}. "
            f"Pass --policy-args action_map=<{len(names)} policy indices or const=0, ';'-separated>"
        )
    _check_names("action", "action_map", policy.action_names, tuple(names), task, checkpoint)
    return None


def task_features(task: TaskSpec) -> dict[str, tuple[str, tuple[int, ...]]]:
    """The LeRobot features a policy built for ``task`` has: key -> (feature type, shape)."""
    features: dict[str, tuple[str, tuple[int, ...]]] = {
        IMAGE_PREFIX + camera: ("VISUAL", (3, int(h), int(w)))
        for camera, (h, w) in task.cameras.items()
    }
    features[STATE_KEY] = ("STATE", (len(task.state_fields),))
    features[ACTION_KEY] = ("ACTION", (task.action_space.dim,))
    return features
