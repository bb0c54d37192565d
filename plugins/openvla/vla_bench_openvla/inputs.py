"""What OpenVLA reads: the 6-channel image tensor and the prompt's token ids.

Image: the whole RGB frame is resized to each tower's square input with PIL's bicubic filter
(``image_resize_strategy = "resize-naive"``, what the published processor does through
torchvision on PIL images), scaled to [0, 1] and normalised with that tower's own mean and
std; DINOv2's 3 channels come first, SigLIP's next.

Prompt: ``In: What action should the robot take to {instruction}?\\nOut:`` with the instruction
lower-cased (as OpenVLA's training data and evaluation scripts do), tokenised by the
checkpoint's own ``tokenizer.json`` (the fast Llama tokenizer the published processor used),
BOS prepended, and the bare ``"▁"`` token (29871 in Llama-2's vocabulary) appended as
``predict_action`` does to match training.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vla_bench_openvla.config import ImageSpec

PROMPT = "In: What action should the robot take to {instruction}?\nOut:"


def prompt_text(instruction: str) -> str:
    """OpenVLA's prompt for one instruction."""
    return PROMPT.format(instruction=instruction.strip().lower())


class ImageTransform:
    """RGB uint8 frame -> float32 (6, S, S): each tower's resize and normalisation, stacked.

    ``center_crop`` (a fraction of the image *area*, e.g. 0.9) first crops the centre and
    resizes back to the frame's size, as OpenVLA's evaluation does for checkpoints fine-tuned
    with random-crop augmentation (its LIBERO fine-tunes). OpenVLA does that step with
    TensorFlow's bilinear ``crop_and_resize``; PIL's bilinear resize is used here, so that
    step matches to interpolation detail, not bit for bit.
    """

    def __init__(self, images: tuple[ImageSpec, ...], center_crop: float | None = None) -> None:
        if center_crop is not None and not 0.0 < center_crop <= 1.0:
            raise ValueError(f"center_crop={center_crop} must be an area fraction in (0, 1]")
        self.images = images
        self.center_crop = center_crop

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """Transform one HxWx3 uint8 frame."""
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(
                f"OpenVLA needs an HxWx3 uint8 RGB frame; got shape {frame.shape} "
                f"dtype {frame.dtype}"
            )
        image = Image.fromarray(frame)
        if self.center_crop is not None and self.center_crop < 1.0:
            side = math.sqrt(self.center_crop)
            w, h = image.size
            box = ((1 - side) / 2 * w, (1 - side) / 2 * h, (1 + side) / 2 * w, (1 + side) / 2 * h)
            image = image.resize((w, h), Image.Resampling.BILINEAR, box=box)
        resized: dict[int, np.ndarray] = {}
        channels = []
        for spec in self.images:
            if spec.size not in resized:
                square = image.resize((spec.size, spec.size), Image.Resampling.BICUBIC)
                resized[spec.size] = np.asarray(square, dtype=np.float32) / 255.0
            mean = np.asarray(spec.mean, dtype=np.float32)
            std = np.asarray(spec.std, dtype=np.float32)
            channels.append(((resized[spec.size] - mean) / std).transpose(2, 0, 1))
        return np.concatenate(channels, axis=0)


def _token_content(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("content")
    return value if isinstance(value, str) else None


class PromptTokenizer:
    """The checkpoint's ``tokenizer.json`` plus BOS and the trailing ``"▁"`` token.

    ``eos_id`` (``</s>``) is what follows the action tokens in OpenVLA's training targets.
    """

    def __init__(
        self, tokenizer: Any, bos_id: int | None, space_id: int | None, eos_id: int | None = None
    ) -> None:
        self.tokenizer = tokenizer
        self.bos_id = bos_id
        self.space_id = space_id
        self.eos_id = eos_id

    @classmethod
    def from_dir(cls, directory: Path) -> PromptTokenizer:
        """Load ``tokenizer.json``; BOS handling from ``tokenizer_config.json`` if present."""
        from tokenizers import Tokenizer

        path = directory / "tokenizer.json"
        if not path.is_file():
            raise FileNotFoundError(
                f"{directory} has no tokenizer.json; OpenVLA checkpoints ship the fast Llama "
                f"tokenizer beside the weights"
            )
        tokenizer = Tokenizer.from_file(str(path))
        settings: dict[str, Any] = {}
        for name in ("special_tokens_map.json", "tokenizer_config.json"):
            if (directory / name).is_file():
                settings.update(json.loads((directory / name).read_text()))
        bos_id = None
        if settings.get("add_bos_token", True):
            bos = _token_content(settings.get("bos_token")) or "<s>"
            bos_id = tokenizer.token_to_id(bos)
            if bos_id is None:
                raise ValueError(f"tokenizer.json in {directory} has no BOS token {bos!r}")
        eos = _token_content(settings.get("eos_token")) or "</s>"
        return cls(tokenizer, bos_id, tokenizer.token_to_id("▁"), tokenizer.token_to_id(eos))

    def encode(self, instruction: str) -> list[int]:
        """Token ids of the prompt for ``instruction``."""
        ids = self.tokenizer.encode(prompt_text(instruction), add_special_tokens=False).ids
        if self.bos_id is not None:
            ids = [self.bos_id, *ids]
        if self.space_id is not None and (not ids or ids[-1] != self.space_id):
            ids.append(self.space_id)
        return list(ids)


class WordTokenizer:
    """For ``weights=random`` without a tokenizer: BOS, then one id per word, punctuation mark
    or newline of the prompt, then the trailing ``"▁"`` id.

    Llama-2 gives common English words one token each, so the prompt comes out close to its
    real length (26 ids for "pick up the red block and put it in the bowl"), which is what a
    latency profile needs; the ids themselves (stable hashes into the text part of the
    vocabulary) mean nothing.
    """

    bos_id = 1
    space_id = 29871
    _piece = re.compile(r"\w+|[^\w\s]|\n")

    def __init__(self, text_vocab: int = 32000 - 256) -> None:
        self.text_vocab = text_vocab

    def encode(self, instruction: str) -> list[int]:
        """Token ids of the prompt for ``instruction``."""
        pieces = self._piece.findall(prompt_text(instruction))
        ids = [3 + zlib.crc32(p.encode()) % (self.text_vocab - 3) for p in pieces]
        return [self.bos_id, *ids, min(self.space_id, self.text_vocab - 1)]
