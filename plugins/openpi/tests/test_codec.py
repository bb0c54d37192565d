"""The codec against openpi-client 0.1.2's own frames, and its refusals of malformed frames."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import msgpack
import numpy as np
import pytest
from vla_bench_openpi import codec

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))

from cases import cases, describe, refused  # noqa: E402

MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
CASES = cases()


def test_fixtures_were_made_by_openpi_client_0_1_2_on_numpy_1() -> None:
    assert MANIFEST["versions"]["openpi-client"] == "0.1.2"
    assert MANIFEST["versions"]["numpy"].startswith("1.")
    assert sorted(MANIFEST["openpi_decodes"]) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_our_encoder_writes_openpi_clients_exact_bytes(name: str) -> None:
    expected = (FIXTURES / f"{name}.msgpack").read_bytes()
    assert codec.pack(CASES[name]) == expected
    assert codec.Packer().pack(CASES[name]) == expected


@pytest.mark.parametrize("name", sorted(CASES))
def test_our_decoder_reads_openpi_clients_frames_as_openpi_does(name: str) -> None:
    decoded = codec.unpack((FIXTURES / f"{name}.msgpack").read_bytes())
    # ``describe`` pictures dtype, shape, bytes and Python types; openpi's decoder gave this.
    assert json.loads(json.dumps(describe(decoded))) == MANIFEST["openpi_decodes"][name]


def test_round_trip_keeps_dtype_shape_and_values() -> None:
    message = CASES["arrays"]
    back = codec.unpack(codec.pack(message))
    for key, array in message.items():
        assert back[key].dtype == array.dtype, key
        assert back[key].shape == array.shape, key
        np.testing.assert_array_equal(back[key], array)
    scalars = codec.unpack(codec.pack(CASES["numpy_scalars"]))
    assert type(scalars["float32"]) is np.float32 and scalars["float32"] == np.float32(1.25)
    assert type(scalars["bool"]) is np.bool_


@pytest.mark.parametrize("name", sorted(refused()))
def test_refused_dtypes_are_refused_when_sending_as_openpi_does(name: str) -> None:
    assert name in MANIFEST["refused"]
    with pytest.raises(ValueError, match="openpi's wire format refuses"):
        codec.pack({"x": refused()[name]})


def _array_map(data: bytes, dtype: str, shape: list[int]) -> dict[bytes, object]:
    return {b"__ndarray__": True, b"data": data, b"dtype": dtype, b"shape": shape}


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        (b"\xc1", "not a msgpack message"),  # 0xc1 is never used in msgpack
        (b"GET / HTTP/1.1\r\n", "not a msgpack message"),
        (msgpack.packb({"a": 1}) + b"\x00", "not a msgpack message"),  # trailing data
        (msgpack.packb({"x": _array_map(b"\x00" * 8, "|O", [1])}), "refused"),
        (msgpack.packb({"x": _array_map(b"\x00" * 16, "<c16", [1])}), "refused"),
        (msgpack.packb({"x": _array_map(b"\x00" * 8, "|V8", [1])}), "refused"),
        (msgpack.packb({"x": _array_map(b"\x00" * 7, "<f4", [2])}), "needs 8 bytes"),
        (msgpack.packb({"x": _array_map(b"\x00" * 16, "<f4", [2])}), "needs 8 bytes"),
        (msgpack.packb({"x": _array_map(b"\x00" * 4, "<f4", [-1])}), "non-negative"),
        (msgpack.packb({"x": _array_map(b"\x00" * 4, "nonsense", [1])}), "unknown array dtype"),
        (msgpack.packb({"x": _array_map(b"\x00" * 4, "<f4", [2**40, 2**40])}), "needs"),
        (msgpack.packb({"x": [[[[[[[[[[1]]]]]]]]]]}), "nests deeper than 8"),
        (msgpack.packb({1: 2}), "not a msgpack message"),  # openpi's keys are strings
        (msgpack.packb({"x": msgpack.ExtType(5, b"zz")}), "extension types"),
    ],
)
def test_malformed_frames_raise_one_wire_format_error(frame: bytes, problem: str) -> None:
    with pytest.raises(codec.WireFormatError, match=problem):
        codec.unpack(frame, max_depth=8)


def test_nesting_beyond_msgpacks_own_stack_is_a_wire_format_error() -> None:
    frame = b"\x91" * 5000 + b"\x00"  # 5000 nested one-element lists
    with pytest.raises(codec.WireFormatError, match="nests deeper"):
        codec.unpack(frame)
