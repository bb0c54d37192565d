"""``bench run --record DIR``: the evaluated rollouts as a LeRobot dataset (what lerobot-eval's
``eval.recording`` writes).

Two halves. Wherever an episode runs, a :class:`RolloutRecorder` keeps, per step, the
observation the action was chosen for (every camera, the state) and the action executed (after
clipping), and when the episode ends writes them beside the episode's parts as one compressed
NumPy archive, ``parts/<task>/<episode>.rollout.npz`` (no pickles; written atomically). The
episode's row names the archive and its SHA-256, so frames left by an attempt that was never
committed are never mistaken for the committed episode's.

At the end of ``bench run`` (complete, resumed, interrupted or stopped) the parent process
appends the committed episodes to the dataset at DIR in track order, through the training
plugin's :class:`~vla_bench_training.dataset.DatasetWriter`: DIR itself for a run of one task,
DIR/<task> for each task of a suite. Each episode's line in ``meta/vla_bench_episodes.jsonl``
names its run (``run_id``, ``run_created``), ``task``, track ``episode``, ``seed`` and
``success``, so re-running the same command adds only the episodes DIR lacks. Episodes that
ended in errors have no valid frames and are left out.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.contract import Observation, Task, TaskSpec
from harness.errors import RunConfigError
from harness.results import ERROR_OUTCOMES, RunStore, atomic_write_bytes

ROLLOUT_SUFFIX = ".rollout.npz"
IMAGE_KEY = "image."
"""Archive key prefix of a camera's frames (``image.<camera>``: T x H x W x 3 uint8)."""
TRAINING_DISTRIBUTION = "vla-bench-training"


class RolloutRecorder:
    """Keeps one episode's (observation, executed action) pairs and writes them when it ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.images: dict[str, list[np.ndarray]] = {}
        self.states: list[np.ndarray] = []
        self.actions: list[np.ndarray] = []
        self._seen: Observation | None = None

    @classmethod
    def maybe(
        cls, out: Path | None, task: str, episode: int, record: str | None
    ) -> RolloutRecorder | None:
        """A recorder when the run records (``--record``), else None."""
        if out is None or not record:
            return None
        return cls(RunStore(out).part(task, episode, ROLLOUT_SUFFIX))

    def reset(self, obs: Observation) -> None:
        """The observation after reset: the first action will be chosen for it."""
        self._seen = obs

    def step(self, action: Any, obs: Observation) -> None:
        """``action`` was executed for the last observation seen; ``obs`` is the next one."""
        seen = self._seen or {}
        for camera, image in (seen.get("images") or {}).items():
            # Copied: an env may hand out the same render buffer every step.
            self.images.setdefault(camera, []).append(np.array(image, dtype=np.uint8))
        self.states.append(np.array(seen.get("state", ()), dtype=np.float32).reshape(-1))
        self.actions.append(np.array(action, dtype=np.float32).reshape(-1))
        self._seen = obs

    def finish(self) -> dict[str, str] | None:
        """Write the archive; returns its path in the run directory and its SHA-256 (None
        when no step ran)."""
        if not self.actions:
            return None
        arrays = {IMAGE_KEY + camera: np.stack(frames) for camera, frames in self.images.items()}
        arrays["state"] = np.stack(self.states)
        arrays["action"] = np.stack(self.actions)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, allow_pickle=False, **arrays)
        data = buffer.getvalue()
        atomic_write_bytes(self.path, data)
        return {
            "file": self.path.relative_to(self.path.parents[2]).as_posix(),
            "sha256": hashlib.sha256(data).hexdigest(),
        }


def dataset_roots(root: Path, tasks: list[str]) -> dict[str, Path]:
    """Where each task's dataset goes: ``root`` for one task, ``root/<task>`` for several."""
    if len(tasks) == 1:
        return {tasks[0]: root}
    return {task: root / task for task in tasks}


def _training() -> Any:
    try:
        from vla_bench_training import dataset
    except ImportError as exc:
        raise RunConfigError(
            f"--record writes LeRobot datasets through the training plugin, which is not "
            f"installed ({exc}); install {TRAINING_DISTRIBUTION} or drop --record"
        ) from None
    return dataset


