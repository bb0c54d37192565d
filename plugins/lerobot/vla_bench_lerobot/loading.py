"""Building a LeRobot policy and its pre/post processors: from a checkpoint, or at random.

Checkpoints load through LeRobot's own ``from_pretrained`` for the policy and for its saved
processor pipelines, so the normalisation statistics come with the checkpoint. LeRobot skips
normalisation silently for a feature that has no statistics; :func:`check_stats` refuses such a
checkpoint instead. A hub id is resolved from the local hub cache or downloaded; if the hub is
unreachable the error says so at once and asks for a local directory.

How many actions of a chunk run, and ACT's temporal ensembling, are set on the LeRobot config
before the model is built (:func:`apply_execution`), as ``lerobot-eval``'s ``--policy.*``
overrides do, so the model predicts what the run executes. Every problem a user can fix raises
:class:`harness.contract.PolicyConfigError` (or :class:`CheckpointError`, one of them).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.checkpoints import (
    ContentDigest,
    TrainingRecord,
    checkpoint_files,
    content_digest,
    find_training_record,
)
from harness.contract import PolicyConfigError
from vla_bench_lerobot.adapter import task_features
from vla_bench_lerobot.backends import BACKENDS, SMOLVLM2_500M_CONFIG, Backend
from vla_bench_lerobot.standins import (
    FAST_REPO,
    PALIGEMMA_REPO,
    SMOLVLM_REPO,
    fast_tokenizer_dir,
    hub_cache,
    install_in_hub_cache,
    paligemma_tokenizer_dir,
    smolvlm_dir,
)

PREPROCESSOR_FILE = "policy_preprocessor.json"
POSTPROCESSOR_FILE = "policy_postprocessor.json"
CHECKPOINT_FILES = ("config.json", "model.safetensors", "*.json", "*.safetensors")
STATS_NEEDED = {
    "MEAN_STD": ("mean", "std"),
    "MIN_MAX": ("min", "max"),
    "QUANTILES": ("q01", "q99"),
    "QUANTILE10": ("q10", "q90"),
}
DTYPES = ("float32", "bfloat16")
logger = logging.getLogger(__name__)


WEIGHT_FILES = ("config.json", "*.safetensors", PREPROCESSOR_FILE, POSTPROCESSOR_FILE)
"""What ``weights_digest`` covers: the config, the weights and the processors with their saved
statistics (``*.safetensors`` holds both), everything that decides a checkpoint's actions."""


class CheckpointError(PolicyConfigError):
    """A checkpoint cannot be used: not found, unreachable, incomplete or without statistics."""


@dataclass
class Built:
    """A ready policy: the LeRobot module, its processors, and where it came from."""

    policy: Any
    preprocessor: Any
    postprocessor: Any
    source: str
    weights: str
    notes: dict[str, Any] = field(default_factory=dict)
    training: TrainingRecord | None = None
    """How ``bench train`` made the checkpoint (None: it did not)."""
    digest: ContentDigest | None = None
    """The checkpoint's files by content (None for weights built in memory)."""

    @property
    def config(self) -> Any:
        """The LeRobot policy config."""
        return self.policy.config


def check_device(device: str) -> str:
    """``device`` if torch can use it here, else an error that says what to pass instead."""
    import torch

    kind = device.split(":")[0]
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }
    if kind not in available:
        raise PolicyConfigError(f"device {device!r} is not one of cpu, cuda, cuda:N, mps")
    if not available[kind]:
        raise PolicyConfigError(
            f"device {device!r} is not available on this machine; pass device=cpu "
            f"(available: {[k for k, ok in available.items() if ok]})"
        )
    return device


