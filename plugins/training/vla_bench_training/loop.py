"""LeRobot's training step over a vla-bench dataset, with sample-exact resume.

The pieces are LeRobot 0.6.1's: ``resolve_delta_timestamps`` asks the dataset for the
observation history and action horizon the policy trains on, ``EpisodeAwareSampler`` draws
frames, ``policy.forward`` returns the loss and the policy's optimizer/scheduler presets do the
rest. A checkpoint is ``policy.save_pretrained`` + both processors' ``save_pretrained``
(statistics included) + ``training.json``: exactly what ``bench run --policy <name>
--policy-args checkpoint=DIR`` loads.

Resuming continues a run from its newest checkpoint sample-exactly: that checkpoint also holds
``training_state.pt`` (step, optimizer and scheduler state, the sampler's position in its
epoch, the torch RNG), so 2 000 steps in one go and 1 000 + 1 000 resumed give the same
weights. Only the newest checkpoint keeps that file (Adam's moments are twice the model's size).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.checkpoints import TRAINING_FILE, TrainingRecord
from vla_bench_training.dataset import open_dataset, vector_names
from vla_bench_training.errors import TrainingInputError
from vla_bench_training.request import TrainRequest

STATE_FILE = "training_state.pt"
LOG_EVERY = 10
"""Steps per entry of the loss history."""


@dataclass(frozen=True)
class ResumeState:
    """Where a stopped run left off: its newest checkpoint, record and optimizer state."""

    directory: Path
    record: TrainingRecord
    payload: dict[str, Any]


def find_resume_state(request: TrainRequest) -> ResumeState:
    """The newest checkpoint under ``request.out`` that holds a training state, checked against
    the request that wants to continue it."""
    import torch

    out = request.out
    candidates = [out, *sorted((out / "checkpoints").glob("[0-9]*"))]
    found = [d for d in candidates if (d / STATE_FILE).is_file() and (d / TRAINING_FILE).is_file()]
    if not found:
        raise TrainingInputError(
            f"nothing to resume in {out}: no checkpoint there holds {STATE_FILE} (runs made "
            f"before --resume existed cannot continue); start a new run with a new -o"
        )
    records = [(TrainingRecord.read(d / TRAINING_FILE), d) for d in found]
    record, directory = max(records, key=lambda r: r[0].steps_done)
    if record.policy != request.policy:
        raise TrainingInputError(
            f"{out} is a {record.policy} run; resume it with --policy {record.policy}"
        )
    if Path(record.dataset).resolve() != request.dataset.resolve():
        raise TrainingInputError(
            f"{out} was trained on {record.dataset}, not {request.dataset}; resume it with the "
            f"same --dataset, or start a new run with a new -o"
        )
    if record.steps_done >= request.steps:
        raise TrainingInputError(
            f"{out} has already trained {record.steps_done} steps; ask for more with --steps N "
            f"(N > {record.steps_done})"
        )
    if record.batch_size != request.batch_size:
        raise TrainingInputError(
            f"{out} trained with --batch-size {record.batch_size}; resume with it"
        )
    payload = torch.load(directory / STATE_FILE, map_location="cpu", weights_only=False)
    return ResumeState(directory, record, payload)


def check_new_output(out: Path) -> None:
    """A new run never overwrites an earlier one's checkpoints."""
    if (out / TRAINING_FILE).is_file() or (out / "checkpoints").is_dir():
        raise TrainingInputError(
            f"{out} already holds a training run; pass --resume to continue it, or a new -o"
        )


