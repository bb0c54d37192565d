"""openpi's wire format: msgpack with a numpy extension, byte for byte as ``openpi-client`` 0.1.2.

An array travels as a msgpack map with *bytes* keys, in this order::

    {b"__ndarray__": True, b"data": <C-order bytes>, b"dtype": "<f4", b"shape": [H, W, ...]}

and a numpy scalar (one that msgpack does not already pack as a Python number, e.g. ``float32``
but not ``float64``, which subclasses ``float``) as ``{b"__npgeneric__": True, b"data":
<Python value>, b"dtype": "<f4"}``. Object, void (structured) and complex dtypes are refused.
Strings are msgpack str, bytes are bin (``use_bin_type``), tuples become arrays, maps keep
insertion order. ``tests/fixtures/`` holds frames made by the real ``openpi-client``; the tests
check that :func:`pack` reproduces them exactly.

Decoding is stricter than openpi's, because a server reads frames from strangers: a frame that is
not msgpack, nests deeper than ``max_depth``, names a refused or unknown dtype, or whose array
data does not match its dtype and shape raises :class:`WireFormatError`. Decoded arrays are
read-only views of the frame (no copy), as openpi's are.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import msgpack
import numpy as np

REFUSED_KINDS = frozenset("VOc")
"""numpy dtype kinds never sent or accepted: void (structured), object, complex."""

DEFAULT_MAX_DEPTH = 32
"""How deeply maps and lists may nest in a decoded frame (an observation needs about 3)."""

_ARRAY_KEYS = frozenset({b"__ndarray__", b"data", b"dtype", b"shape"})
_SCALAR_KEYS = frozenset({b"__npgeneric__", b"data", b"dtype"})
_SCALAR_DATA = (bool, int, float, str, bytes)
_CONTAINERS = (dict, list, msgpack.ExtType, msgpack.Timestamp)


class WireFormatError(ValueError):
    """A frame that is not a valid openpi message; the message says what is wrong with it."""


def _to_wire(obj: Any) -> Any:
    """msgpack's ``default`` hook: numpy arrays and scalars as openpi's maps."""
    if isinstance(obj, np.ndarray | np.generic) and obj.dtype.kind in REFUSED_KINDS:
        raise ValueError(
            f"cannot send an array of dtype {obj.dtype}: openpi's wire format refuses object, "
            "structured and complex dtypes (convert it to a numeric or string dtype)"
        )
    if isinstance(obj, np.ndarray):
        # A C-contiguous array goes as a view (msgpack copies it once into its buffer); the
        # bytes are the same as ``tobytes()``, which openpi uses.
        data = _buffer(obj) if obj.flags.c_contiguous else obj.tobytes()
        return {
            b"__ndarray__": True,
            b"data": data,
            b"dtype": obj.dtype.str,
            b"shape": obj.shape,
        }
    if isinstance(obj, np.generic):
        return {b"__npgeneric__": True, b"data": obj.item(), b"dtype": obj.dtype.str}
    raise TypeError(f"cannot send a {type(obj).__name__} over openpi's wire format")


def _buffer(array: np.ndarray) -> memoryview | bytes:
    try:
        return memoryview(array).cast("B")
    except (TypeError, ValueError):  # dtypes the buffer protocol cannot export (datetime64)
        return array.tobytes()


class Packer:
    """Encodes messages; one per connection (it reuses its buffer, as msgpack's Packer does)."""

    def __init__(self) -> None:
        self._packer = msgpack.Packer(default=_to_wire, autoreset=False)

    def pack(self, message: Any) -> bytes:
        """The frame for ``message`` (bytes identical to ``openpi_client.msgpack_numpy``'s)."""
        self._packer.reset()
        self._packer.pack(message)
        return self._packer.bytes()

    @contextlib.contextmanager
    def packed(self, message: Any) -> Iterator[memoryview]:
        """The frame for ``message`` as a view of this packer's buffer, valid inside the
        ``with`` block: one copy of the images fewer than :meth:`pack`, for a sender that is
        done with the frame when its send returns (a WebSocket client masks it into a copy)."""
        self._packer.reset()
        self._packer.pack(message)
        with self._packer.getbuffer() as view:
            yield view


def pack(message: Any) -> bytes:
    """Encode one message (see :class:`Packer` to encode many)."""
    return msgpack.packb(message, default=_to_wire)


def _dtype(text: Any) -> np.dtype[Any]:
    if not isinstance(text, str):
        raise WireFormatError(f"array dtype must be a string such as '<f4', got {text!r}")
    try:
        dtype = np.dtype(text)
    except (TypeError, ValueError):
        raise WireFormatError(f"unknown array dtype {text!r}") from None
    if dtype.kind in REFUSED_KINDS:
        raise WireFormatError(
            f"array dtype {text!r} is refused (object, structured and complex dtypes are "
            "not part of openpi's wire format)"
        )
    return dtype


def _array(obj: dict[Any, Any]) -> np.ndarray:
    if obj.keys() != _ARRAY_KEYS:
        raise WireFormatError(f"array map must have exactly the keys {sorted(_ARRAY_KEYS)}")
    data, shape = obj[b"data"], obj[b"shape"]
    dtype = _dtype(obj[b"dtype"])
    if type(data) is not bytes:
        raise WireFormatError("array data must be msgpack bin (bytes)")
    if type(shape) is not list or any(type(n) is not int or n < 0 for n in shape):
        raise WireFormatError(f"array shape must be a list of non-negative integers, got {shape}")
    expected = math.prod(shape) * dtype.itemsize
    if expected != len(data):
        raise WireFormatError(
            f"array of shape {tuple(shape)} and dtype {dtype.str} needs {expected} bytes of "
            f"data, the frame holds {len(data)}"
        )
    if dtype.itemsize == 0:
        raise WireFormatError(f"array dtype {dtype.str!r} has no size")
    return np.ndarray(shape, dtype, buffer=data)


def _scalar(obj: dict[Any, Any]) -> np.generic:
    if set(obj) != _SCALAR_KEYS:
        raise WireFormatError(f"scalar map must have exactly the keys {sorted(_SCALAR_KEYS)}")
    dtype, data = _dtype(obj[b"dtype"]), obj[b"data"]
    if not isinstance(data, _SCALAR_DATA):
        raise WireFormatError(f"scalar data must be a number, string or bytes, got {data!r}")
    try:
        return dtype.type(data)
    except (TypeError, ValueError, OverflowError) as exc:
        raise WireFormatError(f"scalar {data!r} is not a valid {dtype.str}: {exc}") from None


def _from_wire(obj: dict[Any, Any]) -> Any:
    """msgpack's ``object_hook``: openpi's array and scalar maps back to numpy."""
    if b"__ndarray__" in obj:
        return _array(obj)
    if b"__npgeneric__" in obj:
        return _scalar(obj)
    return obj


def _check_depth(message: Any, max_depth: int) -> None:
    # Level by level, visiting containers only: arrays and scalars (most of a frame) cost
    # one type check each.
    level = [message] if isinstance(message, _CONTAINERS) else []
    depth = 0
    while level:
        depth += 1
        if depth > max_depth:
            raise WireFormatError(f"message nests deeper than {max_depth} maps or lists")
        below: list[Any] = []
        for item in level:
            if isinstance(item, msgpack.ExtType | msgpack.Timestamp):
                raise WireFormatError(
                    "msgpack extension types are not part of openpi's wire format"
                )
            children = item.values() if type(item) is dict else item
            below.extend(child for child in children if isinstance(child, _CONTAINERS))
        level = below


def unpack(frame: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Decode one frame, refusing anything that is not a well-formed openpi message."""
    if not isinstance(frame, bytes | bytearray | memoryview):
        raise WireFormatError(f"expected a binary frame, got {type(frame).__name__}")
    try:
        message = msgpack.unpackb(frame, object_hook=_from_wire)
    except WireFormatError:
        raise
    except msgpack.StackError:
        raise WireFormatError(f"message nests deeper than {max_depth} maps or lists") from None
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        # ExtraData, FormatError and non-string map keys all land here.
        raise WireFormatError(f"frame is not a msgpack message: {exc}") from None
    _check_depth(message, max_depth)
    return message
