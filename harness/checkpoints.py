"""What every backend knows about a checkpoint beyond its weights: how it was trained, and what
its files hold.

``training.json`` is the contract between ``bench train`` (which writes it beside every
checkpoint it saves) and the policy plugins (which read it, so that ``describe()`` calls weights
trained here ``trained`` or ``finetuned``, never ``pretrained``). It is one typed, versioned
record, :class:`TrainingRecord`; a file that exists but cannot be read as one is an error, never
a silent "pretrained".

:func:`content_digest` identifies weights by content: a SHA-256 over the files that decide a
checkpoint's actions, so two checkpoints written to the same path in turn are told apart.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.contract import PolicyConfigError

TRAINING_FILE = "training.json"
FORMAT = "vla-bench-training"
VERSION = 1
ORIGINS = ("trained", "finetuned")
"""``trained``: from scratch here; ``finetuned``: from pretrained weights, here."""


class CheckpointRecordError(PolicyConfigError):
    """A ``training.json`` that cannot be read as a :class:`TrainingRecord` (so the checkpoint
    beside it cannot be described truthfully); the message names the file, the problem and the
    fix."""


def _fix(path: Path) -> str:
    return (
        f"restore {path.name} from the training run that wrote it, or remove it to load the "
        f"weights without their training provenance"
    )


@dataclass(frozen=True)
class TrainingRecord:
    """How ``bench train`` made a checkpoint (``training.json``, format version 1)."""

    policy: str
    """The ``bench train --policy`` name."""
    origin: str
    """One of :data:`ORIGINS`."""
    dataset: str
    seed: int
    batch_size: int
    steps: int
    """Optimizer steps the run was asked for."""
    steps_done: int
    """Optimizer steps behind the weights beside this record."""
    frames: int
    episodes: int
    parameters: int = 0
    wall_s: float = 0.0
    pretrained: str | None = None
    """The weights a fine-tune started from (None when trained from scratch)."""
    losses: tuple[tuple[int, float], ...] = ()
    """(step, mean training loss since the previous entry)."""
    checkpoints: tuple[str, ...] = ()
    """Intermediate checkpoints the run saved."""
    resumed: tuple[int, ...] = ()
    """Steps at which the run was resumed."""
    features: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Element names of the dataset's vector features (``observation.state``, ``action``)."""
    details: Mapping[str, Any] = field(default_factory=dict)
    """What one training recipe adds (e.g. a LoRA setup); JSON values."""

    def __post_init__(self) -> None:
        if self.origin not in ORIGINS:
            raise ValueError(f"origin {self.origin!r} is not one of {ORIGINS}")

    def summary(self) -> dict[str, Any]:
        """What a policy's ``describe()`` records about the training (``steps`` = steps done)."""
        return {
            "origin": self.origin,
            "policy": self.policy,
            "dataset": self.dataset,
            "pretrained": self.pretrained,
            "steps": self.steps_done,
            "batch_size": self.batch_size,
            "frames": self.frames,
            "episodes": self.episodes,
            "seed": self.seed,
        }

    def to_json(self) -> dict[str, Any]:
        """The record as written, with its format and version."""
        body = dataclasses.asdict(self)
        body["losses"] = [list(pair) for pair in self.losses]
        body["features"] = {k: list(v) for k, v in self.features.items()}
        body["details"] = dict(self.details)
        return {"format": FORMAT, "version": VERSION, **body}

    def write(self, directory: Path) -> Path:
        """``directory/training.json``, atomically (a reader sees the old record or the new)."""
        from harness.results import atomic_write_json

        path = directory / TRAINING_FILE
        atomic_write_json(path, self.to_json())
        return path

    @classmethod
    def read(cls, path: Path) -> TrainingRecord:
        """The record in ``path``, or :class:`CheckpointRecordError` saying why it is unusable."""
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise CheckpointRecordError(
                f"{path}: cannot be read as JSON ({type(exc).__name__}); {_fix(path)}"
            ) from None
        return cls.from_json(data, path)

    @classmethod
    def from_json(cls, data: Any, path: Path) -> TrainingRecord:
        """Validate a parsed ``training.json`` (version 1, or the unversioned form before it)."""
        if not isinstance(data, dict):
            raise CheckpointRecordError(f"{path}: expected a JSON object; {_fix(path)}")
        version = data.get("version", 0)
        if version == 0 and "format" not in data:
            data = _from_unversioned(data)
        elif data.get("format") != FORMAT or version != VERSION:
            raise CheckpointRecordError(
                f"{path}: format {data.get('format')!r} version {version!r} is not "
                f"{FORMAT!r} version {VERSION}; it was written by another vla-bench release: "
                f"read it with that release, or {_fix(path)}"
            )
        reader = _Reader(data, path)
        try:
            return cls(
                policy=reader.text("policy"),
                origin=reader.choice("origin", ORIGINS),
                dataset=reader.text("dataset"),
                seed=reader.integer("seed"),
                batch_size=reader.integer("batch_size", minimum=1),
                steps=reader.integer("steps", minimum=0),
                steps_done=reader.integer("steps_done", minimum=0),
                frames=reader.integer("frames", minimum=0),
                episodes=reader.integer("episodes", minimum=0),
                parameters=reader.integer("parameters", minimum=0, default=0),
                wall_s=reader.number("wall_s", default=0.0),
                pretrained=reader.optional_text("pretrained"),
                losses=reader.losses("losses"),
                checkpoints=reader.texts("checkpoints"),
                resumed=tuple(reader.integers("resumed")),
                features=reader.features("features"),
                details=reader.mapping("details"),
            )
        except _Invalid as exc:
            raise CheckpointRecordError(f"{path}: {exc}; {_fix(path)}") from None


