"""Where an observation's parts travel on the wire: our own layout, LIBERO-style and DROID-style.

openpi's protocol has no schema; each server expects the keys its training data used. A
:class:`KeyMap` names them: which wire key carries which camera, which keys carry which slices of
the state vector, and which carries the instruction. The client turns our observations into a
server's keys with one (``--policy-args preset=...`` or explicit maps); ``bench serve`` reads
any of the three families back into our observations.

Cameras are named as the task names them (``front``) or by role: ``main`` is a task's first
camera whose name does not contain ``wrist``, ``wrist`` its first camera whose name does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.contract import Observation, TaskSpec

MAIN, WRIST = "main", "wrist"


class LayoutError(ValueError):
    """An observation or a map that does not fit the layout; the message names the key."""


@dataclass(frozen=True)
class KeyMap:
    """Wire keys of one observation family.

    ``images``: (wire key, camera name or role); ``state``: (wire key, width) taking consecutive
    slices of the state vector, width None for "the rest"; ``prompt``: the instruction's key.
    """

    name: str
    images: tuple[tuple[str, str], ...]
    state: tuple[tuple[str, int | None], ...]
    prompt: str | None = "prompt"

    def all_keys(self) -> list[str]:
        """Every wire key of this family."""
        keys = [wire for wire, _ in self.images] + [wire for wire, _ in self.state]
        return keys + ([self.prompt] if self.prompt else [])


LIBERO = KeyMap(
    "libero",
    images=(("observation/image", MAIN), ("observation/wrist_image", WRIST)),
    state=(("observation/state", None),),
)
"""openpi's LIBERO servers (pi0_libero, pi05_libero, ...): 8-d state (eef position,
axis-angle, two gripper joint positions), 224x224 images rotated 180 degrees by the client."""

DROID = KeyMap(
    "droid",
    images=(("observation/exterior_image_1_left", MAIN), ("observation/wrist_image_left", WRIST)),
    state=(("observation/joint_position", 7), ("observation/gripper_position", 1)),
)
"""openpi's DROID servers (pi05_droid, pi0_fast_droid, ...): 7 joint positions and the gripper
position; actions are 7 joint velocities and a gripper position in [0 open, 1 closed]."""

FAMILIES = {m.name: m for m in (LIBERO, DROID)}
"""The keyed families ``bench serve`` recognises besides our own (``vla_bench``)."""

OURS = "vla_bench"
"""Our own family: the observation dict as the task makes it (``images``, ``state``,
``instruction`` and any task extras)."""


def camera_for(name_or_role: str, cameras: Sequence[str]) -> str | None:
    """The task camera a map entry names: the camera itself, or the one its role picks."""
    if name_or_role in cameras:
        return name_or_role
    if name_or_role == WRIST:
        return next((c for c in cameras if WRIST in c), None)
    if name_or_role == MAIN:
        return next((c for c in cameras if WRIST not in c), None)
    return None


def parse_images(text: str) -> tuple[tuple[str, str], ...]:
    """``wire:camera+wire:camera`` (camera: a task camera name, ``main`` or ``wrist``)."""
    pairs = []
    for item in filter(None, text.split("+")):
        wire, sep, camera = item.rpartition(":")
        if not sep or not wire or not camera:
            raise LayoutError(
                f"images item {item!r} is not wire_key:camera "
                "(e.g. images=observation/image:front+observation/wrist_image:wrist)"
            )
        pairs.append((wire, camera))
    return tuple(pairs)


def parse_state(text: str) -> tuple[tuple[str, int | None], ...]:
    """``wire:width+wire`` — consecutive slices of the state vector; no width = the rest."""
    parts: list[tuple[str, int | None]] = []
    items = [item for item in text.split("+") if item]
    for i, item in enumerate(items):
        wire, sep, width = item.rpartition(":")
        if not sep:
            wire, width = item, ""
        if width and not width.isdigit():
            raise LayoutError(
                f"state item {item!r}: width {width!r} is not a number "
                "(e.g. state=observation/joint_position:7+observation/gripper_position:1)"
            )
        if not width and i != len(items) - 1:
            raise LayoutError(f"state item {item!r} needs a width; only the last may omit it")
        parts.append((wire, int(width) if width else None))
    return tuple(parts)


def to_wire(obs: Observation, keymap: KeyMap, cameras: Sequence[str]) -> dict[str, Any]:
    """Our observation under a keyed family's wire keys (images not yet transformed)."""
    out: dict[str, Any] = {}
    images = obs.get("images", {})
    for wire, name in keymap.images:
        camera = camera_for(name, list(images))
        if camera is None:
            raise LayoutError(
                f"wire key {wire!r} wants camera {name!r}; this task's cameras are "
                f"{sorted(images) or 'none'} (map one with images=...)"
            )
        out[wire] = images[camera]
    state = np.asarray(obs.get("state", ()), dtype=np.float64)
    start = 0
    for wire, width in keymap.state:
        stop = len(state) if width is None else start + width
        if stop > len(state):
            raise LayoutError(
                f"wire key {wire!r} wants state[{start}:{stop}]; the task's state has "
                f"{len(state)} entries (map it with state=...)"
            )
        out[wire] = state[start:stop]
        start = stop
    if keymap.prompt:
        out[keymap.prompt] = str(obs.get("instruction", ""))
    return out