def resolve_checkpoint(reference: str) -> Path:
    """A local directory for ``reference``: the directory itself, or a hub id's snapshot."""
    path = Path(reference).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise CheckpointError(
                f"{path} has no config.json; a LeRobot checkpoint directory holds config.json, "
                f"model.safetensors and {PREPROCESSOR_FILE} (policy.save_pretrained + "
                f"preprocessor.save_pretrained)"
            )
        return path
    looks_like_hub_id = reference.count("/") == 1 and not reference.startswith((".", "/", "~"))
    if not looks_like_hub_id:
        raise CheckpointError(
            f"checkpoint {reference!r}: no such directory; pass checkpoint=<a LeRobot checkpoint "
            f"directory (config.json, model.safetensors, {PREPROCESSOR_FILE})> or a hub id"
        )
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    try:
        return Path(snapshot_download(reference, allow_patterns=list(CHECKPOINT_FILES)))
    except (RepositoryNotFoundError, GatedRepoError) as exc:
        raise CheckpointError(
            f"checkpoint {reference!r} is not an accessible Hugging Face hub repository "
            f"({type(exc).__name__}); check the id, or pass checkpoint=<local dir>"
        ) from None
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        raise CheckpointError(
            f"checkpoint {reference!r} is not in the local hub cache and the Hugging Face hub "
            f"is unreachable ({_first_line(exc)}). Download it where the hub is reachable "
            f"(`hf download {reference} --local-dir DIR`) and pass checkpoint=DIR"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def check_stats(preprocessor: Any, postprocessor: Any, where: str) -> None:
    """Refuse processors whose (un)normaliser lacks statistics for a feature it must scale."""
    from lerobot.processor import NormalizerProcessorStep, UnnormalizerProcessorStep

    steps = [
        step
        for pipeline in (preprocessor, postprocessor)
        for step in pipeline.steps
        if isinstance(step, NormalizerProcessorStep | UnnormalizerProcessorStep)
    ]
    if not steps:
        raise CheckpointError(
            f"{where}: its processors have no normaliser step, so nothing would scale the "
            f"policy's inputs and outputs; re-save the checkpoint with LeRobot >= 0.4"
        )
    missing = []
    for step in steps:
        stats = step.stats or {}
        for key, feature in step.features.items():
            mode = step.norm_map.get(feature.type)
            needed = STATS_NEEDED.get(getattr(mode, "name", ""), ())
            absent = [s for s in needed if s not in stats.get(key, {})]
            if absent:
                missing.append(f"{key} ({mode.name} needs {', '.join(absent)})")
    if missing:
        raise CheckpointError(
            f"{where} has no normalisation statistics for {sorted(set(missing))}. LeRobot would "
            f"silently feed the raw values to the policy. Save the checkpoint's processors with "
            f"the training dataset's stats, or pass stats=<stats.json> (dataset meta/stats.json)"
        )


def _load_stats(path: str) -> dict[str, dict[str, Any]]:
    """A LeRobot ``meta/stats.json`` (feature -> stat -> list) as nested lists."""
    try:
        data = json.loads(Path(path).expanduser().read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"stats={path}: cannot read it as JSON ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise CheckpointError(f"stats={path}: expected {{feature: {{stat: values}}}}")
    return data


def _step_names(directory: Path, filename: str) -> set[str]:
    config = json.loads((directory / filename).read_text())
    return {s.get("registry_name") or s.get("class", "") for s in config.get("steps", [])}


def load_pretrained(
    backend: Backend, reference: str, device: str, dtype: str | None, options: dict[str, str]
) -> Built:
    """Load a LeRobot checkpoint (policy + saved processors) and check its statistics."""
    from lerobot.configs import PreTrainedConfig
    from lerobot.policies.factory import get_policy_class, make_pre_post_processors

    directory = resolve_checkpoint(reference)
    for name in (PREPROCESSOR_FILE, POSTPROCESSOR_FILE):
        if not (directory / name).is_file():
            raise CheckpointError(
                f"{reference} has no {name}: it predates LeRobot's saved processors (< 0.4), so "
                f"its normalisation stats cannot be loaded safely. Convert it with "
                f"`python -m lerobot.processor.migrate_policy_normalization --pretrained-path "
                f"{directory}` and pass the converted directory"
            )
    config = PreTrainedConfig.from_pretrained(directory)
    if backend.policy_type is not None and config.type != backend.policy_type:
        other = next((b.name for b in BACKENDS.values() if b.policy_type == config.type), "lerobot")
        raise CheckpointError(
            f"{reference} is a LeRobot {config.type!r} checkpoint, not {backend.policy_type!r}; "
            f"use --policy {other}"
        )
    config.device = device
    config.pretrained_path = directory
    _apply_dtype(config, dtype)
    apply_execution(config, options)
    pre_overrides: dict[str, dict[str, Any]] = {"device_processor": {"device": device}}
    post_overrides: dict[str, dict[str, Any]] = {}
    steps = _step_names(directory, PREPROCESSOR_FILE)
    _apply_asset_options(config, options, steps, pre_overrides)
    if "stats" in options:
        stats = _load_stats(options["stats"])
        pre_overrides["normalizer_processor"] = {"stats": stats}
        post_overrides["unnormalizer_processor"] = {"stats": stats}
    if getattr(config, "load_vlm_weights", False):
        # The checkpoint holds the VLM weights; fetching the base VLM's first is wasted work.
        config.load_vlm_weights = False
    try:
        with _quiet():
            policy = get_policy_class(config.type).from_pretrained(directory, config=config)
        preprocessor, postprocessor = make_pre_post_processors(
            config,
            pretrained_path=str(directory),
            preprocessor_overrides={k: v for k, v in pre_overrides.items() if k in steps},
            postprocessor_overrides=post_overrides,
        )
    except OSError as exc:
        raise CheckpointError(_asset_hint(reference, config.type, exc)) from exc
    check_stats(preprocessor, postprocessor, reference)
    policy.eval()
    # A training.json that exists but is corrupt raises: never "pretrained" by accident.
    record = find_training_record(directory)
    weights, notes = "pretrained", {}
    if record is not None:
        weights, notes = record.origin, {"training": record.summary()}
    digest = content_digest(directory, checkpoint_files(directory, WEIGHT_FILES))
    return Built(
        policy, preprocessor, postprocessor, reference, weights, notes, training=record,
        digest=digest,
    )  # fmt: skip


def positive_int_option(options: dict[str, str], key: str) -> int | None:
    """``options[key]`` as a whole number >= 1 (None when absent), or a PolicyConfigError."""
    if key not in options:
        return None
    try:
        value = int(options[key])
    except ValueError:
        value = 0
    if value < 1:
        raise PolicyConfigError(f"{key}={options[key]!r} must be a whole number >= 1")
    return value


def max_action_steps(config: Any) -> int:
    """How many actions one model call can supply: the chunk, or for Diffusion Policy the
    horizon after the observation steps (``horizon - n_obs_steps + 1``)."""
    if hasattr(config, "horizon"):
        return int(config.horizon) - int(config.n_obs_steps) + 1
    return int(getattr(config, "chunk_size", config.n_action_steps))


def apply_execution(config: Any, options: dict[str, str]) -> None:
    """Set ``n_action_steps`` and ACT's ``temporal_ensemble_coeff`` from ``options`` on the
    LeRobot config before the model is built, and refuse what the model cannot do.

    Temporal ensembling (ACT) averages the overlapping predictions of successive chunks, so it
    needs a model call on every step: ``n_action_steps`` is 1 with it.
    """
    if "temporal_ensemble_coeff" in options:
        if config.type != "act":
            raise PolicyConfigError(
                f"temporal_ensemble_coeff applies to ACT checkpoints, not {config.type}"
            )
        raw = options["temporal_ensemble_coeff"].strip().lower()
        try:
            config.temporal_ensemble_coeff = None if raw in ("none", "") else float(raw)
        except ValueError:
            raise PolicyConfigError(
                f"temporal_ensemble_coeff={raw!r} must be a number (0.01 in ACT's paper) or none"
            ) from None
    steps = positive_int_option(options, "n_action_steps")
    if getattr(config, "temporal_ensemble_coeff", None) is not None:
        if steps not in (None, 1):
            raise PolicyConfigError(
                f"n_action_steps={steps}: ACT with temporal ensembling (coefficient "
                f"{config.temporal_ensemble_coeff}) executes one action per model call; drop "
                f"n_action_steps or pass temporal_ensemble_coeff=none"
            )
        config.n_action_steps = 1
        return
    if steps is None:
        return
    limit = max_action_steps(config)
    if steps > limit:
        raise PolicyConfigError(
            f"n_action_steps={steps} is more than the {limit} actions one {config.type} call "
            f"predicts with this checkpoint; pass n_action_steps=1..{limit}"
        )
    config.n_action_steps = steps


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Route LeRobot's loading chatter (``print`` banners) to the debug log, off stdout."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    finally:
        if buffer.getvalue().strip():
            logger.debug("lerobot: %s", buffer.getvalue().strip())


def _apply_dtype(config: Any, dtype: str | None) -> None:
    if dtype is None:
        return
    if dtype not in DTYPES:
        raise PolicyConfigError(f"dtype {dtype!r} is not one of {DTYPES}")
    if hasattr(config, "dtype"):  # the π family keeps its precision in the config
        config.dtype = dtype
    elif dtype != "float32":
        raise PolicyConfigError(
            f"LeRobot 0.6.1's {config.type} policy runs in float32 only; pass dtype=float32"
        )


def _apply_asset_options(
    config: Any, options: dict[str, str], steps: set[str], overrides: dict[str, dict[str, Any]]
) -> None:
    """Point LeRobot at local copies of the tokenizers/VLM config it would fetch from the hub."""
    if "vlm" in options:
        if not hasattr(config, "vlm_model_name"):
            raise PolicyConfigError(f"vlm= applies to smolvla checkpoints, not {config.type}")
        config.vlm_model_name = options["vlm"]
        overrides["tokenizer_processor"] = {"tokenizer_name": options["vlm"]}
    if "tokenizer" in options:
        overrides["tokenizer_processor"] = {"tokenizer_name": options["tokenizer"]}
        if hasattr(config, "text_tokenizer_name"):
            config.text_tokenizer_name = options["tokenizer"]
        if "action_tokenizer_processor" in steps:
            overrides.setdefault("action_tokenizer_processor", {})["paligemma_tokenizer_name"] = (
                options["tokenizer"]
            )
    if "action_tokenizer" in options:
        if not hasattr(config, "action_tokenizer_name"):
            raise PolicyConfigError(
                f"action_tokenizer= applies to pi0fast checkpoints, not {config.type}"
            )
        config.action_tokenizer_name = options["action_tokenizer"]
        if "action_tokenizer_processor" in steps:
            overrides.setdefault("action_tokenizer_processor", {})["action_tokenizer_name"] = (
                options["action_tokenizer"]
            )


def _asset_hint(reference: str, policy_type: str, exc: OSError) -> str:
    option = {
        "smolvla": f"vlm=<local copy of {SMOLVLM_REPO}>",
        "pi0": f"tokenizer=<local copy of {PALIGEMMA_REPO}>",
        "pi05": f"tokenizer=<local copy of {PALIGEMMA_REPO}>",
        "pi0_fast": f"tokenizer=<local {PALIGEMMA_REPO}>,action_tokenizer=<local {FAST_REPO}>",
    }.get(policy_type, "a local copy of the files it names")
    return (
        f"{reference}: LeRobot needs files beyond the checkpoint (tokenizer or VLM config) that "
        f"are neither local nor reachable on the Hugging Face hub ({_first_line(exc)}). "
        f"Pass {option}"
    )


# -- weights=random ------------------------------------------------------------------------


def standin_cache_dir() -> Path:
    """Where stand-in tokenizers for ``weights=random`` are built once and kept."""
    root = os.environ.get("VLA_BENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vla-bench"
    )
    return Path(root) / "lerobot-standins"


STANDIN_BUILDERS: dict[str, Callable[[Path], Path]] = {
    "smolvlm": lambda d: smolvlm_dir(d, SMOLVLM2_500M_CONFIG),
    "paligemma": paligemma_tokenizer_dir,
    "fast": lambda d: fast_tokenizer_dir(d, action_dim=7, horizon=10),
}
"""How each stand-in asset is built (see :mod:`vla_bench_lerobot.standins`)."""


def ensure_standins(root: Path, assets: tuple[str, ...]) -> dict[str, Path]:
    """The stand-in directories ``assets`` name, under ``root`` (built once, kept)."""
    import tempfile

    out = {}
    for asset in assets:
        target = root / asset
        if not target.is_dir():
            root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=root) as tmp:
                built = STANDIN_BUILDERS[asset](Path(tmp) / asset)
                built.rename(target)  # whole or not at all: a killed build leaves nothing
        out[asset] = target
    return out


def _point_at_standins(config: Any, dirs: dict[str, Path]) -> None:
    """Name the local stand-in directories in the config fields LeRobot loads hub files from
    (an explicit path needs no hub and no cache)."""
    if "smolvlm" in dirs:
        config.vlm_model_name = str(dirs["smolvlm"])
    if "fast" in dirs:
        config.action_tokenizer_name = str(dirs["fast"])
    if "paligemma" in dirs and hasattr(config, "text_tokenizer_name"):
        config.text_tokenizer_name = str(dirs["paligemma"])


def _make_processors(config: Any, stats: Any, dirs: dict[str, Path], root: Path) -> Any:
    """LeRobot's processors for ``config``, built from the local stand-ins.

    LeRobot 0.6.1's π0 and π0.5 processor factories name the PaliGemma tokenizer by its hub id
    in code, with no argument to pass a path, and the hub client reads its cache location and
    offline flag once, at import. For those two only, the stand-in is filed under that id in a
    hub-cache layout and the client is pointed at it while the processors are built.
    """
    from lerobot.policies.factory import make_pre_post_processors

    if config.type not in ("pi0", "pi05"):
        return make_pre_post_processors(config, dataset_stats=stats)
    hub = root / "hub"
    if not (hub / f"models--{PALIGEMMA_REPO.replace('/', '--')}" / "refs" / "main").is_file():
        install_in_hub_cache(PALIGEMMA_REPO, dirs["paligemma"], hub)
    with hub_cache(hub):
        return make_pre_post_processors(config, dataset_stats=stats)


@contextlib.contextmanager
def _default_dtype(dtype: str | None) -> Iterator[None]:
    """Allocate new parameters in ``dtype``: a 3B π model built in bfloat16 never exists in
    float32 (LeRobot otherwise builds in float32 and casts, doubling the peak)."""
    import torch

    saved = torch.get_default_dtype()
    if dtype == "bfloat16":
        torch.set_default_dtype(torch.bfloat16)
    try:
        yield
    finally:
        torch.set_default_dtype(saved)


def _restore_float32_heads(policy: Any, dtype: str | None) -> None:
    """Give back float32 to what LeRobot keeps in float32 around a bfloat16 PaliGemma.

    LeRobot casts only ``paligemma_with_expert`` (and, inside it, keeps the vision path in
    float32); the projections around it stay float32 and are fed float32 inputs.
    """
    if dtype != "bfloat16":
        return
    model = getattr(policy, "model", None)
    if model is None or not hasattr(model, "paligemma_with_expert"):
        return
    for name, child in model.named_children():
        if name != "paligemma_with_expert":
            child.float()
    with contextlib.suppress(ValueError):
        model.paligemma_with_expert.to_bfloat16_for_selected_params("bfloat16")


def neutral_stats(config: Any) -> dict[str, dict[str, Any]]:
    """Statistics that make every (un)normalisation the identity, for random weights."""
    import torch

    stats: dict[str, dict[str, Any]] = {}
    for key, feature in {**config.input_features, **config.output_features}.items():
        shape = (feature.shape[0], 1, 1) if feature.type.name == "VISUAL" else tuple(feature.shape)
        zeros, ones = torch.zeros(shape), torch.ones(shape)
        stats[key] = {
            "mean": zeros,
            "std": ones,
            "min": -ones,
            "max": ones,
            "q01": -ones,
            "q99": ones,
            "q10": -ones,
            "q90": ones,
        }
    return stats


def build_random(
    backend: Backend,
    task: Any,
    device: str,
    dtype: str | None,
    overrides: dict[str, Any] | None = None,
    standins: Path | None = None,
    stats: dict[str, dict[str, Any]] | None = None,
    options: dict[str, str] | None = None,
) -> Built:
    """The backend's architecture at full size (or with ``overrides``), randomly initialised.

    Features come from ``task`` (its cameras, state and action widths), statistics are
    ``stats`` or neutral, and hub files LeRobot would fetch come from stand-ins
    (:mod:`standins`) built in ``standins`` (default :func:`standin_cache_dir`). ``options``
    are the policy's (``n_action_steps``, ``temporal_ensemble_coeff``).
    """
    from lerobot.configs import FeatureType, PolicyFeature
    from lerobot.policies.factory import get_policy_class, make_policy_config

    if backend.random_config is None:
        raise PolicyConfigError(
            f"weights=random needs a named architecture; --policy {backend.name} has none "
            f"(use one of {sorted(n for n, b in BACKENDS.items() if b.random_config)})"
        )
    features = {
        key: PolicyFeature(type=FeatureType[kind], shape=shape)
        for key, (kind, shape) in task_features(task).items()
    }
    kwargs = {**backend.random_config, **(overrides or {})}
    config = make_policy_config(
        backend.policy_type,
        device=device,
        input_features={k: f for k, f in features.items() if f.type is not FeatureType.ACTION},
        output_features={k: f for k, f in features.items() if f.type is FeatureType.ACTION},
        **kwargs,
    )
    _apply_dtype(config, dtype)
    apply_execution(config, options or {})
    root = standins or standin_cache_dir()
    dirs = ensure_standins(root, backend.hub_assets)
    _point_at_standins(config, dirs)
    with _default_dtype(dtype), _quiet():
        policy = get_policy_class(config.type)(config)
    preprocessor, postprocessor = _make_processors(
        config, stats if stats is not None else neutral_stats(config), dirs, root
    )
    _restore_float32_heads(policy, dtype)
    policy.to(device)
    policy.eval()
    check_stats(preprocessor, postprocessor, f"{backend.name} (random weights)")
    params = sum(p.numel() for p in policy.parameters())
    return Built(
        policy,
        preprocessor,
        postprocessor,
        source=f"random:{backend.name}",
        weights="random",
        notes={"parameters": params, "tokenizers": "stand-in" if backend.hub_assets else None},
    )


def save_checkpoint(built: Built, directory: Path) -> Path:
    """Save policy, config and processors (with their stats) as a LeRobot checkpoint."""
    directory.mkdir(parents=True, exist_ok=True)
    built.policy.save_pretrained(directory)
    built.preprocessor.save_pretrained(directory)
    built.postprocessor.save_pretrained(directory)
    return directory
