"""OpenVLA's action convention, both ways: ``ee_delta_7d`` <-> normalised values <-> tokens.

OpenVLA normalises each training dataset's actions with its 1st/99th percentiles
(``bounds_q99``): ``2 (a - q01) / (q99 - q01) - 1`` clipped to [-1, 1], per dimension whose
``mask`` entry is True (a masked dimension that never varies, min == max, becomes 0); the
others (the gripper) stay as they are. Un-normalising is therefore, per dimension,
``mask ? 0.5 * (x + 1) * (q99 - q01) + q01 : x`` with the statistics of one dataset, chosen by
``unnorm_key`` (``bridge_orig``, ``libero_spatial_no_noops``, ...).

The gripper is where datasets and tasks disagree. OpenVLA's RLDS loader aligns every dataset
so that the gripper action is 1 = open and 0 = closed, and the mask leaves it unscaled, so an
OpenVLA checkpoint emits a gripper value near 0 or 1. ``ee_delta_7d`` wants -1 = open and
+1 = closed. :data:`GRIPPER_CONVENTIONS` names the mappings; ``gripper=open1_close0`` (the
default) is the one for OpenVLA's own checkpoints and its fine-tunes made with its training
code or ``bench train``; OpenVLA's LIBERO evaluation arrives at the same map (``2g - 1`` then
sign flip).

Decoding (:class:`ActionDecoder`, the policy) and encoding (:class:`ActionEncoder` and
:func:`dataset_statistics`, fine-tuning) live here together so that one is the other's inverse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from vla_bench_openvla.action_tokenizer import ActionTokenizer


class UnnormKeyError(KeyError):
    """``unnorm_key`` is missing, ambiguous or unknown; the message lists the choices."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0])


@dataclass(frozen=True)
class ActionStats:
    """One dataset's action statistics: percentiles and the mask of dimensions to scale."""

    key: str
    q01: np.ndarray
    q99: np.ndarray
    mask: np.ndarray
    constant: np.ndarray | None = None
    """Dimensions that never varied in the dataset (min == max); None when not recorded."""

    @property
    def dim(self) -> int:
        """Number of action dimensions (tokens generated per action)."""
        return len(self.q01)

    def normalize(self, actions: np.ndarray) -> np.ndarray:
        """OpenVLA's ``bounds_q99``: ``2 (a - q01) / (q99 - q01) - 1`` clipped to [-1, 1] where
        ``mask`` is true; other dimensions as they are.

        A masked dimension that never varies becomes 0, as in OpenVLA, and decodes back to its
        constant value. Unlike OpenVLA that rule is not applied to unmasked dimensions: there
        the raw value is what the policy decodes, so it must stay.
        """
        x = np.asarray(actions, dtype=np.float64)
        scaled = np.clip(2.0 * (x - self.q01) / (self.q99 - self.q01 + 1e-8) - 1.0, -1.0, 1.0)
        constant = self.mask & (
            self.constant if self.constant is not None else np.zeros_like(self.mask)
        )
        return np.where(constant, 0.0, np.where(self.mask, scaled, x))

    def unnormalize(self, normalized: np.ndarray) -> np.ndarray:
        """OpenVLA's inverse of ``bounds_q99``; unmasked dimensions pass through unchanged."""
        x = np.asarray(normalized, dtype=np.float64)
        scaled = 0.5 * (x + 1.0) * (self.q99 - self.q01) + self.q01
        return np.where(self.mask, scaled, x)