def fit(
    model: Any,
    preprocessor: Any,
    postprocessor: Any,
    request: TrainRequest,
    *,
    pretrained: str | None = None,
    resume: ResumeState | None = None,
    num_workers: int = 0,
) -> TrainingRecord:
    """LeRobot's training step (forward -> loss, clip, optimizer preset) over the dataset, up to
    ``request.steps`` steps; checkpoints in ``request.out``.

    ``pretrained`` names the weights a fine-tune started from (None: trained from scratch);
    ``resume`` restores optimizer, scheduler, sampler position and RNG (``model`` must already
    hold that checkpoint's weights).
    """
    import torch
    from lerobot.datasets import EpisodeAwareSampler

    progress, out, steps = request.progress, request.out, request.steps
    config = model.config
    progress.phase(f"opening the dataset {request.dataset}")
    data = open_dataset(request.dataset, config)
    optimizer = config.get_optimizer_preset().build(model.get_optim_params())
    scheduler_config = config.get_scheduler_preset()
    scheduler = scheduler_config.build(optimizer, steps) if scheduler_config else None
    sampler = EpisodeAwareSampler(
        data.meta.episodes["dataset_from_index"],
        data.meta.episodes["dataset_to_index"],
        drop_n_last_frames=getattr(config, "drop_n_last_frames", 0),
        shuffle=True,
        seed=request.seed,
    )
    loader = torch.utils.data.DataLoader(
        data,
        batch_size=request.batch_size,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=len(sampler) > request.batch_size,
    )
    grad_clip = getattr(config.get_optimizer_preset(), "grad_clip_norm", 10.0)
    record = TrainingRecord(
        policy=request.policy,
        origin="trained" if pretrained is None else "finetuned",
        dataset=str(request.dataset),
        seed=request.seed,
        batch_size=request.batch_size,
        steps=steps,
        steps_done=0,
        frames=data.num_frames,
        episodes=data.num_episodes,
        parameters=sum(p.numel() for p in model.parameters()),
        pretrained=pretrained,
        features=vector_names(data.meta),
    )
    step, epoch, offset, rng = 0, 0, 0, None
    if resume is not None:
        payload, before = resume.payload, resume.record
        optimizer.load_state_dict(payload["optimizer"])
        if scheduler is not None and payload.get("scheduler") is not None:
            scheduler.load_state_dict(payload["scheduler"])
        step, rng = int(payload["step"]), payload["torch_rng"]
        epoch, offset = int(payload["sampler"]["epoch"]), int(payload["sampler"]["start_index"])
        sampler.load_state_dict({"epoch": epoch, "start_index": offset})
        record = dataclasses.replace(
            record,
            origin=before.origin,
            pretrained=before.pretrained,
            losses=before.losses,
            checkpoints=before.checkpoints,
            wall_s=before.wall_s,
            steps_done=step,
            resumed=(*before.resumed, step),
        )
        progress.line(f"resuming {resume.directory} at step {step}")
    start = time.perf_counter() - record.wall_s
    losses = list(record.losses)
    checkpoints = list(record.checkpoints)
    running: list[float] = []
    last_state: Path | None = resume.directory if resume is not None else None

    def snapshot() -> TrainingRecord:
        return dataclasses.replace(
            record,
            steps_done=step,
            losses=tuple(losses),
            checkpoints=tuple(checkpoints),
            wall_s=time.perf_counter() - start,
        )

    model.train()
    with progress.counter("step", steps) as counter:
        counter.update(step)
        while step < steps:
            batches = iter(loader)  # starts an epoch (LeRobot's sampler: seed, epoch, offset)
            if rng is not None:
                # Creating the iterator draws from the RNG; restore after it, as the stopped run
                # had drawn it before its last step.
                torch.set_rng_state(rng)
                rng = None
            for batch in batches:
                offset += len(batch["index"]) if "index" in batch else request.batch_size
                batch = preprocessor(batch)
                loss, _ = model.forward(batch)
                if not math.isfinite(loss.item()):
                    raise TrainingInputError(
                        f"the loss became {loss.item()} at step {step}; lower the learning rate "
                        f"(--policy-args optimizer_lr=...)"
                    )
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                step += 1
                running.append(loss.item())
                if step % LOG_EVERY == 0 or step == steps:
                    losses.append((step, sum(running) / len(running)))
                    running = []
                shown = sum(running) / len(running) if running else losses[-1][1]
                counter.update(step, f"loss {shown:.4f}")
                if request.save_every and step % request.save_every == 0 and step < steps:
                    path = out / "checkpoints" / f"{step:06d}"
                    _save(model, preprocessor, postprocessor, path)
                    checkpoints.append(str(path))
                    # The loss history so far survives a run stopped before its last step,
                    # and every checkpoint says how it was made.
                    snapshot().write(path)
                    snapshot().write(out)
                    state = {"epoch": epoch, "start_index": offset}
                    last_state = _save_state(path, optimizer, scheduler, state, step, last_state)
                if step >= steps:
                    break
            else:
                epoch, offset = epoch + 1, 0
    model.eval()
    progress.phase(f"saving the checkpoint in {out}")
    _save(model, preprocessor, postprocessor, out)
    final = snapshot()
    final.write(out)
    _save_state(
        out, optimizer, scheduler, {"epoch": epoch, "start_index": offset}, step, last_state
    )
    return final


def _save_state(
    path: Path,
    optimizer: Any,
    scheduler: Any,
    sampler: dict[str, int],
    step: int,
    previous: Path | None,
) -> Path:
    """Write ``path/training_state.pt`` and drop the previous checkpoint's (only the newest
    is needed to continue, and each is about twice the model's size)."""
    import torch

    payload = {
        "step": step,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "sampler": sampler,
        "torch_rng": torch.get_rng_state(),
    }
    partial = path / (STATE_FILE + ".partial")
    torch.save(payload, partial)
    partial.replace(path / STATE_FILE)  # a kill mid-write leaves the older state usable
    if previous is not None and previous != path:
        (previous / STATE_FILE).unlink(missing_ok=True)
    return path


def _save(model: Any, preprocessor: Any, postprocessor: Any, path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    preprocessor.save_pretrained(path)
    postprocessor.save_pretrained(path)
