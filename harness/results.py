"""The results store: one directory per run, written so that nothing finished is ever lost.

Layout of a run directory::

    run.json            the run record (harness.record; written first, updated as it goes)
    .lock               held (flock) by the one process writing the run; names its PID
    parts/<task>/<episode>.steps.arrow     steps of one finished episode (written first)
    parts/<task>/<episode>.<name>          per-episode artifacts an env returned (optional)
    parts/<task>/<episode>.episode.json    its summary row (written last: the commit marker)
    episodes.parquet    one row per episode (derived from parts/ by ``consolidate``)
    steps.parquet       one row per step (derived likewise)
    videos/<task>/<episode>.gif|mp4        optional rollouts; keyframes/ optional stills

Every file is written to a temporary name and renamed into place, so a run killed at any
moment (``kill -9`` included) leaves only whole episodes behind (files are not fsync'd: a
power cut may lose the last episodes, which a resume then runs again), and re-running the same
command resumes: an episode whose ``.episode.json`` exists is not run again. Everything written
passes through :func:`harness.secrets.scrub`. Nothing is pickled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq

from harness.errors import RunConfigError, RunFormatError
from harness.record import RecordError, RunRecord
from harness.secrets import scrub

RUN_FILE = "run.json"
LOCK_FILE = ".lock"
EPISODES_FILE = "episodes.parquet"
STEPS_FILE = "steps.parquet"
PART_STEPS_SUFFIX = ".steps.arrow"  # Arrow IPC: a third of Parquet's write cost per episode
PART_ROW_SUFFIX = ".episode.json"
PARTS_DIR = "parts"
TMP_PREFIX = ".vla-tmp."
"""Temporary files are named ``.vla-tmp.<name>.<random>``: a resume removes leftovers of a
killed run by this prefix, and nothing else."""

OUTCOMES = (
    "success",  # info["success"] became true
    "timeout",  # the step limit was reached
    "terminated",  # the env ended the episode without success (fell, dropped, ...)
    "policy_error",  # the policy raised (or returned a bad cost)
    "policy_timeout",  # one act() call ran past --step-timeout
    "policy_crash",  # the process running the policy died (segfault, OOM kill, os._exit)
    "bad_action",  # NaN / inf / wrong shape / invalid index
    "sim_error",  # the env raised, hung, returned malformed data or became unstable
)
ERROR_OUTCOMES = frozenset(
    {"policy_error", "policy_timeout", "policy_crash", "bad_action", "sim_error"}
)
"""Outcomes that are errors of the policy or the simulator, not failures at the task: they are
counted apart and excluded from the success denominator where a summary says so."""

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$")
"""Task names (and so part paths): letters, digits, ``_ . + -``; no path separators."""


@dataclass
class EpisodeResult:
    """The summary row of one episode (a row of ``episodes.parquet``).

    Latency fields cover the timed ``act`` calls of this episode, in seconds. Smoothness
    fields are computed on the end-effector path at the simulator's rate where the env reports
    it (``smoothness_fs``), over the movement window; NaN where the task has no end effector
    or the episode was too short. ``chunk_jumps`` is a JSON object: the chunk-boundary jump
    ratio per action group. ``obs_state_digest`` / ``obs_image_digest`` identify the episode's
    first observation (see :mod:`harness.fingerprint`); ``invocation`` is the index of the
    ``bench run`` invocation (run.json ``invocations``) that ran it. Under latency-aware
    timing (:mod:`harness.latency`) ``held_steps`` counts the steps that executed the hold
    action while a chunk was in flight, ``stale_ratio`` is held steps / steps and
    ``effective_hz`` the actions the policy chose per simulated second; the last two are NaN
    for synchronous episodes.
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
    max_reward: float = math.nan
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
    peak_device_bytes: float = math.nan
    ldlj: float = math.nan
    sparc: float = math.nan
    mean_squared_jerk: float = math.nan
    path_length_m: float = math.nan
    movement_s: float = math.nan
    smoothness_fs: float = math.nan
    chunk_jumps: str = "{}"
    obs_state_digest: str = ""
    obs_image_digest: str = ""
    invocation: int = 0
    held_steps: int = 0
    stale_ratio: float = math.nan
    effective_hz: float = math.nan
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


