"""Training-set vs held-out loss of saved checkpoints: does a policy generalise or memorise?

Usage::

    python plugins/training/benchmarks/heldout_loss.py --train data/valve60 \
        --heldout data/valve20-heldout CKPT/checkpoints/001000 CKPT/checkpoints/004000

Both datasets are ``bench demos`` output (the held-out one with other seeds, i.e. other scenes).
Each checkpoint is loaded as ``bench run`` loads it and evaluated in eval mode over every frame
of both datasets with the policy's own loss: for ACT the L1 action error with the latent at
its prior mean (what the policy executes; no KL term), for Diffusion Policy the noise-prediction
MSE at seeded random timesteps. A training loss that keeps falling while the held-out one stalls
or rises is memorisation of the demonstrated scenes. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def mean_loss(policy: str, checkpoint: Path, dataset: Path, batch_size: int) -> float:
    """The checkpoint's mean loss over every frame of ``dataset`` (eval mode, seeded)."""
    import torch
    from vla_bench_lerobot.backends import BACKENDS
    from vla_bench_lerobot.loading import load_pretrained
    from vla_bench_training.dataset import open_dataset

    built = load_pretrained(BACKENDS[policy], str(checkpoint), "cpu", None, {})
    model = built.policy
    data = open_dataset(dataset, model.config)
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)
    torch.manual_seed(0)
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in loader:
            n = len(batch["index"])
            loss, _ = model.forward(built.preprocessor(batch))
            total += float(loss) * n
            count += n
    return total / count


def main() -> None:
    """Print one row per checkpoint: step, training-set loss, held-out loss, their ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--train", type=Path, required=True, help="the dataset trained on")
    parser.add_argument("--heldout", type=Path, required=True, help="demos of other scenes")
    parser.add_argument("--policy", default=None, help="act or diffusion (default: from config)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    import json

    print("| checkpoint | training-set loss | held-out loss | held-out / training |")
    print("| --- | ---: | ---: | ---: |")
    for checkpoint in args.checkpoints:
        policy = args.policy or json.loads((checkpoint / "config.json").read_text())["type"]
        seen = mean_loss(policy, checkpoint, args.train, args.batch_size)
        unseen = mean_loss(policy, checkpoint, args.heldout, args.batch_size)
        print(f"| {checkpoint.name} | {seen:.4f} | {unseen:.4f} | {unseen / seen:.2f} |")


if __name__ == "__main__":
    main()