def _from_unversioned(data: dict[str, Any]) -> dict[str, Any]:
    """The record ``bench train`` wrote before version 1 (its summary's fields, flat)."""
    known = {f.name for f in dataclasses.fields(TrainingRecord)}
    out = {k: v for k, v in data.items() if k in known}
    out.setdefault("origin", "finetuned" if data.get("pretrained") else "trained")
    out.setdefault("steps_done", data.get("steps"))
    out["details"] = {k: v for k, v in data.items() if k not in known and k != "checkpoint"}
    return out


class _Invalid(Exception):
    """One field of a record is wrong (turned into a CheckpointRecordError with the path)."""


_MISSING = object()


class _Reader:
    """Typed access to one parsed record; every problem names its field."""

    def __init__(self, data: dict[str, Any], path: Path) -> None:
        self.data = data
        self.path = path

    def _get(self, key: str, default: Any = _MISSING) -> Any:
        if key not in self.data or (self.data[key] is None and default is not _MISSING):
            if default is _MISSING:
                raise _Invalid(f"field {key!r} is missing")
            return default
        return self.data[key]

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise _Invalid(f"field {key!r} must be text, got {value!r}")
        return value

    def optional_text(self, key: str) -> str | None:
        value = self._get(key, None)
        if value is not None and not isinstance(value, str):
            raise _Invalid(f"field {key!r} must be text or null, got {value!r}")
        return value

    def choice(self, key: str, choices: Sequence[str]) -> str:
        value = self.text(key)
        if value not in choices:
            raise _Invalid(f"field {key!r} is {value!r}, not one of {list(choices)}")
        return value

    def integer(self, key: str, minimum: int | None = None, default: Any = _MISSING) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(f"field {key!r} must be a whole number, got {value!r}")
        if minimum is not None and value < minimum:
            raise _Invalid(f"field {key!r} must be at least {minimum}, got {value}")
        return value

    def number(self, key: str, default: Any = _MISSING) -> float:
        value = self._get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise _Invalid(f"field {key!r} must be a finite number, got {value!r}")
        return float(value)

    def _list(self, key: str) -> list[Any]:
        value = self._get(key, [])
        if not isinstance(value, list):
            raise _Invalid(f"field {key!r} must be a list, got {type(value).__name__}")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        items = self._list(key)
        if not all(isinstance(v, str) for v in items):
            raise _Invalid(f"field {key!r} must be a list of text")
        return tuple(items)

    def integers(self, key: str) -> list[int]:
        items = self._list(key)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
            raise _Invalid(f"field {key!r} must be a list of whole numbers")
        return items

    def losses(self, key: str) -> tuple[tuple[int, float], ...]:
        out = []
        for item in self._list(key):
            if (
                not isinstance(item, list)
                or len(item) != 2
                or not isinstance(item[0], int)
                or not isinstance(item[1], int | float)
            ):
                raise _Invalid(f"field {key!r} must be a list of [step, loss] pairs")
            out.append((int(item[0]), float(item[1])))
        return tuple(out)

    def features(self, key: str) -> dict[str, tuple[str, ...]]:
        value = self.mapping(key)
        out = {}
        for name, names in value.items():
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise _Invalid(f"field {key!r}: {name!r} must be a list of element names")
            out[name] = tuple(names)
        return out

    def mapping(self, key: str) -> dict[str, Any]:
        value = self._get(key, {})
        if not isinstance(value, dict):
            raise _Invalid(f"field {key!r} must be an object, got {type(value).__name__}")
        return value