_ARROW_TYPES = {
    "str": pa.string(),
    "str | None": pa.string(),
    "int": pa.int64(),
    "bool": pa.bool_(),
    "float": pa.float64(),
    "dict[str, Any]": pa.string(),
}
EPISODE_SCHEMA = pa.schema(
    [(f.name, _ARROW_TYPES[str(f.type)]) for f in dataclasses.fields(EpisodeResult)]
)
"""Columns of ``episodes.parquet``: the fields of :class:`EpisodeResult`, in order."""

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
"""Columns of ``steps.parquet``: per control step, the chunk it came from (``chunk``,
``chunk_pos``), the round-trip and model time of the ``act`` call that made the chunk (on the
chunk's first step only), the backend's info (JSON), the executed action, whether it was
clipped, the env's reward and success, and the end-effector pose after the step. Under
latency-aware timing a step that executed the hold action while chunk ``chunk`` was in flight
has ``chunk_pos`` -1 (the call's times are on the first such step)."""


def episode_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Summary rows as a DataFrame with :data:`EPISODE_SCHEMA`'s dtypes."""
    table = pa.Table.from_pylist(rows, schema=EPISODE_SCHEMA)
    return table.to_pandas()


# -- atomic writes ------------------------------------------------------------------------------


def _file_mode() -> int:
    """The mode a plain ``open()`` would give a new file (mkstemp's 0600 is too private)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _file_mode()


def atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Call ``write(file)`` on a temporary file beside ``path`` and rename it into place, so
    readers see either the old file, or the whole new one. A full disk raises
    :class:`RunFormatError`-free ``OSError`` naming the path; the old file is kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TMP_PREFIX}{path.name}.")
    os.fchmod(fd, _FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OSError(
                exc.errno,
                f"no space left to write {path}: free disk space, then re-run the same "
                "command to resume (finished episodes are kept)",
            ) from exc
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Atomically write ``data`` to ``path``."""
    atomic_write(path, lambda f: f.write(data))


def atomic_write_json(path: Path, obj: Any) -> str:
    """Atomically write ``obj`` as indented JSON (NaN written as null, secrets scrubbed);
    returns the text written."""
    text = json.dumps(scrub(json_safe(obj)), indent=2, sort_keys=True, default=str) + "\n"
    atomic_write_bytes(path, text.encode())
    return text


def atomic_write_table(path: Path, table: pa.Table) -> None:
    """Atomically write an Arrow table: Arrow IPC for a ``.arrow`` path, else Parquet."""
    if path.suffix == ".arrow":
        atomic_write(path, lambda f: feather.write_feather(table, f, compression="uncompressed"))
    else:
        atomic_write(path, lambda f: pq.write_table(table, f))


