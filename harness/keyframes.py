"""Keyframes: a few evenly spaced frames of each episode, with the truth at each of them.

``bench run --keyframes K`` keeps K frames per episode — the first observation, the last one,
and K - 2 spread evenly between (K = 5 gives the ActionVLM report's first, 25 %, 50 %, 75 %
and final frames; K = 1 the last frame only) — so that a judge can later be scored on them
against ground truth. Layout inside a run directory::

    keyframes/<task>/<episode:06d>/<step:06d>.<camera>.png   one PNG per kept frame and camera
    keyframes/<task>/<episode:06d>/index.json                what each frame shows (written last)

``index.json`` holds the task, episode, instruction, state field names and, per kept frame,
``step`` (0 = the observation after reset, n = after n actions), ``state`` (the state vector),
``state_text``, ``reward`` (of the action that led to this frame), ``return`` (the sum of
rewards up to it), ``success`` (``info["success"]`` at that step) and ``info`` (the step's
numeric ``info`` entries, e.g. swings). Every file is written atomically and the index last,
so a frame listed in an index is whole; a re-run episode rewrites its folder.

Memory stays bounded whatever the episode length: the recorder keeps every s-th step and
doubles s whenever it holds more than 2K frames, then picks the K kept frames nearest to even
spacing when the episode ends (the last frame is always kept).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.contract import TaskSpec
from harness.results import atomic_write_bytes, atomic_write_json

KEYFRAMES_DIR = "keyframes"
INDEX_FILE = "index.json"


@dataclass
class _Kept:
    step: int
    images: dict[str, np.ndarray]
    state: list[float]
    state_text: str | None
    reward: float
    ret: float
    success: bool
    info: dict[str, float]


def _scalars(info: Mapping[str, Any]) -> dict[str, float]:
    """The numeric entries of ``info`` (counters such as swings), JSON-ready."""
    out: dict[str, float] = {}
    for key, value in info.items():
        if isinstance(value, bool | int | float | np.integer | np.floating):
            number = float(value)
            if math.isfinite(number):
                out[str(key)] = number
    return out


class KeyframeRecorder:
    """Keeps up to ``k`` evenly spaced frames of one episode; :meth:`write` stores them."""

    def __init__(
        self,
        run_dir: Path,
        task: str,
        episode: int,
        k: int,
        *,
        instruction: str = "",
        state_fields: tuple[str, ...] = (),
    ) -> None:
        if k < 1:
            raise ValueError(f"keyframes must be at least 1 (the last frame), got {k}")
        self.folder = Path(run_dir) / KEYFRAMES_DIR / task / f"{episode:06d}"
        self.task, self.episode, self.k = task, episode, k
        self.instruction = instruction
        self.state_fields = state_fields
        self._stride = 1
        self._kept: list[_Kept] = []
        self._last: _Kept | None = None
        self._return = 0.0

    @classmethod
    def for_episode(
        cls, run_dir: Path | None, spec: TaskSpec, episode: int, k: int
    ) -> KeyframeRecorder | None:
        """A recorder for one episode of ``spec``, or None when ``k`` is 0 (none asked for)."""
        if not k or run_dir is None:
            return None
        return cls(
            run_dir,
            spec.name,
            episode,
            k,
            instruction=spec.instruction,
            state_fields=tuple(spec.state_fields),
        )

    def step(
        self,
        step: int,
        obs: Mapping[str, Any],
        reward: float,
        success: bool,
        info: Mapping[str, Any],
    ) -> None:
        """See the observation after ``step`` actions (0: after reset) and what the step gave."""
        self._return += float(reward)
        if obs.get("instruction"):
            self.instruction = str(obs["instruction"])
        entry = _Kept(
            step=step,
            images={c: np.asarray(img) for c, img in (obs.get("images") or {}).items()},
            state=[float(v) for v in np.asarray(obs.get("state", ()), dtype=np.float64).ravel()],
            state_text=obs.get("state_text"),
            reward=float(reward),
            ret=self._return,
            success=bool(success),
            info=_scalars(info),
        )
        self._last = entry
        if step % self._stride:
            return
        self._kept.append(entry)
        if len(self._kept) > 2 * self.k:
            self._stride *= 2
            self._kept = [e for e in self._kept if e.step % self._stride == 0]

    def chosen(self) -> list[_Kept]:
        """The frames to store: the kept ones nearest to ``k`` evenly spaced steps."""
        if self._last is None:
            return []
        if self.k == 1:
            return [self._last]
        pool = {e.step: e for e in self._kept}
        pool[self._last.step] = self._last
        steps = sorted(pool)
        picked: list[int] = []
        for target in np.linspace(steps[0], steps[-1], self.k):
            free = [s for s in steps if s not in picked]
            if not free:
                break
            picked.append(min(free, key=lambda s: (abs(s - target), s)))
        return [pool[s] for s in sorted(picked)]

    def write(self) -> Path | None:
        """Write the chosen frames and then the index; returns the folder (None: no frames)."""
        chosen = self.chosen()
        if not chosen:
            return None
        frames = []
        for entry in chosen:
            images = {}
            for camera, image in entry.images.items():
                name = f"{entry.step:06d}.{camera}.png"
                atomic_write_bytes(self.folder / name, _png(image))
                images[camera] = name
            frames.append(
                {
                    "step": entry.step,
                    "images": images,
                    "state": entry.state,
                    "state_text": entry.state_text,
                    "reward": entry.reward,
                    "return": entry.ret,
                    "success": entry.success,
                    "info": entry.info,
                }
            )
        atomic_write_json(
            self.folder / INDEX_FILE,
            {
                "task": self.task,
                "episode": self.episode,
                "instruction": self.instruction,
                "state_fields": list(self.state_fields),
                "keyframes": self.k,
                "last_step": chosen[-1].step,
                "frames": frames,
            },
        )
        return self.folder


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class Keyframe:
    """One stored frame and the simulator's truth at that step."""

    folder: Path
    step: int
    images: Mapping[str, str]
    state: tuple[float, ...]
    state_text: str | None
    reward: float
    ret: float
    success: bool
    info: Mapping[str, float] = field(default_factory=dict)

    def image(self, camera: str | None = None) -> np.ndarray:
        """The frame of ``camera`` (default: the first stored) as HxWx3 uint8."""
        from PIL import Image

        if not self.images:
            raise LookupError(f"keyframe {self.step} in {self.folder} stores no image")
        name = self.images[camera] if camera is not None else next(iter(self.images.values()))
        with Image.open(self.folder / name) as img:
            return np.asarray(img.convert("RGB"))


