"""Demonstrations sent by the page: kept as hand-tracking logs, imported and replay-checked.

Each demo arrives as JSON: the log in ``bench import-handtracking``'s format (samples in the
tracking frame), the calibration the page used, the per-step actions the page executed, and
what the page saw (success in WASM, steps). :class:`DemoStore` writes the log, calibration and
actions under ``<out>/<task>/logs/`` first (so nothing recorded is lost), then appends the demo
to the LeRobot dataset ``<out>/<task>/dataset`` through the importer's own path
(:func:`vla_bench_training.handtracking.import_logs`: calibrate, resample, replay in Python
MuJoCo, keep only if the replay succeeds unless ``keep_failed``), and adds a line to
``<out>/<task>/demos.jsonl`` with the outcome, both MuJoCo versions and how far the page's
actions were from the importer's.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mujoco
import numpy as np
from vla_bench_manipulation.plugin import TASKS

from harness.results import atomic_write_bytes

MANIFEST = "demos.jsonl"
INPUTS = ("xr", "keyboard")


class DemoError(ValueError):
    """A demo the page sent cannot be used; the message names the field."""


def _json(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8")


def _field(demo: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = demo.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise DemoError(f"demo field {name!r} must be {kind}, got {value!r}")
    return value


@dataclass(frozen=True)
class DemoResult:
    """What became of one demo."""

    demo: int
    log: str
    replay_success: bool
    replay_steps: int
    kept: bool
    max_action_difference: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the page shows them next to the demo counter)."""
        return dict(self.__dict__)


class DemoStore:
    """The demos of one studio session, written under ``out`` one task per folder."""

    def __init__(
        self, out: Path, *, keep_failed: bool = False, image_size: tuple[int, int] | None = None
    ) -> None:
        self.out = out
        self.keep_failed = keep_failed
        self.image_size = image_size
        self._lock = threading.Lock()

    def count(self, task: str) -> dict[str, int]:
        """Demos received, and added to the dataset, so far for ``task`` (the page's counter)."""
        lines = self._manifest(task)
        return {"received": len(lines), "added": sum(bool(x["kept"]) for x in lines)}

    def _manifest(self, task: str) -> list[dict[str, Any]]:
        path = self.out / task / MANIFEST
        if not path.is_file():
            return []
        return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]

    def save(self, demo: Mapping[str, Any]) -> DemoResult:
        """Write, import and replay-check one demo (one at a time: imports share a dataset)."""
        from vla_bench_training.handtracking import calibration_from_dict

        task = _field(demo, "task", str)
        if task not in TASKS:  # it names a folder: only a known task may
            raise DemoError(f"demo task {task!r} is not one of the studio's tasks {sorted(TASKS)}")
        seed = _field(demo, "seed", int)
        source = _field(demo, "input", str)
        if source not in INPUTS:
            raise DemoError(f"demo field 'input' must be one of {INPUTS}, got {source!r}")
        log = _field(demo, "log", dict)
        if log.get("seed") != seed or not isinstance(log.get("samples"), list):
            raise DemoError("demo log must carry the demo's seed and a samples list")
        calibration = calibration_from_dict(_field(demo, "calibration", dict), "demo calibration")
        actions = np.asarray(_field(demo, "actions", list), dtype=np.float64)
        with self._lock:
            folder = self.out / task
            logs = folder / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            # Numbered after every log on disk, so a demo whose import crashed is never overwritten.
            taken = [int(p.name[5:9]) for p in logs.glob("demo-[0-9][0-9][0-9][0-9].json")]
            number = max(taken, default=0) + 1
            stem = f"demo-{number:04d}"
            log_path = logs / f"{stem}.json"
            atomic_write_bytes(logs / f"{stem}.calibration.json", _json(demo["calibration"]))
            atomic_write_bytes(logs / f"{stem}.actions.json", _json(demo["actions"]))
            atomic_write_bytes(log_path, _json(log))
            try:
                result = self._import(task, log_path, calibration, actions, number)
            except Exception as exc:
                error = {"demo": number, "log": str(log_path.relative_to(self.out)), "kept": False}
                self._append(task, {**error, "error": f"{type(exc).__name__}: {exc}"})
                raise
            line = {
                **result.to_dict(),
                "input": source,
                "seed": seed,
                "episode": demo.get("episode"),
                "instruction": log.get("instruction"),
                "page_steps": len(actions),
                "page_success": bool(demo.get("success")),
                "mujoco_python": mujoco.__version__,
                "mujoco_wasm": str(demo.get("mujoco_wasm")),
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            self._append(task, line)
        return result

    def _append(self, task: str, line: dict[str, Any]) -> None:
        with open(self.out / task / MANIFEST, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")

    def _import(
        self, task: str, log_path: Path, calibration: Any, actions: np.ndarray, number: int
    ) -> DemoResult:
        from vla_bench_training.handtracking import (
            actions_from_poses,
            import_logs,
            parse_log,
            resample,
        )

        from harness.plugins import registry

        spec = registry().build_task(task).spec
        summary = import_logs(
            [log_path],
            task,
            self.out / task / "dataset",
            calibration=calibration,
            keep_failed=self.keep_failed,
            image_size=self.image_size,
            append=True,
        )
        replayed = summary.per_log[0]
        ours, _ = actions_from_poses(
            resample(calibration.apply(parse_log(log_path)), spec.control_hz), spec
        )
        difference = None
        if len(actions) and ours.shape[1:] == actions.shape[1:]:
            n = min(len(ours), len(actions))
            difference = float(np.max(np.abs(ours[:n] - actions[:n]))) if n else None
        return DemoResult(
            demo=number,
            log=str(log_path.relative_to(self.out)),
            replay_success=bool(replayed["success"]),
            replay_steps=int(replayed["steps"]),
            kept=summary.kept > 0,
            max_action_difference=difference,
        )