def select_stats(norm_stats: Mapping[str, Any], unnorm_key: str | None) -> ActionStats:
    """The action statistics for ``unnorm_key`` (or the only dataset when it is None)."""
    keys = sorted(norm_stats)
    if not keys:
        raise UnnormKeyError(
            "the checkpoint has no action statistics (config.json 'norm_stats' and "
            "dataset_statistics.json are both missing or empty); OpenVLA cannot un-normalise "
            "its actions without them"
        )
    listing = ", ".join(keys)
    if unnorm_key is None:
        if len(keys) > 1:
            raise UnnormKeyError(
                f"the checkpoint has action statistics for {len(keys)} datasets; choose one "
                f"with --policy-args unnorm_key=<key> (one of: {listing})"
            )
        unnorm_key = keys[0]
    if unnorm_key not in norm_stats:
        raise UnnormKeyError(
            f"unnorm_key {unnorm_key!r} is not in the checkpoint's action statistics; "
            f"choose one of: {listing}"
        )
    try:
        action = norm_stats[unnorm_key]["action"]
        q01 = np.asarray(action["q01"], dtype=np.float64)
        q99 = np.asarray(action["q99"], dtype=np.float64)
    except (KeyError, TypeError) as exc:
        raise ValueError(
            f"action statistics {unnorm_key!r} lack 'action' -> 'q01'/'q99' ({exc}); "
            f"is this an OpenVLA checkpoint?"
        ) from exc
    mask = np.asarray(action.get("mask", np.ones_like(q01, dtype=bool)), dtype=bool)
    if not (q01.shape == q99.shape == mask.shape) or q01.ndim != 1:
        raise ValueError(
            f"action statistics {unnorm_key!r}: q01, q99 and mask must be equal-length lists "
            f"(got shapes {q01.shape}, {q99.shape}, {mask.shape})"
        )
    constant = None
    if "min" in action and "max" in action:
        low = np.asarray(action["min"], dtype=np.float64)
        high = np.asarray(action["max"], dtype=np.float64)
        if low.shape == high.shape == q01.shape:
            constant = low == high
    return ActionStats(unnorm_key, q01, q99, mask, constant)


def identity_stats(dim: int = 7) -> ActionStats:
    """Statistics that leave normalised values unchanged, for ``weights=random``."""
    return ActionStats("identity", -np.ones(dim), np.ones(dim), np.ones(dim, dtype=bool))


@dataclass(frozen=True)
class GripperConvention:
    """How a model's gripper value maps into ``ee_delta_7d`` (-1 open, +1 closed)."""

    name: str
    description: str
    to_ee: Callable[[Any], Any]
    """Model value -> ``ee_delta_7d`` gripper (scalars or arrays)."""
    from_ee: Callable[[Any], Any]
    """``ee_delta_7d`` gripper -> model value: the inverse, for writing training targets."""


GRIPPER_CONVENTIONS: dict[str, GripperConvention] = {
    c.name: c
    for c in (
        GripperConvention(
            "open1_close0",
            "model emits 1 = open, 0 = closed (OpenVLA's RLDS convention): ee = 1 - 2g",
            lambda g: 1.0 - 2.0 * g,
            lambda ee: (1.0 - ee) / 2.0,
        ),
        GripperConvention(
            "close1_open0",
            "model emits 1 = closed, 0 = open: ee = 2g - 1",
            lambda g: 2.0 * g - 1.0,
            lambda ee: (ee + 1.0) / 2.0,
        ),
        GripperConvention(
            "signed",
            "model already emits -1 = open, +1 = closed: ee = g",
            lambda g: g,
            lambda ee: ee,
        ),
        GripperConvention(
            "signed_inverted",
            "model emits +1 = open, -1 = closed: ee = -g",
            lambda g: -g,
            lambda ee: -ee,
        ),
    )
}
"""Selectable with ``--policy-args gripper=<name>``."""

DEFAULT_GRIPPER = "open1_close0"


def gripper_convention(name: str) -> GripperConvention:
    """The named convention, or an error listing them."""
    try:
        return GRIPPER_CONVENTIONS[name]
    except KeyError:
        choices = "; ".join(f"{c.name}: {c.description}" for c in GRIPPER_CONVENTIONS.values())
        raise ValueError(f"gripper={name!r} is not a known convention ({choices})") from None


@dataclass
class DecodedAction:
    """One action in ``ee_delta_7d`` and how it was obtained."""

    action: np.ndarray
    normalized: np.ndarray
    valid: np.ndarray

    @property
    def failures(self) -> int:
        """How many dimensions came from a non-action token (replaced by their no-op)."""
        return int((~self.valid).sum())


