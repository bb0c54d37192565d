"""Contact sheets of each task's expert, as a policy would see it: front and wrist cameras.

    python tasks/manipulation/benchmarks/contact_sheet.py [--out DIR] [--seed-index N]

Writes ``<task>_expert.png``: the instruction on top, then the front camera row and the
wrist camera row, sampled evenly from reset to the last step. For checking by eye that the
objects are recognisable at the policy's resolution.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from vla_bench_manipulation.plugin import TASKS
from vla_bench_manipulation.rollout import rollout

from harness.contract import PolicyConfig

COLUMNS = 8


def sheet(task_name: str, index: int, out: Path) -> Path:
    """Roll the expert out on episode ``index`` of the task's track and save its contact sheet."""
    module_name, expert_name, _ = TASKS[task_name]
    module = importlib.import_module(f"vla_bench_manipulation.{module_name}")
    task = module.make_task()
    episode = task.track().episodes[index]
    expert = getattr(module, expert_name)(PolicyConfig("scripted"))
    result = rollout(task, expert, episode, render=True)
    picks = np.linspace(0, len(result.frames) - 1, COLUMNS).round().astype(int)
    h, w = task.spec.cameras["front"]
    header = 22
    canvas = Image.new("RGB", (COLUMNS * w, header + 2 * h), "white")
    draw = ImageDraw.Draw(canvas)
    verdict = "success" if result.success else f"FAILED ({result.failure or 'timeout'})"
    draw.text(
        (4, 5),
        f'{task_name} seed {episode.seed}: "{result.instruction}" - {verdict} '
        f"in {result.steps} steps; "
        f"rows: front, wrist; columns: steps {', '.join(map(str, picks))}",
        fill="black",
    )
    for col, i in enumerate(picks):
        for row, camera in enumerate(("front", "wrist")):
            canvas.paste(Image.fromarray(result.frames[i][camera]), (col * w, header + row * h))
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{task_name}_expert.png"
    canvas.save(path, optimize=True)
    return path


def main() -> None:
    """Write one contact sheet per task."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports/manipulation"))
    parser.add_argument("--seed-index", type=int, default=0, help="episode index in the track")
    parser.add_argument("--task", choices=sorted(TASKS), action="append")
    args = parser.parse_args()
    for name in args.task or TASKS:
        print(sheet(name, args.seed_index, args.out))


if __name__ == "__main__":
    main()
