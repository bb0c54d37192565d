"""The LeRobot dataset form every demonstration source here writes, and episodes recorded into it.

One frame per control step: ``observation.images.<camera>`` (H x W x 3 uint8, stored as PNG
inside the parquet files: ``use_videos=False``, so no video codec is needed),
``observation.state`` (the task's state vector), ``action`` (the task's ``ee_delta_7d`` action
that was the label for that observation) and ``task`` (the episode's instruction text). The
keys are exactly those :func:`vla_bench_lerobot.adapter.task_features` gives a policy for the
task, so a policy trained on the dataset runs under ``bench run`` without any map.

Beside LeRobot's own metadata, ``meta/vla_bench_episodes.jsonl`` has one line per episode:
``episode_index``, ``seed`` (the scene), ``success`` (whether the demonstration, or its replay,
solved the task), ``frames`` and ``instruction``, plus where an evaluated rollout came from
(``bench run --record``: ``run_id``, ``run_created``, ``task``, ``episode``). With
``--keep-failed`` it is how a user tells the failed episodes apart.

A dataset is written in a hidden sibling directory and renamed into place once complete, so a
command that fails or is interrupted leaves nothing at ``-o`` and the retry can use it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from vla_bench_lerobot.adapter import ACTION_KEY, IMAGE_PREFIX, STATE_KEY

from harness.contract import Task, TaskSpec
from harness.signals import interrupts_held
from vla_bench_training.errors import TrainingInputError

VIDEO_BACKEND = "pyav"
EPISODES_FILE = "meta/vla_bench_episodes.jsonl"


class DatasetError(TrainingInputError):
    """A dataset cannot be written or read as asked (exists already, empty, wrong features)."""


def features(spec: TaskSpec, image_size: tuple[int, int]) -> dict[str, dict[str, Any]]:
    """LeRobot feature declarations for ``spec`` with images stored at ``image_size`` (H, W)."""
    h, w = image_size
    out: dict[str, dict[str, Any]] = {
        IMAGE_PREFIX + camera: {
            "dtype": "image",
            "shape": (h, w, 3),
            "names": ["height", "width", "channels"],
        }
        for camera in spec.cameras
    }
    out[STATE_KEY] = {
        "dtype": "float32",
        "shape": (len(spec.state_fields),),
        "names": list(spec.state_fields),
    }
    out[ACTION_KEY] = {
        "dtype": "float32",
        "shape": (spec.action_space.dim,),
        "names": list(spec.action_space.names),
    }
    return out


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` at ``size`` (H, W) with the same antialiased bilinear resize ``bench run`` uses.

    Storing images pre-resized this way means training sees what evaluation will feed the
    policy: the LeRobot adapter resizes the task's 224 px frames to the checkpoint's size.
    """
    if tuple(image.shape[:2]) == tuple(size):
        return np.asarray(image, dtype=np.uint8)
    from vla_bench_lerobot.adapter import image_tensor

    tensor = image_tensor(image, size)
    return np.asarray((tensor.permute(1, 2, 0).numpy() * 255.0).round(), dtype=np.uint8)


def is_dataset(root: Path) -> bool:
    """Whether ``root`` holds a LeRobot dataset (its ``meta/info.json``)."""
    return (root / "meta" / "info.json").is_file()


