"""Training LeRobot policies on a vla-bench dataset, with LeRobot's own objects.

The pieces are LeRobot 0.6.1's: ``make_policy_config`` + ``make_policy`` build the model from
the dataset's features, ``make_pre_post_processors`` builds the normaliser pipelines from the
dataset's ``meta/stats.json``, ``resolve_delta_timestamps`` asks the dataset for the observation
history and action horizon the policy trains on, ``EpisodeAwareSampler`` draws frames,
``policy.forward`` returns the loss and the policy's optimizer/scheduler presets do the rest.
The checkpoint is ``policy.save_pretrained`` + both processors' ``save_pretrained`` (statistics
included): exactly what ``bench run --policy <name> --policy-args checkpoint=DIR`` loads.

``--resume`` continues a run from its newest checkpoint sample-exactly: the newest checkpoint
also holds ``training_state.pt`` (step, optimizer and scheduler state, the sampler's position in
its epoch, the torch RNG), so 2 000 steps in one go and 1 000 + 1 000 resumed give the same
weights. Only the newest checkpoint keeps that file (Adam's moments are twice the model's size).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.contract import PolicyConfigError

# Policies small enough to train from scratch on a CPU in minutes to hours; every value is a
# LeRobot config field and can be overridden with ``--config key=value``.
SCRATCH_PRESETS: dict[str, dict[str, Any]] = {
    "act": {
        # Our episodes are 10-120 steps at 10 Hz: a 10-step chunk re-plans once a second.
        "chunk_size": 10,
        "n_action_steps": 10,
        "dim_model": 256,
        "n_heads": 8,
        "dim_feedforward": 1024,
        "n_encoder_layers": 2,
        "n_decoder_layers": 1,
        "use_vae": True,
        "latent_dim": 32,
        # No ImageNet download: the backbone trains from scratch with the rest.
        "pretrained_backbone_weights": None,
        "optimizer_lr_backbone": 1e-4,
    },
    "diffusion": {
        "n_obs_steps": 2,
        "horizon": 16,
        "n_action_steps": 8,
        "down_dims": (128, 256, 512),
        "use_group_norm": True,
        "pretrained_backbone_weights": None,
        "spatial_softmax_num_keypoints": 32,
        "noise_scheduler_type": "DDIM",
        "num_train_timesteps": 100,
        "num_inference_steps": 10,
    },
}
FINETUNE = {"smolvla": "smolvla", "pi0fast": "pi0_fast"}
ASSET_OPTIONS = ("vlm", "tokenizer", "action_tokenizer")
"""``--config`` keys a fine-tune hands the LeRobot loader (local copies of hub files)."""
POLICIES = (*SCRATCH_PRESETS, *FINETUNE, "openvla")


@dataclass
class TrainSummary:
    """What a training run did: steps, losses, time and where the checkpoint is."""

    policy: str
    steps: int
    batch_size: int
    frames: int
    episodes: int
    wall_s: float
    checkpoint: str
    losses: list[tuple[int, float]] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    parameters: int = 0
    # Read back by the policy plugins to label the weights (see vla_bench_lerobot.loading).
    origin: str = "trained"
    dataset: str = ""
    pretrained: str | None = None
    seed: int = 0
    steps_done: int = 0
    resumed: list[int] = field(default_factory=list)

    def write(self, directory: Path) -> None:
        """``directory/training.json``: this record, as it stands."""
        (directory / "training.json").write_text(json.dumps(self.__dict__, indent=2))


def parse_config(items: tuple[str, ...]) -> dict[str, Any]:
    """``key=value`` overrides; values parse as JSON where they can (numbers, lists, null)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--config {item!r} is not key=value (e.g. --config chunk_size=20)")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key] = tuple(value) if isinstance(value, list) else value
    return out


STATE_FILE = "training_state.pt"


@dataclass
class ResumeState:
    """Where a stopped run left off: its newest checkpoint, record and optimizer state."""

    directory: Path
    record: dict[str, Any]
    payload: dict[str, Any]


def find_resume_state(out: Path, policy: str, dataset: Path) -> ResumeState:
    """The newest checkpoint under ``out`` that holds a training state, checked against the
    command that wants to continue it."""
    import torch

    candidates = [out, *sorted((out / "checkpoints").glob("[0-9]*"))]
    found = [
        d for d in candidates if (d / STATE_FILE).is_file() and (d / "training.json").is_file()
    ]
    if not found:
        raise PolicyConfigError(
            f"nothing to resume in {out}: no checkpoint there holds {STATE_FILE} (runs made "
            f"before --resume existed cannot continue); start a new run with a new -o"
        )
    records = [(json.loads((d / "training.json").read_text()), d) for d in found]
    record, directory = max(records, key=lambda r: int(r[0].get("steps_done", 0)))
    if record.get("policy") != policy:
        raise PolicyConfigError(
            f"{out} is a {record.get('policy')} run; resume it with --policy {record.get('policy')}"
        )
    if Path(record.get("dataset", "")).resolve() != dataset.resolve():
        raise PolicyConfigError(
            f"{out} was trained on {record.get('dataset')}, not {dataset}; resume it with the "
            f"same --dataset, or start a new run with a new -o"
        )
    payload = torch.load(directory / STATE_FILE, map_location="cpu", weights_only=False)
    return ResumeState(directory, record, payload)