def find_training_record(directory: Path) -> TrainingRecord | None:
    """The record of the checkpoint in ``directory``, or None if ``bench train`` did not make it.

    ``bench train -o OUT`` writes the record into OUT and into each ``OUT/checkpoints/NNNNNN``;
    intermediate checkpoints saved before that layout have it only in OUT, two levels up (then
    ``steps_done`` is taken from the directory's name). A record that exists but is corrupt
    raises :class:`CheckpointRecordError`.
    """
    own = directory / TRAINING_FILE
    if own.is_file():
        return TrainingRecord.read(own)
    if directory.parent.name == "checkpoints" and directory.name.isdigit():
        run = directory.parent.parent / TRAINING_FILE
        if run.is_file():
            record = TrainingRecord.read(run)
            return dataclasses.replace(record, steps_done=int(directory.name))
    return None


# -- content digests --------------------------------------------------------------------------

_CHUNK = 1 << 20
_cache: dict[tuple[str, int, int, int], str] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class ContentDigest:
    """A SHA-256 over a checkpoint's files, and which files (relative names) it covers."""

    sha256: str
    files: tuple[str, ...]
    bytes: int

    def describe(self) -> dict[str, Any]:
        """The form ``describe()`` records: ``weights_digest`` and the files hashed."""
        return {"weights_digest": f"sha256:{self.sha256}", "weights_digest_files": list(self.files)}


def file_sha256(path: Path) -> str:
    """The SHA-256 of one file, streamed; remembered per (path, size, mtime, inode) in this
    process, so a file rewritten in place is hashed again."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    with _cache_lock:
        known = _cache.get(key)
    if known is not None:
        return known
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    value = digest.hexdigest()
    with _cache_lock:
        _cache[key] = value
    return value


def content_digest(root: Path, files: Sequence[Path]) -> ContentDigest:
    """A digest of ``files`` (each named relative to ``root``): SHA-256 over, for each file in
    name order, its relative name, its size and the SHA-256 of its bytes."""
    if not files:
        raise ValueError(f"{root}: no files to digest")
    entries = sorted((p.relative_to(root).as_posix(), p) for p in files)
    outer = hashlib.sha256()
    total = 0
    for name, path in entries:
        size = path.stat().st_size
        total += size
        outer.update(f"{name}\0{size}\0{file_sha256(path)}\n".encode())
    return ContentDigest(outer.hexdigest(), tuple(name for name, _ in entries), total)


def checkpoint_files(root: Path, patterns: Sequence[str]) -> list[Path]:
    """The regular files directly in ``root`` matching any of ``patterns`` (glob), de-duplicated."""
    found = {p for pattern in patterns for p in root.glob(pattern) if p.is_file()}
    return sorted(found)
