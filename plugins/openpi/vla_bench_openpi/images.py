"""Image preparation a server expects from its client: rotation and resize-with-pad.

openpi's clients rotate LIBERO's renders by 180 degrees and shrink every camera to 224x224 the
way ``tf.image.resize_with_pad`` does (keep the aspect ratio, bilinear, centre on black), with
PIL so that the client needs no TensorFlow. These do the same, so that a server sees the pixels
it was trained on; ``tests/fixtures`` holds openpi-client's own output to compare against.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def rotate_180(image: np.ndarray) -> np.ndarray:
    """The image turned upside down and mirrored (a 180-degree rotation), contiguous."""
    return np.ascontiguousarray(image[::-1, ::-1])


def resize_with_pad(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """An HxWxC uint8 image scaled to fit ``height x width`` (bilinear), centred on black."""
    if image.shape[:2] == (height, width):
        return image
    source = Image.fromarray(image)
    ratio = max(source.width / width, source.height / height)
    inner_w, inner_h = int(source.width / ratio), int(source.height / ratio)
    scaled = source.resize((inner_w, inner_h), resample=Image.Resampling.BILINEAR)
    canvas = Image.new(scaled.mode, (width, height), 0)
    canvas.paste(scaled, (max(0, (width - inner_w) // 2), max(0, (height - inner_h) // 2)))
    return np.asarray(canvas)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A float image in [0, 1] as uint8 (what openpi's servers read); uint8 passes through."""
    if np.issubdtype(image.dtype, np.floating):
        return (255 * image).astype(np.uint8)
    return image