def check_new_output(out: Path) -> None:
    """A new run never overwrites an earlier one's checkpoints."""
    if (out / "training.json").is_file() or (out / "checkpoints").is_dir():
        raise PolicyConfigError(
            f"{out} already holds a training run; pass --resume to continue it, or a new -o"
        )


def open_dataset(root: Path, config: Any | None = None) -> Any:
    """``root``'s LeRobot metadata, or with a policy ``config`` the dataset itself, serving
    the observation history and action horizon that config trains on."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset, LeRobotDatasetMetadata

    if not (root / "meta" / "info.json").is_file():
        raise PolicyConfigError(
            f"{root} is not a LeRobot dataset (no meta/info.json); make one with `bench demos` "
            f"or `bench import-handtracking`"
        )
    meta = LeRobotDatasetMetadata("vla-bench/local", root=root)
    if config is None:
        return meta
    from lerobot.datasets.factory import resolve_delta_timestamps

    from vla_bench_training.dataset import VIDEO_BACKEND

    return LeRobotDataset(
        "vla-bench/local",
        root=root,
        delta_timestamps=resolve_delta_timestamps(config, meta),
        video_backend=VIDEO_BACKEND,
    )


def build_config(policy: str, meta: Any, overrides: dict[str, Any], device: str) -> Any:
    """A LeRobot policy config for ``policy`` with features from the dataset metadata."""
    from lerobot.configs import FeatureType
    from lerobot.policies.factory import make_policy_config
    from lerobot.utils.feature_utils import dataset_to_policy_features

    if policy not in SCRATCH_PRESETS:
        raise PolicyConfigError(f"--policy {policy} does not train from scratch")
    features = dataset_to_policy_features(meta.features)
    kwargs = {**SCRATCH_PRESETS[policy], **overrides}
    try:
        return make_policy_config(
            policy,
            device=device,
            input_features={k: f for k, f in features.items() if f.type is not FeatureType.ACTION},
            output_features={k: f for k, f in features.items() if f.type is FeatureType.ACTION},
            **kwargs,
        )
    except TypeError as exc:
        raise PolicyConfigError(f"--config for {policy}: {exc}") from None


def train(
    policy: str,
    dataset: Path,
    out: Path,
    *,
    steps: int = 1000,
    batch_size: int = 8,
    overrides: dict[str, Any] | None = None,
    device: str = "cpu",
    seed: int = 0,
    save_every: int = 0,
    log_every: int = 10,
    num_workers: int = 0,
    resume: bool = False,
    progress: Callable[[str], None] | None = None,
) -> TrainSummary:
    """Train ``policy`` on ``dataset`` up to ``steps`` steps and save to ``out``.

    ``resume``: continue the run already in ``out`` from its newest checkpoint.
    """
    if policy not in POLICIES:
        raise PolicyConfigError(f"--policy {policy!r} is not one of {list(POLICIES)}")
    if steps < 1 or batch_size < 1:
        raise ValueError("--steps and --batch-size must be at least 1")
    state = None
    if resume and policy != "openvla":
        state = find_resume_state(out, policy, dataset)
        done = int(state.record.get("steps_done", 0))
        if done >= steps:
            raise PolicyConfigError(
                f"{out} has already trained {done} steps; ask for more with --steps N (N > {done})"
            )
        if overrides and set(overrides) - {"pretrained", *ASSET_OPTIONS}:
            raise PolicyConfigError("--config cannot change a run being resumed; drop it")
        if int(state.record.get("batch_size", batch_size)) != batch_size:
            raise PolicyConfigError(
                f"{out} trained with --batch-size {state.record['batch_size']}; resume with it"
            )
        seed = int(state.record.get("seed", seed))
    elif resume:
        raise PolicyConfigError("--resume is not supported for openvla LoRA runs yet")
    else:
        check_new_output(out)
    if policy not in SCRATCH_PRESETS:
        from vla_bench_training.finetune import finetune

        return finetune(
            policy, dataset, out, steps=steps, batch_size=batch_size,
            overrides=overrides or {}, device=device, seed=seed, save_every=save_every,
            resume=state, progress=progress,
        )  # fmt: skip
    import torch
    from lerobot.policies.factory import get_policy_class, make_policy, make_pre_post_processors

    torch.manual_seed(seed)
    meta = open_dataset(dataset)
    if state is None:
        config = build_config(policy, meta, overrides or {}, device)
        model = make_policy(config, ds_meta=meta)
    else:
        from lerobot.configs import PreTrainedConfig

        config = PreTrainedConfig.from_pretrained(state.directory)
        config.device = device
        model = get_policy_class(config.type).from_pretrained(state.directory, config=config)
    preprocessor, postprocessor = make_pre_post_processors(config, dataset_stats=meta.stats)
    return fit(
        policy, model, preprocessor, postprocessor, dataset, out,
        steps=steps, batch_size=batch_size, seed=seed, save_every=save_every,
        log_every=log_every, num_workers=num_workers, resume=state, progress=progress,
    )  # fmt: skip


def fit(
    name: str,
    model: Any,
    preprocessor: Any,
    postprocessor: Any,
    dataset: Path,
    out: Path,
    *,
    steps: int,
    batch_size: int,
    seed: int = 0,
    save_every: int = 0,
    log_every: int = 10,
    num_workers: int = 0,
    pretrained: str | None = None,
    resume: ResumeState | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrainSummary:
    """LeRobot's training step (forward -> loss, clip, optimizer preset) over ``dataset``.

    ``pretrained`` names the weights a fine-tune started from (None: trained from scratch);
    ``resume`` restores optimizer, scheduler, sampler position and RNG (``model`` must already
    hold that checkpoint's weights).
    """
    import torch
    from lerobot.datasets import EpisodeAwareSampler

    config = model.config
    data = open_dataset(dataset, config)
    optimizer = config.get_optimizer_preset().build(model.get_optim_params())
    scheduler_config = config.get_scheduler_preset()
    scheduler = scheduler_config.build(optimizer, steps) if scheduler_config else None
    sampler = EpisodeAwareSampler(
        data.meta.episodes["dataset_from_index"],
        data.meta.episodes["dataset_to_index"],
        drop_n_last_frames=getattr(config, "drop_n_last_frames", 0),
        shuffle=True,
        seed=seed,
    )
    loader = torch.utils.data.DataLoader(
        data,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=len(sampler) > batch_size,
    )
    grad_clip = getattr(config.get_optimizer_preset(), "grad_clip_norm", 10.0)
    summary = TrainSummary(
        name, steps, batch_size, data.num_frames, data.num_episodes, 0.0, str(out),
        parameters=sum(p.numel() for p in model.parameters()),
        origin="trained" if pretrained is None else "finetuned", dataset=str(dataset),
        pretrained=pretrained, seed=seed,
    )  # fmt: skip
    step, epoch, offset, rng = 0, 0, 0, None
    if resume is not None:
        payload, record = resume.payload, resume.record
        optimizer.load_state_dict(payload["optimizer"])
        if scheduler is not None and payload.get("scheduler") is not None:
            scheduler.load_state_dict(payload["scheduler"])
        step, rng = int(payload["step"]), payload["torch_rng"]
        epoch, offset = int(payload["sampler"]["epoch"]), int(payload["sampler"]["start_index"])
        sampler.load_state_dict({"epoch": epoch, "start_index": offset})
        summary.losses = [tuple(x) for x in record.get("losses", [])]
        summary.checkpoints = list(record.get("checkpoints", []))
        summary.pretrained = record.get("pretrained", pretrained)
        summary.wall_s = float(record.get("wall_s", 0.0))
        summary.steps_done = step
        summary.resumed = [*record.get("resumed", []), step]
        if progress:
            progress(f"resuming {resume.directory} at step {step}")
    start = time.perf_counter() - summary.wall_s
    running: list[float] = []
    last_state: Path | None = resume.directory if resume is not None else None
    model.train()
    while step < steps:
        batches = iter(loader)  # starts an epoch (LeRobot's sampler: seed, epoch, offset)
        if rng is not None:
            # Creating the iterator draws from the RNG; restore after it, as the stopped run
            # had drawn it before its last step.
            torch.set_rng_state(rng)
            rng = None
        for batch in batches:
            offset += len(batch["index"]) if "index" in batch else batch_size
            batch = preprocessor(batch)
            loss, _ = model.forward(batch)
            if not math.isfinite(loss.item()):
                raise RuntimeError(f"loss became {loss.item()} at step {step}; lower the lr")
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            step += 1
            summary.steps_done = step
            running.append(loss.item())
            if step % log_every == 0 or step == steps:
                mean = sum(running) / len(running)
                summary.losses.append((step, mean))
                running = []
                if progress:
                    elapsed = time.perf_counter() - start
                    progress(f"step {step}/{steps} loss {mean:.4f} ({elapsed:.0f} s)")
            if save_every and step % save_every == 0 and step < steps:
                path = out / "checkpoints" / f"{step:06d}"
                _save(model, preprocessor, postprocessor, path)
                summary.checkpoints.append(str(path))
                # The loss history so far survives a run stopped before its last step, and
                # every checkpoint says how it was made.
                summary.wall_s = time.perf_counter() - start
                summary.write(path)
                summary.write(out)
                state = {"epoch": epoch, "start_index": offset}
                last_state = _save_state(path, optimizer, scheduler, state, step, last_state)
            if step >= steps:
                break
        else:
            epoch, offset = epoch + 1, 0
    summary.wall_s = time.perf_counter() - start
    model.eval()
    _save(model, preprocessor, postprocessor, out)
    summary.write(out)
    _save_state(
        out, optimizer, scheduler, {"epoch": epoch, "start_index": offset}, step, last_state
    )
    return summary


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