class ActionDecoder:
    """Token ids -> ``ee_delta_7d`` with OpenVLA's bins, one dataset's statistics and a gripper map.

    A dimension whose token is not an action token is a decode failure and gets its no-op:
    0 for the six motion dimensions (no movement) and, for the gripper, the gripper command
    of the previous action of the episode (``reset`` starts that at -1, open). ``binarize``
    takes the sign of the mapped gripper value, as OpenVLA's LIBERO evaluation does.
    """

    def __init__(
        self,
        tokenizer: ActionTokenizer,
        stats: ActionStats,
        gripper: GripperConvention,
        binarize: bool = False,
    ) -> None:
        if stats.dim != 7:
            raise ValueError(
                f"action statistics {stats.key!r} have {stats.dim} dimensions; ee_delta_7d "
                f"needs 7 (dx, dy, dz, droll, dpitch, dyaw, gripper)"
            )
        self.tokenizer = tokenizer
        self.stats = stats
        self.gripper = gripper
        self.binarize = binarize
        self.last_gripper = -1.0

    def reset(self) -> None:
        """Start an episode with the gripper open."""
        self.last_gripper = -1.0

    def __call__(self, ids: np.ndarray) -> DecodedAction:
        """Decode one action's ``dim`` token ids."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.shape != (self.stats.dim,):
            raise ValueError(f"expected {self.stats.dim} action token ids, got {ids.shape[0]}")
        normalized, valid = self.tokenizer.decode(ids)
        raw = self.stats.unnormalize(np.where(valid, normalized, 0.0))
        action = np.where(valid, raw, 0.0)
        if valid[-1]:
            g = self.gripper.to_ee(float(raw[-1]))
            action[-1] = float(np.sign(g)) if self.binarize else g
        else:
            action[-1] = self.last_gripper
        self.last_gripper = float(action[-1])
        return DecodedAction(action, normalized, valid)


# -- encoding: training targets ----------------------------------------------------------------

GRIPPER = 6
"""Index of the gripper in ``ee_delta_7d``."""


def to_model_convention(
    actions: np.ndarray, gripper: GripperConvention | None = None
) -> np.ndarray:
    """``ee_delta_7d`` actions (N x 7) with the gripper in the model's convention (default
    ``open1_close0``: 1 open, 0 closed), the form OpenVLA's statistics and targets are in."""
    convention = gripper or GRIPPER_CONVENTIONS[DEFAULT_GRIPPER]
    out = np.array(actions, dtype=np.float64)
    if out.ndim != 2 or out.shape[1] != 7:
        raise ValueError(
            f"expected ee_delta_7d actions as N x 7, got shape {out.shape}; OpenVLA drives "
            f"ee_delta_7d (dx, dy, dz, droll, dpitch, dyaw, gripper)"
        )
    out[:, GRIPPER] = convention.from_ee(out[:, GRIPPER])
    return out


def _summary(values: np.ndarray) -> dict[str, list[float]]:
    return {
        "mean": values.mean(axis=0).tolist(),
        "std": values.std(axis=0).tolist(),
        "max": values.max(axis=0).tolist(),
        "min": values.min(axis=0).tolist(),
        "q01": np.quantile(values, 0.01, axis=0).tolist(),
        "q99": np.quantile(values, 0.99, axis=0).tolist(),
    }


def dataset_statistics(actions: np.ndarray, states: np.ndarray, episodes: int) -> dict[str, Any]:
    """One dataset's entry of ``dataset_statistics.json``, in OpenVLA's form, for ``ee_delta_7d``
    ``actions``: summaries of the actions in the model's convention (:func:`to_model_convention`)
    with ``mask`` true for the six motion dimensions and false for the gripper (not scaled)."""
    model = to_model_convention(actions)
    mask = [True] * model.shape[1]
    mask[GRIPPER] = False
    return {
        "action": {**_summary(model), "mask": mask},
        "proprio": _summary(np.asarray(states, dtype=np.float64)),
        "num_transitions": len(model),
        "num_trajectories": int(episodes),
    }


class ActionEncoder:
    """``ee_delta_7d`` actions -> OpenVLA's action token ids: the inverse of
    :class:`ActionDecoder` with the same bins, statistics and gripper convention."""

    def __init__(
        self, tokenizer: ActionTokenizer, stats: ActionStats, gripper: GripperConvention
    ) -> None:
        self.tokenizer = tokenizer
        self.stats = stats
        self.gripper = gripper

    def __call__(self, actions: np.ndarray) -> np.ndarray:
        """Token ids (N x 7) for N actions."""
        model = to_model_convention(actions, self.gripper)
        return self.tokenizer.encode(self.stats.normalize(model))
