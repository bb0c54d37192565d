"""Plot a training run's loss curve and success vs steps; print the figures as Markdown.

Usage::

    python plugins/training/benchmarks/training_report.py --log train.log \
        --eval 400=runs/act-400 --eval 1200=runs/act-1200 --out reports/training/act-handle

``--log`` is the text ``bench train`` prints (``step N/M loss X (T s)`` lines) or its
``training.json``; each ``--eval STEPS=RUN_DIR`` is a ``bench run`` directory of that checkpoint.
``--split NAME=REGEX`` (repeatable, first match wins) also breaks each evaluation's success down
by what the episode's instruction asked, e.g. a valve's direction: a policy that cannot read the
instruction (ACT, Diffusion Policy) shows it there.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from harness.metrics import wilson_interval
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
    parser.add_argument("--split", action="append", default=[], help="NAME=REGEX (instruction)")
    args = parser.parse_args()
    splits = [
        (name, re.compile(rx, re.I)) for name, _, rx in (s.partition("=") for s in args.split)
    ]
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
    points, breakdown = [], {}
    for item in args.eval:
        step_text, _, run_dir = item.partition("=")
        run = load_run(run_dir)
        ok = run.episodes["success"].astype(bool)
        points.append((int(step_text), float(ok.mean()), int(ok.sum()), len(ok)))
        if splits:
            groups: dict[str, list[bool]] = {}
            for text, won in zip(run.episodes["instruction"], ok, strict=True):
                name = next((n for n, rx in splits if rx.search(str(text))), "other")
                groups.setdefault(name, []).append(bool(won))
            breakdown[int(step_text)] = groups
    if points:
        points.sort()
        fig, ax = plt.subplots(figsize=(6, 3.5))
        bounds = [wilson_interval(p[2], p[3]) for p in points]
        ax.errorbar(
            [p[0] for p in points],
            [100 * p[1] for p in points],
            yerr=[
                [100 * (p[1] - lo) for p, (lo, _) in zip(points, bounds, strict=True)],
                [100 * (hi - p[1]) for p, (_, hi) in zip(points, bounds, strict=True)],
            ],
            marker="o",
            capsize=3,
        )
        ax.set_xlabel("training step")
        ax.set_ylabel("success (%)")
        ax.set_ylim(-5, 105)
        ax.grid(alpha=0.3)
        ax.set_title((args.title or "success vs steps") + " (Wilson 95% CI)")
        fig.tight_layout()
        fig.savefig(args.out / "success.png", dpi=120)
        names = [n for n, _ in splits] + ["other"]
        shown = [n for n in names if any(n in g for g in breakdown.values())]
        print("| step | success [95% CI] |" + "".join(f" {n} |" for n in shown))
        print("| --- | --- |" + " --- |" * len(shown))
        for (step, rate, wins, n), (lo, hi) in zip(points, bounds, strict=True):
            cells = []
            for name in shown:
                won = breakdown.get(step, {}).get(name, [])
                cells.append(f" {sum(won)}/{len(won)} |")
            ci = f"{100 * lo:.0f}–{100 * hi:.0f}"
            print(f"| {step} | {100 * rate:.0f}% ({wins}/{n}) [{ci}] |" + "".join(cells))


if __name__ == "__main__":
    main()
