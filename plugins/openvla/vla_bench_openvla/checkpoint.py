"""Published OpenVLA checkpoints: finding them and mapping their weight names onto the model.

A checkpoint is a directory (or a Hugging Face hub id fetched into the local cache) holding
``config.json`` (architecture and ``norm_stats``), ``model.safetensors`` or sharded
``model-*.safetensors`` with ``model.safetensors.index.json``, ``tokenizer.json`` and, for
fine-tunes, ``dataset_statistics.json``. Its weight names are those of the published
``OpenVLAForActionPrediction`` (timm towers, ``transformers`` Llama):

==========================================================  ================================
published name                                              native name
==========================================================  ================================
``vision_backbone.featurizer.X``                            ``featurizer.dino.X``
``vision_backbone.fused_featurizer.X``                      ``featurizer.siglip.X``
``...blocks.i.ls{1,2}.scale_factor`` (or timm's ``gamma``)  ``...blocks.i.ls{1,2}.gamma``
``projector.fc{1,2,3}.*``                                   ``projector.fc{1,2,3}.*``
``language_model.X``                                        ``llm.X``
==========================================================  ================================

The towers are timm's own modules, so their names are timm's; only LayerScale differs (the
published conversion renamed timm's ``gamma`` to ``scale_factor``).

Weights the forward pass never reads are skipped by name: each tower's last block (features
come from the second-to-last), its final ``norm``, and SigLIP's pooling head (``attn_pool``,
``fc_norm``, ``head``). Any other unknown name, a missing weight or a shape mismatch is an
error that names the tensor.

:func:`save_weights` goes the other way (:func:`published_name`), so a fine-tuned native model
is written as a checkpoint in the published layout, the skipped tensors copied from the
checkpoint it started from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import torch

from vla_bench_openvla.config import OpenVLAConfig
from vla_bench_openvla.model import OpenVLAModel

HUB_FILES = (
    "config.json",
    "preprocessor_config.json",
    "dataset_statistics.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "model.safetensors",
    "model-*.safetensors",
    "model.safetensors.index.json",
)
"""What a hub download fetches (not the remote code, not the PyTorch ``.bin`` duplicates)."""

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_TOWERS = {"featurizer": "dino", "fused_featurizer": "siglip"}
_PUBLISHED_TOWERS = {native: published for published, native in _TOWERS.items()}
_BLOCK = re.compile(r"blocks\.(\d+)\.(.+)")
_BLOCK_PARAMS = re.compile(
    r"(norm1|norm2|attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.(weight|bias)|ls[12]\.gamma"
)
_TOWER_UNUSED = re.compile(r"(norm|fc_norm|head|attn_pool)(\..+)?")


class CheckpointError(ValueError):
    """A checkpoint's weights do not fit the architecture its config describes."""


def resolve(reference: str, revision: str | None = None) -> Path:
    """A local checkpoint directory for a path or a hub id (downloaded into the HF cache).

    With ``HF_HUB_OFFLINE=1`` a hub id resolves only if it is already cached.
    """
    path = Path(reference).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise FileNotFoundError(f"checkpoint {reference!r} is a file; pass its directory")
    if not _HUB_ID.fullmatch(reference):
        raise FileNotFoundError(
            f"checkpoint {reference!r} is neither a directory nor a hub id like "
            f"'openvla/openvla-7b'"
        )
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(reference, revision=revision, allow_patterns=list(HUB_FILES)))
    except Exception as exc:  # offline, unknown repo, gated, network: one actionable message
        raise FileNotFoundError(
            f"could not fetch {reference!r} from the Hugging Face hub "
            f"({type(exc).__name__}: {exc}). Without network access (or with "
            f"HF_HUB_OFFLINE=1) download it elsewhere (hf download {reference}) and pass "
            f"checkpoint=<that directory>"
        ) from exc


def native_name(name: str, config: OpenVLAConfig) -> str | None:
    """The native parameter name for a published weight name; None for a known-unused one."""
    if name.startswith("language_model."):
        return "llm." + name.removeprefix("language_model.")
    if re.fullmatch(r"projector\.fc[123]\.(weight|bias)", name):
        return name
    parts = name.split(".", 2)
    if len(parts) == 3 and parts[0] == "vision_backbone" and parts[1] in _TOWERS:
        tower = _TOWERS[parts[1]]
        spec = config.towers[0 if tower == "dino" else 1]
        rest = parts[2]
        prefix = f"featurizer.{tower}."
        if rest in ("cls_token", "reg_token", "pos_embed", "patch_embed.proj.weight",
                    "patch_embed.proj.bias"):  # fmt: skip
            return prefix + rest
        if _TOWER_UNUSED.fullmatch(rest):
            return None
        block = _BLOCK.fullmatch(rest)
        if block:
            index, param = int(block.group(1)), block.group(2)
            param = re.sub(r"^(ls[12])\.scale_factor$", r"\1.gamma", param)
            if index == spec.depth - 1:
                return None
            if index < spec.depth - 1 and _BLOCK_PARAMS.fullmatch(param):
                return f"{prefix}blocks.{index}.{param}"
    raise CheckpointError(
        f"unexpected weight {name!r} in the checkpoint: not part of OpenVLA's architecture "
        f"as config.json describes it (towers of depth {config.towers[0].depth} and "
        f"{config.towers[1].depth})"
    )