def check_appendable(
    root: Path, spec: TaskSpec, fps: float, image_size: tuple[int, int] | None = None
) -> None:
    """Raise :class:`DatasetError` unless the dataset at ``root`` has the features of ``spec``
    (images at ``image_size``, default the task's camera size) and ``fps``: episodes of
    another layout appended to it would make it unreadable."""
    size = image_size or next(iter(set(spec.cameras.values())), (0, 0))
    try:
        info = json.loads((root / "meta" / "info.json").read_text())
        have = {k: tuple(v["shape"]) for k, v in info["features"].items()}
        have_fps = info["fps"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DatasetError(
            f"{root}/meta/info.json is not LeRobot dataset metadata ({exc}); pass a new directory"
        ) from None
    wanted = features(spec, size)
    if have_fps != round(fps) or any(have.get(k) != tuple(v["shape"]) for k, v in wanted.items()):
        raise DatasetError(
            f"{root} holds a dataset of other features or fps than {spec.name!r} at "
            f"{size[0]}x{size[1]} px; append to a matching dataset or pass a new directory"
        )


@dataclass
class Episode:
    """Frames of one demonstration, held until it is known whether to keep it."""

    instruction: str
    seed: int
    images: list[dict[str, np.ndarray]] = field(default_factory=list)
    states: list[np.ndarray] = field(default_factory=list)
    actions: list[np.ndarray] = field(default_factory=list)
    success: bool = False
    source: dict[str, str | int] = field(default_factory=dict)
    """Where the episode came from, copied into its ledger line (``bench run --record`` uses it
    to add each rollout once)."""

    def add(self, obs: dict[str, Any], action: np.ndarray) -> None:
        """One step: the observation the action was chosen for, and the action label."""
        self.images.append(dict(obs["images"]))
        self.states.append(np.asarray(obs["state"], dtype=np.float32))
        self.actions.append(np.asarray(action, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.actions)


def robot_type(task: Any) -> str | None:
    """The embodiment ``task`` declares for its datasets (see :class:`harness.contract.Task`)."""
    declared = getattr(task, "robot_type", None)
    return declared if isinstance(declared, str) and declared else None


class DatasetWriter:
    """Creates a LeRobot dataset at ``root`` for ``task`` (or, with ``append``, reopens the one
    there) and appends :class:`Episode` s, a frame per control step. A new dataset's metadata
    names the task's ``robot_type`` (see :func:`robot_type`).

    Use it as a context manager. A new dataset is written in a hidden sibling directory and
    appears at ``root`` only when the block ends normally; if it raises (or is interrupted),
    nothing is left behind. Appending writes in place, an episode at a time: a failure keeps
    the episodes already there (and those this writer finished), never a partial one.
    """

    def __init__(
        self,
        root: Path,
        task: Task,
        image_size: tuple[int, int] | None = None,
        *,
        append: bool = False,
    ) -> None:
        import datasets
        from lerobot.datasets.lerobot_dataset import LeRobotDataset

        datasets.disable_progress_bars()  # one bar per saved episode drowns the real progress
        spec, fps = task.spec, task.spec.control_hz  # one frame per control step
        if abs(fps - round(fps)) > 1e-9:
            raise DatasetError(f"task {spec.name!r} runs at {fps} Hz; LeRobot needs whole fps")
        self.spec = spec
        self.root = root
        sizes = set(spec.cameras.values())
        self.image_size = image_size or (next(iter(sizes)) if sizes else (0, 0))
        self.episodes = 0
        self.frames = 0
        self.first_index = 0
        """Index of the first episode this writer adds (the episodes already there, appending)."""
        self._scratch: Path | None = None
        wanted = features(spec, self.image_size)
        if append and is_dataset(root):
            check_appendable(root, spec, fps, self.image_size)
            self.staging = root
            self.dataset = LeRobotDataset.resume(
                f"vla-bench/{spec.name}", root=root, video_backend=VIDEO_BACKEND
            )
            self.first_index = self.dataset.meta.total_episodes
            return
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise DatasetError(f"{root} exists and is not empty; pass a new -o directory")
        root.parent.mkdir(parents=True, exist_ok=True)
        self._scratch = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}.partial-"))
        # LeRobot creates the dataset directory itself and refuses an existing one.
        self.staging = self._scratch / "dataset"
        try:
            self.dataset = LeRobotDataset.create(
                repo_id=f"vla-bench/{spec.name}",
                fps=round(fps),
                features=wanted,
                root=self.staging,
                robot_type=robot_type(task),
                use_videos=False,
                # No videos to decode; naming a backend skips LeRobot's noisy torchcodec probe.
                video_backend=VIDEO_BACKEND,
            )
        except BaseException:
            shutil.rmtree(self._scratch, ignore_errors=True)
            raise

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def write(self, episode: Episode) -> None:
        """Append one episode (all its frames, instruction as the ``task`` text)."""
        if len(episode) == 0:
            raise DatasetError(f"episode with seed {episode.seed} has no frames")
        for images, state, action in zip(
            episode.images, episode.states, episode.actions, strict=True
        ):
            frame: dict[str, Any] = {
                IMAGE_PREFIX + cam: resize(images[cam], self.image_size)
                for cam in self.spec.cameras
            }
            frame[STATE_KEY] = state
            frame[ACTION_KEY] = action
            frame["task"] = episode.instruction
            self.dataset.add_frame(frame)
        line = {
            "episode_index": self.first_index + self.episodes,
            "seed": episode.seed,
            "success": episode.success,
            "frames": len(episode),
            "instruction": episode.instruction,
            **episode.source,
        }
        # A Ctrl-C between the two would leave a saved episode without its line, which an
        # appending run (bench run --record, resumed) would then add a second time.
        with interrupts_held():
            self.dataset.save_episode()
            with open(self.staging / EPISODES_FILE, "a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")
        self.episodes += 1
        self.frames += len(episode)

    @staticmethod
    def read_episodes(root: Path) -> list[dict[str, Any]]:
        """The per-episode lines of ``root``'s :data:`EPISODES_FILE` (empty if it has none)."""
        path = root / EPISODES_FILE
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def close(self) -> None:
        """Flush parquet footers and metadata (the dataset is unreadable without this); a new
        dataset then moves to ``root``."""
        if self._scratch is None:
            self.dataset.finalize()
            return
        try:
            self.dataset.finalize()
            if self.root.exists():
                self.root.rmdir()  # checked empty at the start; a rename cannot replace it
            self.staging.rename(self.root)
        finally:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def abort(self) -> None:
        """Drop a new dataset (``root`` stays as it was); an appended one keeps its whole
        episodes."""
        if self._scratch is None:
            self.dataset.finalize()
        else:
            shutil.rmtree(self._scratch, ignore_errors=True)


def open_dataset(root: Path, config: Any | None = None) -> Any:
    """``root``'s LeRobot metadata, or with a policy ``config`` the dataset itself, serving
    the observation history and action horizon that config trains on."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset, LeRobotDatasetMetadata

    if not (root / "meta" / "info.json").is_file():
        raise DatasetError(
            f"{root} is not a LeRobot dataset (no meta/info.json); make one with `bench demos` "
            f"or `bench import-handtracking`"
        )
    meta = LeRobotDatasetMetadata("vla-bench/local", root=root)
    if config is None:
        return meta
    from lerobot.datasets.factory import resolve_delta_timestamps

    return LeRobotDataset(
        "vla-bench/local",
        root=root,
        delta_timestamps=resolve_delta_timestamps(config, meta),
        video_backend=VIDEO_BACKEND,
    )


def vector_names(meta: Any) -> dict[str, tuple[str, ...]]:
    """Element names of the dataset's state and action vectors, as its metadata declares them
    (recorded in ``training.json`` so that ``bench run`` can check a task's fields by name)."""
    out: dict[str, tuple[str, ...]] = {}
    for key in (STATE_KEY, ACTION_KEY):
        names = (meta.features.get(key) or {}).get("names")
        if isinstance(names, dict):  # LeRobot also allows {"axes": [...]}
            names = next(iter(names.values()), None)
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            out[key] = tuple(names)
    return out