def check_target(root: Path, specs: list[TaskSpec]) -> None:
    """Refuse, before any episode runs, a ``--record`` directory the rollouts cannot go to:
    a file, a directory that holds something other than this run's datasets, a dataset of
    other features, or a task whose control rate is not whole frames per second."""
    dataset = _training()
    roots = dataset_roots(root, [spec.name for spec in specs])
    if root.exists() and not root.is_dir():
        raise RunConfigError(f"--record {root} is a file; pass a directory for the dataset")
    if len(specs) > 1 and root.is_dir():
        if dataset.is_dataset(root):
            raise RunConfigError(
                f"--record {root} holds one dataset, but this run covers {len(specs)} tasks "
                "(one dataset each, in DIR/<task>); pass a new directory"
            )
        foreign = sorted(p.name for p in root.iterdir() if p.name not in roots)
        if foreign:
            raise RunConfigError(
                f"--record {root} holds {foreign[:3]}, which are not datasets of this run's "
                "tasks; pass a new or empty directory"
            )
    for spec in specs:
        where = roots[spec.name]
        if abs(spec.control_hz - round(spec.control_hz)) > 1e-9:
            raise RunConfigError(
                f"task {spec.name!r} runs at {spec.control_hz} Hz; a LeRobot dataset needs "
                "whole frames per second, so it cannot be recorded"
            )
        if where.exists() and not where.is_dir():
            raise RunConfigError(f"--record {where} is a file; pass a directory for the dataset")
        if dataset.is_dataset(where):
            try:
                dataset.check_appendable(where, spec, spec.control_hz)
            except dataset.DatasetError as exc:
                raise RunConfigError(f"--record: {exc}") from None
        elif where.is_dir() and any(where.iterdir()):
            raise RunConfigError(
                f"--record {where} is a non-empty directory that holds no LeRobot dataset; "
                "pass a new or empty directory (nothing there was changed)"
            )


@dataclass
class Recorded:
    """What adding a run's rollouts to ``--record`` datasets did."""

    added: dict[str, int] = field(default_factory=dict)
    """New episodes per dataset directory."""
    already: int = 0
    """Committed episodes the datasets held before (an earlier invocation added them)."""
    errors: int = 0
    """Episodes that ended in errors, left out."""
    unrecorded: int = 0
    """Committed episodes with no recorded frames (run without ``--record``)."""

    def summary(self) -> str:
        """One line for the user."""
        added = ", ".join(f"{path} +{n}" for path, n in self.added.items()) or "nothing new"
        notes = [
            f"{self.already} already there" if self.already else "",
            f"{self.errors} ended in errors (left out)" if self.errors else "",
            f"{self.unrecorded} ran without --record (no frames)" if self.unrecorded else "",
        ]
        return f"recorded episodes: {added}" + "".join(f"; {n}" for n in notes if n)


def add_to_datasets(
    store: RunStore, run_id: str, run_created: str, tasks: Mapping[str, Task], root: Path
) -> Recorded:
    """Append the committed episodes of ``tasks`` that the datasets under ``root`` lack (see
    the module doc); an interruption keeps every whole episode already appended. A new
    dataset names the task's ``robot_type``."""
    dataset = _training()
    roots = dataset_roots(root, list(tasks))
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in tasks}
    for _, row in store.episode_rows():  # in (task, episode) order: track order
        if row["task"] in rows:
            rows[row["task"]].append(row)
    done = Recorded()
    for task, about in tasks.items():
        target = roots[task]
        have = {
            (line.get("run_id"), line.get("run_created"), line.get("task"), line.get("episode"))
            for line in dataset.DatasetWriter.read_episodes(target)
        }
        todo = []
        for row in rows[task]:
            if (run_id, run_created, task, row["episode"]) in have:
                done.already += 1
            elif row["outcome"] in ERROR_OUTCOMES:
                done.errors += 1
            else:
                todo.append(row)
        episodes = (_episode(dataset, store, row, run_id, run_created) for row in todo)
        kept = [e for e in episodes if e is not None]
        done.unrecorded += len(todo) - len(kept)
        if not kept:
            continue
        with dataset.DatasetWriter(target, about, append=True) as writer:
            for episode in kept:
                writer.write(episode)
        done.added[str(target)] = len(kept)
    return done


def _episode(
    dataset: Any, store: RunStore, row: dict[str, Any], run_id: str, run_created: str
) -> Any:
    """The committed episode of ``row`` as a dataset episode (None when it has no frames)."""
    rollout = json.loads(row.get("extra") or "{}").get("rollout")
    if not isinstance(rollout, dict):
        return None
    path = store.part(row["task"], row["episode"], ROLLOUT_SUFFIX)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if hashlib.sha256(data).hexdigest() != rollout.get("sha256"):
        return None  # frames of another attempt at this episode, never committed
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        images = {
            key[len(IMAGE_KEY) :]: archive[key]
            for key in archive.files
            if key.startswith(IMAGE_KEY)
        }
        states, actions = archive["state"], archive["action"]
    episode = dataset.Episode(
        instruction=row["instruction"],
        seed=int(row["seed"]),
        success=bool(row["success"]),
        source={
            "run_id": run_id,
            "run_created": run_created,
            "task": row["task"],
            "episode": int(row["episode"]),
        },
    )
    episode.images = [
        {cam: frames[i] for cam, frames in images.items()} for i in range(len(actions))
    ]
    episode.states = list(states)
    episode.actions = list(actions)
    return episode