def published_name(name: str) -> str:
    """The published weight name for a native parameter name (the inverse of
    :func:`native_name`; LayerScale is written ``scale_factor``, as the published files have it)."""
    if name.startswith("llm."):
        return "language_model." + name.removeprefix("llm.")
    if re.fullmatch(r"projector\.fc[123]\.(weight|bias)", name):
        return name
    parts = name.split(".", 2)
    if len(parts) == 3 and parts[0] == "featurizer" and parts[1] in _PUBLISHED_TOWERS:
        rest = re.sub(r"\.(ls[12])\.gamma$", r".\1.scale_factor", parts[2])
        return f"vision_backbone.{_PUBLISHED_TOWERS[parts[1]]}.{rest}"
    raise CheckpointError(f"parameter {name!r} is not part of the native OpenVLA model")


def weight_files(directory: Path) -> list[Path]:
    """The safetensors files of a checkpoint, in shard order."""
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        missing = [s for s in shards if not (directory / s).is_file()]
        if missing:
            raise FileNotFoundError(f"{directory} lacks weight shards {missing} named in {index}")
        return [directory / s for s in shards]
    single = directory / "model.safetensors"
    if single.is_file():
        return [single]
    found = sorted(directory.glob("*.safetensors"))
    if found:
        return found
    hint = (
        " (only PyTorch .bin weights: convert them to safetensors)"
        if any(directory.glob("*.bin"))
        else ""
    )
    raise FileNotFoundError(f"{directory} holds no *.safetensors weights{hint}")


def iter_weights(directory: Path) -> Iterator[tuple[str, torch.Tensor]]:
    """(published name, CPU tensor) for every weight, one tensor in memory at a time."""
    from safetensors import safe_open

    for path in weight_files(directory):
        with safe_open(str(path), framework="pt", device="cpu") as f:
            for name in f.keys():  # noqa: SIM118 - safe_open is not a Mapping
                yield name, f.get_tensor(name)


@torch.no_grad()
def load_weights(model: OpenVLAModel, directory: Path) -> dict[str, int]:
    """Copy a checkpoint's weights into ``model`` (cast to its dtype); returns counts.

    Every native parameter must be filled exactly once.
    """
    params = dict(model.named_parameters())
    filled: set[str] = set()
    skipped = 0
    for name, tensor in iter_weights(directory):
        target_name = native_name(name, model.config)
        if target_name is None:
            skipped += 1
            continue
        target = params.get(target_name)
        if target is None:
            raise CheckpointError(f"weight {name!r} maps to {target_name!r}, which the model lacks")
        if tuple(tensor.shape) != tuple(target.shape):
            raise CheckpointError(
                f"weight {name!r} has shape {tuple(tensor.shape)}; the architecture in "
                f"config.json needs {tuple(target.shape)} for {target_name!r}"
            )
        if target_name in filled:
            raise CheckpointError(f"weight {target_name!r} appears twice in the checkpoint")
        target.copy_(tensor)  # to the model's device and dtype, without a second full copy
        filled.add(target_name)
    missing = sorted(set(params) - filled)
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise CheckpointError(f"the checkpoint in {directory} lacks weights for {shown}")
    return {"loaded": len(filled), "skipped": skipped}


SHARD_BYTES = 5 * 1024**3
"""Largest weight file :func:`save_weights` writes (what ``transformers`` shards at by default)."""


@torch.no_grad()
def save_weights(
    model: OpenVLAModel,
    directory: Path,
    *,
    source: Path | None = None,
    dtype: torch.dtype | None = None,
    shard_bytes: int = SHARD_BYTES,
) -> list[Path]:
    """Write ``model``'s weights into ``directory`` under their published names.

    ``source`` is the checkpoint the model was loaded from: the tensors the native model does
    not hold (each tower's last block, final norm, SigLIP's pooling head) are copied from it
    unchanged, so the result is complete in the published layout. ``dtype`` casts floating
    tensors (e.g. back to the pretrained bfloat16). Above ``shard_bytes`` the weights go into
    ``model-0000i-of-0000n.safetensors`` with a ``model.safetensors.index.json``, as the
    published checkpoints are; otherwise into one ``model.safetensors``. Returns the files.
    """
    from safetensors.torch import save_file

    def tensors() -> Iterator[tuple[str, torch.Tensor]]:
        for name, param in model.named_parameters():
            published = published_name(name)
            if native_name(published, model.config) != name:  # both maps must agree
                raise CheckpointError(f"{name!r} does not round-trip through {published!r}")
            yield published, param.detach()
        if source is not None:
            for name, tensor in iter_weights(source):
                if native_name(name, model.config) is None:
                    yield name, tensor

    directory.mkdir(parents=True, exist_ok=True)
    # A shard is written as soon as it is full (one shard in CPU memory at a time, never the
    # whole model twice) under a temporary name, renamed once the shard count is known.
    written: list[tuple[Path, list[str], int]] = []
    shard: dict[str, torch.Tensor] = {}
    size = 0

    def flush() -> None:
        nonlocal shard, size
        if shard:
            path = directory / f".shard-{len(written):05d}.safetensors"
            save_file(shard, str(path), metadata={"format": "pt"})
            written.append((path, list(shard), size))
        shard, size = {}, 0

    for name, tensor in tensors():
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        nbytes = tensor.numel() * tensor.element_size()
        if shard and size + nbytes > shard_bytes:
            flush()
        shard[name] = tensor.to("cpu").contiguous()
        size += nbytes
    flush()
    if len(written) == 1:
        return [written[0][0].rename(directory / "model.safetensors")]
    paths, weight_map = [], {}
    for i, (path, names, _) in enumerate(written, start=1):
        final = path.rename(directory / f"model-{i:05d}-of-{len(written):05d}.safetensors")
        paths.append(final)
        weight_map.update(dict.fromkeys(names, final.name))
    index = {
        "metadata": {"total_size": sum(nbytes for *_, nbytes in written)},
        "weight_map": weight_map,
    }
    (directory / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    return paths
