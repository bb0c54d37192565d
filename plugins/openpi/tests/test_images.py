"""Image preparation against openpi-client's own ``image_tools`` output (stored fixtures)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from vla_bench_openpi import codec
from vla_bench_openpi.images import resize_with_pad, rotate_180, to_uint8

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))

from cases import image_inputs  # noqa: E402

THEIRS = codec.unpack((FIXTURES / "image_tools.msgpack").read_bytes())


def test_resize_with_pad_matches_openpi_clients_pixels() -> None:
    inputs = image_inputs()
    np.testing.assert_array_equal(resize_with_pad(inputs["wide"], 32, 32), THEIRS["wide_to_32x32"])
    np.testing.assert_array_equal(resize_with_pad(inputs["tall"], 32, 48), THEIRS["tall_to_32x48"])
    np.testing.assert_array_equal(resize_with_pad(inputs["wide"], 20, 80), THEIRS["wide_to_20x80"])


def test_to_uint8_matches_openpi_client() -> None:
    np.testing.assert_array_equal(
        to_uint8(image_inputs()["unit_float"]), THEIRS["unit_float_to_uint8"]
    )


def test_rotate_180_turns_corners_over() -> None:
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    turned = rotate_180(image)
    np.testing.assert_array_equal(turned[0, 0], image[1, 2])
    np.testing.assert_array_equal(turned[1, 2], image[0, 0])
    assert turned.flags.c_contiguous
