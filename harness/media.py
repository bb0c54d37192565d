"""Rollout videos: an H.264 MP4 every browser plays, and a small GIF for a quick glance.

Frames are all cameras side by side. Long episodes keep every k-th frame
(:data:`MAX_VIDEO_FRAMES` at most) so a video stays small in memory and on disk; the GIF is a
further reduced thumbnail (at most :data:`THUMB_WIDTH` pixels wide and :data:`THUMB_FRAMES`
frames). Both are written atomically into the run directory.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from harness.contract import Observation, TaskSpec
from harness.results import atomic_write_bytes

MAX_VIDEO_FRAMES = 300
THUMB_WIDTH = 224
THUMB_FRAMES = 60


def side_by_side(obs: Observation) -> np.ndarray:
    """All cameras of an observation side by side (one video frame)."""
    images = [np.asarray(img) for img in (obs.get("images") or {}).values()]
    if not images:
        return np.zeros((2, 2, 3), dtype=np.uint8)
    height = max(img.shape[0] for img in images)
    padded = [np.pad(img, ((0, height - img.shape[0]), (0, 0), (0, 0))) for img in images]
    return np.concatenate(padded, axis=1)


class VideoRecorder:
    """Collects one episode's frames and writes its videos when it ends."""

    def __init__(self, out: Path, task: str, episode: int, spec: TaskSpec) -> None:
        self.out = out
        self.stem = Path("videos") / task / f"{episode:06d}"
        self.stride = max(1, math.ceil(spec.max_steps / MAX_VIDEO_FRAMES))
        self.frames: list[np.ndarray] = []

    @classmethod
    def maybe(
        cls, out: Path | None, task: str, episode: int, count: int, spec: TaskSpec
    ) -> VideoRecorder | None:
        """A recorder when the episode is among the first ``count`` of its task."""
        if out is None or episode >= count:
            return None
        return cls(out, task, episode, spec)

    def add(self, obs: Observation, step: int = -1) -> None:
        """Keep this observation's frame (the reset's, then every ``stride``-th step's)."""
        if step < 0 or (step + 1) % self.stride == 0:
            self.frames.append(side_by_side(obs))

    def finish(self, control_hz: float) -> dict[str, str]:
        """Write the MP4 and the GIF thumbnail; returns their paths inside the run directory."""
        fps = control_hz / self.stride
        written = {}
        if self.frames:
            mp4 = self.stem.with_suffix(".mp4")
            atomic_write_bytes(self.out / mp4, encode_mp4(self.frames, fps))
            written["mp4"] = mp4.as_posix()
            gif = self.stem.with_suffix(".gif")
            atomic_write_bytes(self.out / gif, encode_gif_thumbnail(self.frames, fps))
            written["gif"] = gif.as_posix()
        return written


def encode_mp4(frames: list[np.ndarray], fps: float) -> bytes:
    """H.264 (yuv420p, even dimensions) in an MP4 container, through PyAV."""
    import av

    height, width = frames[0].shape[:2]
    height, width = height + height % 2, width + width % 2
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=max(1, round(fps)))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast", "movflags": "+faststart"}
        for frame in frames:
            padded = np.pad(
                frame, ((0, height - frame.shape[0]), (0, width - frame.shape[1]), (0, 0))
            )
            for packet in stream.encode(av.VideoFrame.from_ndarray(padded, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def encode_gif_thumbnail(frames: list[np.ndarray], fps: float) -> bytes:
    """A small looping GIF: at most THUMB_FRAMES frames, at most THUMB_WIDTH pixels wide."""
    from PIL import Image

    stride = max(1, math.ceil(len(frames) / THUMB_FRAMES))
    kept = frames[::stride]
    height, width = kept[0].shape[:2]
    scale = min(1.0, THUMB_WIDTH / width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    images = [Image.fromarray(f).resize(size, Image.Resampling.BILINEAR) for f in kept]
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=int(1000 * stride / fps),
        loop=0,
    )
    return buffer.getvalue()


def video_paths(extra: dict[str, Any]) -> dict[str, str]:
    """The videos an episode row's ``extra`` lists (``{"mp4": ..., "gif": ...}``)."""
    video = extra.get("video")
    return dict(video) if isinstance(video, dict) else {}
