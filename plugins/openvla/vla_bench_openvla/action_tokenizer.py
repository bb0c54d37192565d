"""OpenVLA's action tokenizer: 256 uniform bins over [-1, 1] on Llama's last 256 token ids.

The maths is OpenVLA's, bit for bit (``prismatic/vla/action_tokenizer.py`` and
``OpenVLAForActionPrediction.predict_action``):

* ``bins = linspace(-1, 1, 256)`` (256 edges, 255 intervals) and ``centres`` the 255 midpoints;
* encoding: ``id = V - digitize(clip(a, -1, 1), bins)`` where ``V`` is the LLM vocabulary size
  *before* padding (``text_config.vocab_size - pad_to_multiple_of``: 32064 - 64 = 32000 for
  Llama-2), so ids run from ``V - 256`` (a = 1) to ``V - 1`` (a = -1);
* decoding: ``centres[clip(V - id - 1, 0, 254)]``; the top id ``V - 256`` folds onto the same
  centre as ``V - 255`` (OpenVLA's own quirk, kept).

Unlike OpenVLA, an id outside ``[V - 256, V)`` (a text or padding token) is *not* clipped onto
an extreme bin: :meth:`ActionTokenizer.decode` reports it as invalid so the caller can count a
decode failure instead of silently executing a full-scale action.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ActionTokenizer:
    """Maps normalised actions in [-1, 1] to token ids and back (see the module docstring)."""

    vocab_size: int = 32000
    """The LLM vocabulary before padding; action ids are its last ``n_bins`` ids."""
    n_bins: int = 256

    def __post_init__(self) -> None:
        if self.n_bins < 2 or self.vocab_size < self.n_bins:
            raise ValueError(
                f"action tokenizer needs 2 <= n_bins <= vocab_size "
                f"(got n_bins={self.n_bins}, vocab_size={self.vocab_size})"
            )

    @property
    def bins(self) -> np.ndarray:
        """The ``n_bins`` bin edges, uniform over [-1, 1]."""
        return np.linspace(-1.0, 1.0, self.n_bins)

    @property
    def centres(self) -> np.ndarray:
        """The ``n_bins - 1`` bin centres a decoded id maps to."""
        bins = self.bins
        return (bins[:-1] + bins[1:]) / 2.0

    @property
    def first_id(self) -> int:
        """The lowest action token id (``vocab_size - n_bins``)."""
        return self.vocab_size - self.n_bins

    def encode(self, normalized: np.ndarray) -> np.ndarray:
        """Token ids for normalised actions (clipped to [-1, 1] first, as in training)."""
        clipped = np.clip(np.asarray(normalized, dtype=np.float64), -1.0, 1.0)
        return (self.vocab_size - np.digitize(clipped, self.bins)).astype(np.int64)

    def is_action(self, ids: np.ndarray) -> np.ndarray:
        """Whether each id is one of the ``n_bins`` action tokens."""
        ids = np.asarray(ids, dtype=np.int64)
        return (ids >= self.first_id) & (ids < self.vocab_size)

    def decode(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(values, valid)``: bin centres for action ids, NaN where ``valid`` is False."""
        ids = np.asarray(ids, dtype=np.int64)
        valid = self.is_action(ids)
        index = np.clip(self.vocab_size - ids - 1, 0, self.n_bins - 2)
        values = np.where(valid, self.centres[index], np.nan)
        return values, valid
