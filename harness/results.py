"""The results store: one directory per run, written so that nothing finished is ever lost.

Layout of a run directory::

    run.json            provenance and configuration (written first, updated at the end)
    parts/<task>/<episode>.steps.arrow     steps of one finished episode (written first)
    parts/<task>/<episode>.episode.json    its summary row (written last: the commit marker)
    episodes.parquet    one row per episode (derived from parts/ by ``consolidate``)
    steps.parquet       one row per step (derived likewise)
    videos/<task>/<episode>.mp4|gif        optional rollouts

Every file is written to a temporary name and renamed into place, so a run killed at any
moment (``kill -9`` included) leaves only whole episodes behind (files are not fsync'd: a
power cut may lose the last episodes, which a resume then runs again), and re-running the same
command resumes: an episode whose ``.episode.json`` exists is not run again. Nothing is pickled.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq

from harness.errors import RunFormatError

SCHEMA_VERSION = 1
RUN_FILE = "run.json"
EPISODES_FILE = "episodes.parquet"
STEPS_FILE = "steps.parquet"
PART_STEPS_SUFFIX = ".steps.arrow"  # Arrow IPC: a third of Parquet's write cost per episode
PARTS_DIR = "parts"

OUTCOMES = (
    "success",  # info["success"] became true
    "timeout",  # max steps reached
    "terminated",  # the env ended the episode without success (crash, fell, ...)
    "policy_error",  # the policy raised
    "policy_timeout",  # one act() call ran past the per-call timeout
    "bad_action",  # NaN / inf / wrong shape
    "sim_error",  # the env raised or became unstable
)
ERROR_OUTCOMES = frozenset({"policy_error", "policy_timeout", "bad_action", "sim_error"})


@dataclass
class EpisodeResult:
    """The summary row of one episode (a row of ``episodes.parquet``).

    Latency fields cover the timed ``act`` calls of this episode, in seconds; smoothness
    fields are NaN where the task has no end effector or the episode was too short.
    """

    task: str
    episode: int
    seed: int
    instruction: str
    success: bool
    outcome: str
    steps: int
    error: str | None = None
    time_to_success_s: float = math.nan
    episode_return: float = 0.0
    wall_s: float = 0.0
    act_calls: int = 0
    act_p50_s: float = math.nan
    act_p95_s: float = math.nan
    act_p99_s: float = math.nan
    model_p50_s: float = math.nan
    clipped_actions: int = 0
    decode_failures: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    peak_rss_bytes: int = 0
    peak_device_bytes: int | None = None
    ldlj: float = math.nan
    sparc: float = math.nan
    mean_squared_jerk: float = math.nan
    path_length_m: float = math.nan
    chunk_jump_ratio: float = math.nan
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_error(self) -> bool:
        """An error (policy, action or simulator) rather than a plain failure."""
        return self.outcome in ERROR_OUTCOMES

    def to_row(self) -> dict[str, Any]:
        """A JSON-ready dict (``extra`` kept as a JSON string column)."""
        row = dataclasses.asdict(self)
        row["extra"] = json.dumps(row["extra"], sort_keys=True, default=str)
        return row


_FLOAT_COLUMNS = [
    f.name for f in dataclasses.fields(EpisodeResult) if f.type in ("float", "int | None")
]


def episode_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Summary rows as a DataFrame with stable dtypes (JSON nulls become NaN, not objects)."""
    frame = pd.DataFrame(rows, columns=[f.name for f in dataclasses.fields(EpisodeResult)])
    for column in _FLOAT_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame


def _file_mode() -> int:
    """The mode a plain ``open()`` would give a new file (mkstemp's 0600 is too private)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _file_mode()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either nothing or the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, _FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON (NaN written as null)."""
    text = json.dumps(_json_safe(obj), indent=2, sort_keys=True, default=str)
    atomic_write_bytes(path, (text + "\n").encode())


STEP_SCHEMA = pa.schema(
    [
        ("task", pa.string()),
        ("episode", pa.int64()),
        ("step", pa.int64()),
        ("chunk", pa.int64()),
        ("chunk_pos", pa.int64()),
        ("act_s", pa.float64()),
        ("model_s", pa.float64()),
        ("chunk_info", pa.string()),
        ("action", pa.list_(pa.float64())),
        ("clipped", pa.bool_()),
        ("reward", pa.float64()),
        ("success", pa.bool_()),
        *(
            (name, pa.float64())
            for name in ("ee_x", "ee_y", "ee_z", "ee_qw", "ee_qx", "ee_qy", "ee_qz")
        ),
    ]
)
"""Columns of ``steps.parquet`` (see the module docstring of :mod:`harness.runner`)."""


def atomic_write_table(path: Path, table: pa.Table) -> None:
    """Atomically write an Arrow table: Arrow IPC for a ``.arrow`` path, else Parquet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, _FILE_MODE)
    os.close(fd)
    try:
        if path.suffix == ".arrow":
            feather.write_feather(table, tmp, compression="uncompressed")
        else:
            pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_parquet(path: Path, frame: pd.DataFrame) -> None:
    """Atomically write a DataFrame as Parquet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, _FILE_MODE)
    os.close(fd)
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        return _json_safe(obj.item())
    return obj


def _part_stem(task: str, episode: int) -> str:
    return f"{PARTS_DIR}/{task}/{episode:06d}"