@dataclass(frozen=True)
class EpisodeKeyframes:
    """The stored keyframes of one episode (from its ``index.json``)."""

    task: str
    episode: int
    instruction: str
    state_fields: tuple[str, ...]
    frames: tuple[Keyframe, ...]

    def named_state(self, frame: Keyframe) -> dict[str, float]:
        """``frame``'s state vector as {field name: value}."""
        return dict(zip(self.state_fields, frame.state, strict=False))


def read_episode(folder: Path) -> EpisodeKeyframes:
    """One episode's keyframes, from ``folder/index.json``."""
    doc = json.loads((Path(folder) / INDEX_FILE).read_text())
    frames = tuple(
        Keyframe(
            folder=Path(folder),
            step=int(f["step"]),
            images=dict(f.get("images") or {}),
            state=tuple(float(v) for v in f.get("state") or ()),
            state_text=f.get("state_text"),
            reward=float(f.get("reward") or 0.0),
            ret=float(f.get("return") or 0.0),
            success=bool(f.get("success")),
            info=dict(f.get("info") or {}),
        )
        for f in doc["frames"]
    )
    return EpisodeKeyframes(
        task=str(doc["task"]),
        episode=int(doc["episode"]),
        instruction=str(doc.get("instruction") or ""),
        state_fields=tuple(doc.get("state_fields") or ()),
        frames=frames,
    )


def read_keyframes(run_dir: Path) -> Iterator[EpisodeKeyframes]:
    """Every episode with stored keyframes in a run directory, in (task, episode) order."""
    for index in sorted((Path(run_dir) / KEYFRAMES_DIR).glob(f"*/*/{INDEX_FILE}")):
        yield read_episode(index.parent)
