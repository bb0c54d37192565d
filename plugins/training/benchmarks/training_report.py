"""Plot a training run's loss curve and success vs steps; print the figures as Markdown.

Usage::

    python plugins/training/benchmarks/training_report.py --log train.log \
        --eval 400=runs/act-400 --eval 1200=runs/act-1200 --out reports/training/act-handle

``--log`` is the text ``bench train`` prints (``step N/M loss X (T s)`` lines) or its
``training.json``; each ``--eval STEPS=RUN_DIR`` is a ``bench run`` directory of that checkpoint.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from harness.results import load_run

LINE = re.compile(r"step (\d+)/\d+ loss ([0-9.eE+-]+) \((\d+) s\)")


def read_losses(path: Path) -> tuple[list[int], list[float], list[int]]:
    """(steps, losses, elapsed seconds) from a training log or training.json."""
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        steps, losses = zip(*data["losses"], strict=True)
        return list(steps), list(losses), []
    rows = [LINE.search(line) for line in path.read_text().splitlines()]
    found = [m for m in rows if m]
    return (
        [int(m[1]) for m in found],
        [float(m[2]) for m in found],
        [int(m[3]) for m in found],
    )


def main() -> None:
    """Write loss.png (and success.png) into --out and print a Markdown summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--eval", action="append", default=[], help="STEPS=RUN_DIR")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--title", default="")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    steps, losses, elapsed = read_losses(args.log)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, losses)
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("loss (mean over 10 steps)")
    ax.set_title(args.title or "training loss")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out / "loss.png", dpi=120)
    print(f"steps logged: {steps[-1]}, final loss {losses[-1]:.4f}", end="")
    print(f", wall {elapsed[-1]} s" if elapsed else "")
    points = []
    for item in args.eval:
        step_text, _, run_dir = item.partition("=")
        run = load_run(run_dir)
        ok = run.episodes["success"].astype(bool)
        points.append((int(step_text), float(ok.mean()), int(ok.sum()), len(ok)))
    if points:
        points.sort()
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot([p[0] for p in points], [100 * p[1] for p in points], marker="o")
        ax.set_xlabel("training step")
        ax.set_ylabel("success (%)")
        ax.set_ylim(-5, 105)
        ax.grid(alpha=0.3)
        ax.set_title(args.title or "success vs steps")
        fig.tight_layout()
        fig.savefig(args.out / "success.png", dpi=120)
        print("| step | success | episodes |\n| --- | --- | --- |")
        for step, rate, wins, n in points:
            print(f"| {step} | {100 * rate:.0f}% ({wins}/{n}) | {n} |")


if __name__ == "__main__":
    main()