class RunStore:
    """Reads and writes one run directory; the runner's only way to touch disk."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._written: dict[Path, pa.Table] = {}  # steps this process wrote: no need to re-read

    # -- run.json --------------------------------------------------------------------------
    @property
    def meta_path(self) -> Path:
        """Where ``run.json`` lives."""
        return self.root / RUN_FILE

    def read_meta(self) -> dict[str, Any] | None:
        """``run.json`` as a dict, or None for a directory that holds no run yet."""
        if not self.meta_path.exists():
            return None
        try:
            meta: dict[str, Any] = json.loads(self.meta_path.read_text())
        except json.JSONDecodeError as exc:
            raise RunFormatError(self.root, f"run.json is not valid JSON ({exc})") from None
        return meta

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Atomically (re)write ``run.json``."""
        atomic_write_json(self.meta_path, {"schema": SCHEMA_VERSION, **meta})

    # -- episodes ---------------------------------------------------------------------------
    def finished(self, task: str) -> set[int]:
        """Indices of the episodes of ``task`` already committed to this run."""
        folder = self.root / PARTS_DIR / task
        if not folder.is_dir():
            return set()
        return {int(p.name.split(".")[0]) for p in folder.glob("*.episode.json")}

    def write_episode(self, result: EpisodeResult, steps: pa.Table) -> None:
        """Commit one finished episode: steps first, then the summary row as the marker."""
        stem = self.root / _part_stem(result.task, result.episode)
        path = stem.with_name(stem.name + PART_STEPS_SUFFIX)
        atomic_write_table(path, steps)
        self._written[path] = steps
        atomic_write_json(stem.with_name(stem.name + ".episode.json"), result.to_row())

    def episode_rows(self) -> Iterator[dict[str, Any]]:
        """Every committed summary row, in (task, episode) order."""
        for path in sorted((self.root / PARTS_DIR).glob("*/*.episode.json")):
            yield json.loads(path.read_text())

    def consolidate(self) -> tuple[int, int]:
        """Rebuild ``episodes.parquet`` and ``steps.parquet`` from the committed parts.

        Returns (episodes, steps). Safe to call at any time; the parts remain the source of truth.
        """
        rows = list(self.episode_rows())
        episodes = episode_frame(rows)
        tables = []
        for row in rows:
            stem = self.root / _part_stem(row["task"], row["episode"])
            path = stem.with_name(stem.name + PART_STEPS_SUFFIX)
            if path in self._written:
                tables.append(self._written[path])
            elif path.exists():
                tables.append(feather.read_table(path))
        steps = pa.concat_tables(tables) if tables else STEP_SCHEMA.empty_table()
        atomic_write_parquet(self.root / EPISODES_FILE, episodes)
        atomic_write_table(self.root / STEPS_FILE, steps)
        return len(episodes), steps.num_rows


@dataclass
class Run:
    """A run read back from disk: provenance plus its episodes (and, on demand, steps)."""

    root: Path
    meta: dict[str, Any]
    episodes: pd.DataFrame
    complete: bool
    notes: list[str] = field(default_factory=list)

    @property
    def policy(self) -> str:
        """The policy name."""
        return str(self.meta.get("policy", {}).get("name", "?"))

    def steps(self, columns: list[str] | None = None) -> pd.DataFrame:
        """All step rows, or only ``columns`` of them (read lazily: they can be large)."""
        path = self.root / STEPS_FILE
        if path.exists() and self.complete:
            return pd.read_parquet(path, columns=columns)
        # Only committed episodes: a steps part without its summary row was cut off by a kill.
        markers = sorted((self.root / PARTS_DIR).glob("*/*.episode.json"))
        parts = [m.with_name(m.name.replace(".episode.json", PART_STEPS_SUFFIX)) for m in markers]
        frames = [feather.read_feather(p, columns=columns) for p in parts if p.exists()]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def load_run(root: Path | str) -> Run:
    """Read one run directory, complete or interrupted.

    An interrupted run (no consolidated files, or a status other than ``complete``) is read
    from its committed parts and marked ``complete=False`` with a note saying so.
    """
    root = Path(root)
    store = RunStore(root)
    meta = store.read_meta()
    if meta is None:
        raise RunFormatError(root, "no run.json here: not a run directory (bench run --out DIR)")
    if int(meta.get("schema", 0)) > SCHEMA_VERSION:
        raise RunFormatError(
            root,
            f"written by a newer vla-bench (schema {meta.get('schema')} > {SCHEMA_VERSION}); "
            "upgrade vla-bench to read it",
        )
    notes: list[str] = []
    complete = meta.get("status") == "complete" and (root / EPISODES_FILE).exists()
    if complete:
        episodes = pd.read_parquet(root / EPISODES_FILE)
    else:
        episodes = episode_frame(list(store.episode_rows()))
        notes.append(
            f"run is {meta.get('status', 'incomplete')}: {len(episodes)} finished episode(s) "
            "read from parts/ (re-run the same command to resume)"
        )
    for column, default in _EPISODE_DEFAULTS.items():
        if column not in episodes.columns:
            episodes[column] = default
            if len(episodes):
                notes.append(f"column {column!r} missing (older run): shown as empty")
    return Run(root=root, meta=meta, episodes=episodes, complete=complete, notes=notes)


_EPISODE_DEFAULTS: dict[str, Any] = {
    f.name: (f.default if f.default is not dataclasses.MISSING else None)
    for f in dataclasses.fields(EpisodeResult)
    if f.name != "extra"
}


def find_runs(paths: Iterable[Path | str]) -> list[Path]:
    """Every run directory at or below the given paths (a directory holding ``run.json``)."""
    found: list[Path] = []
    for base in map(Path, paths):
        if (base / RUN_FILE).exists():
            found.append(base)
        elif base.is_dir():
            found.extend(sorted(p.parent for p in base.rglob(RUN_FILE)))
    return found