def json_safe(obj: Any) -> Any:
    """``obj`` with NaN as None and numpy scalars as Python numbers. Infinities stay (written
    as ``Infinity``, which Python's json reads back): an infinite value is a result, a missing
    one is not."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        return json_safe(obj.item())
    return obj


def _scrub_steps(steps: pa.Table) -> pa.Table:
    """The step table with its free-text column (backend info) scrubbed of secrets."""
    column = steps.column("chunk_info").to_pylist()
    if not any(column):
        return steps
    index = steps.schema.get_field_index("chunk_info")
    return steps.set_column(index, "chunk_info", pa.array(scrub(column), pa.string()))


# -- the store --------------------------------------------------------------------------------


class RunStore:
    """Reads and writes one run directory; the run's only way to touch disk."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        # What this process committed, kept so that consolidating needs not read it back.
        self._written: dict[Path, pa.Table] = {}
        self._rows: dict[Path, dict[str, Any]] = {}
        self._folders: dict[str, Path] = {}  # each task's parts folder, checked once
        self._lock: IO[str] | None = None

    # -- ownership -------------------------------------------------------------------------
    def check_usable(self) -> None:
        """Refuse a directory that is not ours to write into: a file, a non-empty directory
        that holds no run, or episodes without a valid run.json. Reads nothing else."""
        if self.root.exists() and not self.root.is_dir():
            raise RunConfigError(f"--out {self.root} is a file; pass a directory")
        if not self.root.is_dir() or self.meta_path.exists():
            return
        if (self.root / PARTS_DIR).exists():
            raise RunConfigError(
                f"{self.root} holds episodes (parts/) but no run.json, so whose episodes they "
                "are is unknown; move the directory aside or pass a new --out"
            )
        if any(self.root.iterdir()):
            raise RunConfigError(
                f"--out {self.root} is a non-empty directory that holds no run; "
                "pass a new or empty directory"
            )

    def lock(self) -> None:
        """Take the run directory's exclusive lock, or say which process holds it."""
        self.root.mkdir(parents=True, exist_ok=True)
        handle = open(self.root / LOCK_FILE, "a+")  # noqa: SIM115 - held until unlock()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise RunConfigError(
                f"{self.root} is in use by PID {holder} (another bench run writing it); "
                "wait for it to finish or pass another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock = handle

    def unlock(self) -> None:
        """Release the lock (also released by the OS if this process dies)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    @property
    def lock_fd(self) -> int | None:
        """The lock's file descriptor (closed by forked children, which must not hold it)."""
        return self._lock.fileno() if self._lock is not None else None

    def remove_stale_temporaries(self) -> int:
        """Delete temporary files a killed writer left (only ours, by prefix); returns how many."""
        removed = 0
        for path in self.root.rglob(f"{TMP_PREFIX}*"):
            path.unlink(missing_ok=True)
            removed += 1
        return removed

    # -- run.json --------------------------------------------------------------------------
    @property
    def meta_path(self) -> Path:
        """Where ``run.json`` lives."""
        return self.root / RUN_FILE

    def read_record(self) -> RunRecord | None:
        """The run record, or None for a directory that holds no run yet."""
        if not self.meta_path.exists():
            return None
        try:
            data = json.loads(self.meta_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RunFormatError(self.root, f"run.json is not valid JSON ({exc})") from None
        try:
            return RunRecord.from_json(data)
        except RecordError as exc:
            raise RunFormatError(self.root, str(exc)) from None

    def write_record(self, record: RunRecord) -> None:
        """Atomically (re)write ``run.json``."""
        atomic_write_json(self.meta_path, record.to_json())

    # -- episodes ---------------------------------------------------------------------------
    def part(self, task: str, episode: int, suffix: str) -> Path:
        """The path of one episode's part file, checked to stay inside the run directory."""
        if not NAME_PATTERN.match(task):
            raise RunFormatError(self.root, f"task name {task!r} cannot name a file")
        folder = self._folders.get(task)
        if folder is None:
            # The name cannot hold a separator; a symlinked folder could still lead out.
            folder = self.root / PARTS_DIR / task
            if not folder.resolve().is_relative_to(self.root.resolve()):
                raise RunFormatError(self.root, f"part folder {folder} leaves the run directory")
            self._folders[task] = folder
        return folder / f"{int(episode):06d}{suffix}"

    def finished(self, task: str) -> set[int]:
        """Indices of the episodes of ``task`` already committed to this run."""
        folder = self.root / PARTS_DIR / task
        if not folder.is_dir():
            return set()
        done = set()
        for path in folder.glob(f"*{PART_ROW_SUFFIX}"):
            stem = path.name[: -len(PART_ROW_SUFFIX)]
            if stem.isdigit():
                done.add(int(stem))
        return done

    def write_episode(
        self, result: EpisodeResult, steps: pa.Table, artifacts: dict[str, bytes] | None = None
    ) -> None:
        """Commit one finished episode: steps and artifacts first, the summary row last."""
        for name, data in (artifacts or {}).items():
            if not NAME_PATTERN.match(name):
                raise ValueError(f"episode artifact name {name!r} cannot name a file")
            atomic_write_bytes(self.part(result.task, result.episode, f".{name}"), data)
            result.extra.setdefault("artifacts", []).append(name)
        path = self.part(result.task, result.episode, PART_STEPS_SUFFIX)
        steps = _scrub_steps(steps)
        atomic_write_table(path, steps)
        self._written[path] = steps
        row_path = self.part(result.task, result.episode, PART_ROW_SUFFIX)
        self._rows[row_path] = json.loads(atomic_write_json(row_path, result.to_row()))

    def episode_rows(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Every committed summary row with its file, in (task, episode) order; a torn or
        misplaced row raises :class:`RunFormatError` naming the file."""
        for path in sorted((self.root / PARTS_DIR).glob(f"*/*{PART_ROW_SUFFIX}")):
            yield path, self._read_row(path)

    def _read_row(self, path: Path) -> dict[str, Any]:
        if path in self._rows:
            return self._rows[path]
        where = path.relative_to(self.root)
        try:
            row = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
            raise RunFormatError(
                self.root, f"{where} is unreadable ({exc}); delete it to re-run that episode"
            ) from None
        stem = path.name[: -len(PART_ROW_SUFFIX)]
        if (
            not isinstance(row, dict)
            or row.get("task") != path.parent.name
            or not stem.isdigit()
            or row.get("episode") != int(stem)
        ):
            raise RunFormatError(
                self.root,
                f"{where} does not hold the row of task {path.parent.name!r} episode {stem} "
                "(edited or misplaced); delete it to re-run that episode",
            )
        return row

    def read_steps(self, row_path: Path, columns: list[str] | None = None) -> pa.Table | None:
        """The committed steps of the episode whose row is ``row_path`` (None if absent)."""
        path = row_path.with_name(row_path.name.replace(PART_ROW_SUFFIX, PART_STEPS_SUFFIX))
        if path in self._written:
            table = self._written[path]
            return table.select(columns) if columns else table
        if not path.exists():
            return None
        try:
            return feather.read_table(path, columns=columns)
        except (pa.ArrowInvalid, OSError) as exc:
            raise RunFormatError(
                self.root,
                f"{path.relative_to(self.root)} is unreadable ({exc}); delete it and its "
                f"{row_path.name} to re-run that episode",
            ) from None

    def consolidate(self) -> tuple[int, int]:
        """Rebuild ``episodes.parquet`` and ``steps.parquet`` from the committed parts.

        Returns (episodes, steps). Safe to call at any time; the parts remain the source of truth.
        """
        pairs = list(self.episode_rows())
        episodes = pa.Table.from_pylist([row for _, row in pairs], schema=EPISODE_SCHEMA)
        tables = [t for path, _ in pairs if (t := self.read_steps(path)) is not None]
        steps = pa.concat_tables(tables) if tables else STEP_SCHEMA.empty_table()
        atomic_write_table(self.root / EPISODES_FILE, episodes)
        atomic_write_table(self.root / STEPS_FILE, steps)
        return episodes.num_rows, steps.num_rows


@dataclass
class Run:
    """A run read back from disk: its record plus its episodes (and, on demand, steps)."""

    root: Path
    record: RunRecord
    episodes: pd.DataFrame
    complete: bool
    notes: list[str] = field(default_factory=list)

    @property
    def policy(self) -> str:
        """The policy name."""
        return self.record.policy.name

    def steps(self, columns: list[str] | None = None) -> pd.DataFrame:
        """All step rows, or only ``columns`` of them (read lazily: they can be large)."""
        path = self.root / STEPS_FILE
        if path.exists() and self.complete:
            try:
                return pd.read_parquet(path, columns=columns)
            except (pa.ArrowInvalid, OSError) as exc:
                raise RunFormatError(
                    self.root, f"{STEPS_FILE} is unreadable ({exc}); delete it to rebuild it"
                ) from None
        # Only committed episodes: a steps part without its summary row was cut off by a kill.
        store = RunStore(self.root)
        tables = [t for p, _ in store.episode_rows() if (t := store.read_steps(p, columns))]
        if not tables:
            return pd.DataFrame(columns=columns or STEP_SCHEMA.names)
        return pa.concat_tables(tables).to_pandas()


def load_run(root: Path | str) -> Run:
    """Read one run directory, complete or interrupted.

    An interrupted run (no consolidated files, or a status other than ``complete``) is read
    from its committed parts and marked ``complete=False`` with a note saying so. Anything
    unreadable raises :class:`RunFormatError` naming the file.
    """
    root = Path(root)
    store = RunStore(root)
    record = store.read_record()
    if record is None:
        raise RunFormatError(root, "no run.json here: not a run directory (bench run --out DIR)")
    notes: list[str] = []
    complete = record.status == "complete" and (root / EPISODES_FILE).exists()
    episodes = None
    if complete:
        try:
            episodes = pd.read_parquet(root / EPISODES_FILE)
        except (pa.ArrowInvalid, OSError):
            complete = False
            notes.append(f"{EPISODES_FILE} is unreadable: episodes read from parts/")
    if episodes is None:
        episodes = episode_frame([row for _, row in store.episode_rows()])
        if record.status != "complete":
            notes.append(
                f"run is {record.status}: {len(episodes)} finished episode(s) read from parts/ "
                "(re-run the same command to resume)"
            )
    return Run(root=root, record=record, episodes=episodes, complete=complete, notes=notes)


def find_runs(paths: Iterable[Path | str]) -> list[Path]:
    """Every run directory at or below the given paths (a directory holding ``run.json``)."""
    found: list[Path] = []
    for base in map(Path, paths):
        if (base / RUN_FILE).exists():
            found.append(base)
        elif base.is_dir():
            found.extend(sorted(p.parent for p in base.rglob(RUN_FILE)))
    return found


@contextlib.contextmanager
def open_store(root: Path) -> Iterator[RunStore]:
    """The run directory's store, checked usable and locked for the duration."""
    store = RunStore(root)
    store.check_usable()
    store.lock()
    try:
        yield store
    finally:
        store.unlock()