def family_of(message: Mapping[str, Any]) -> str:
    """Which family a request belongs to, from its keys."""
    if "images" in message or "state" in message:
        return OURS
    for keymap in FAMILIES.values():
        if any(key in message for key in keymap.all_keys() if key != keymap.prompt):
            return keymap.name
    raise LayoutError(
        f"observation has none of the keys this server reads (got {sorted(message)[:8]}); "
        f"send {OURS} keys (images, state, instruction) or LIBERO or DROID keys "
        "(listed in the metadata frame under observation_keys)"
    )


def _writable(value: Any) -> Any:
    # Decoded arrays are read-only views of the frame; policies get arrays they may write to,
    # as they do in process.
    if isinstance(value, np.ndarray) and not value.flags.writeable:
        return value.copy()
    if isinstance(value, dict):
        return {k: _writable(v) for k, v in value.items()}
    return value


def from_wire(message: Mapping[str, Any], task: TaskSpec) -> Observation:
    """A request of any family as the observation the task would have produced."""
    family = family_of(message)
    if family == OURS:
        obs = {k: _writable(v) for k, v in message.items()}
        if not isinstance(obs.get("images", {}), dict):
            raise LayoutError("'images' must map camera names to HxWx3 uint8 arrays")
        obs.setdefault("images", {})
        obs.setdefault("instruction", str(message.get("prompt", task.instruction)))
        if "state" in obs:
            obs["state"] = np.asarray(obs["state"], dtype=np.float32)
        return obs
    keymap = FAMILIES[family]
    missing = [key for key in keymap.all_keys() if key not in message and key != keymap.prompt]
    if missing:
        raise LayoutError(f"{family} observation lacks {missing} (it needs {keymap.all_keys()})")
    images = {}
    for wire, role in keymap.images:
        camera = camera_for(role, list(task.cameras))
        if camera is None:
            raise LayoutError(
                f"{wire!r} has no camera to go to: task {task.name!r} has cameras "
                f"{sorted(task.cameras)}"
            )
        images[camera] = _writable(np.asarray(message[wire]))
    parts = [np.atleast_1d(np.asarray(message[wire], dtype=np.float64)) for wire, _ in keymap.state]
    state = np.concatenate(parts).astype(np.float32)
    if len(state) != len(task.state_fields):
        raise LayoutError(
            f"{family} state has {len(state)} entries; task {task.name!r} has "
            f"{len(task.state_fields)} ({', '.join(task.state_fields)})"
        )
    prompt = message.get(keymap.prompt) if keymap.prompt else None
    if isinstance(prompt, bytes):
        prompt = prompt.decode("utf-8", "replace")
    return {
        "images": images,
        "state": state,
        "instruction": str(prompt) if prompt is not None else task.instruction,
    }


def accepted_keys(task: TaskSpec | None) -> dict[str, Any]:
    """What ``bench serve`` accepts, per family (for the metadata frame and the README)."""
    cameras = list(task.cameras) if task else []
    ours: dict[str, Any] = {
        "images": {c: f"{h}x{w}x3 uint8" for c, (h, w) in (task.cameras.items() if task else ())}
        or "map camera name -> HxWx3 uint8",
        "state": f"float32[{len(task.state_fields)}]: {', '.join(task.state_fields)}"
        if task
        else "float32 vector in the task's state order",
        "instruction": "str (or prompt)",
    }
    keyed: dict[str, Any] = {OURS: ours}
    for keymap in FAMILIES.values():
        entry: dict[str, Any] = {}
        for wire, role in keymap.images:
            camera = camera_for(role, cameras) if task else None
            entry[wire] = f"HxWx3 uint8 -> camera {camera or role!r}"
        start = 0
        for wire, width in keymap.state:
            stop = "" if width is None else start + width
            entry[wire] = f"float[{width or 'rest'}] -> state[{start}:{stop}]"
            start += width or 0
        entry[keymap.prompt or "prompt"] = "str -> instruction (optional)"
        keyed[keymap.name] = entry
    return keyed
