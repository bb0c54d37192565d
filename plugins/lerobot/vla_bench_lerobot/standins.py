"""Local stand-ins for the Hugging Face hub files LeRobot policies fetch besides their weights.

LeRobot builds SmolVLA, π0, π0.5 and π0-FAST from hub repositories other than the checkpoint:
the SmolVLM2 config and processor (``HuggingFaceTB/SmolVLM2-500M-Video-Instruct``), the PaliGemma
tokenizer (``google/paligemma-3b-pt-224``, gated) and the FAST action tokenizer
(``lerobot/fast-action-tokenizer``, remote code). With no hub access, ``weights=random`` and the
tests use stand-ins built here from local data, in the same file formats:

* tokenizers are byte-level/byte-fallback BPE models trained with ``tokenizers`` on a small
  built-in corpus of manipulation instructions (their token ids are valid for the real
  embedding tables; their token counts for an instruction are close to, not equal to, the real
  ones);
* the PaliGemma stand-in's base vocabulary is padded with ``<unused…>`` entries to the size the
  real one has, because π0-FAST maps action tokens to the *last* ids of that vocabulary;
* the FAST tokenizer is LeRobot's own ``UniversalActionProcessor`` (DCT + BPE) fitted on smooth
  synthetic trajectories, saved with an ``auto_map`` so ``AutoProcessor(trust_remote_code=True)``
  loads it exactly as it loads the hub one.

:func:`install_in_hub_cache` lays such a directory out as a hub cache snapshot so that code which
names the official repository id (LeRobot's π0/π0.5 processors hard-code the PaliGemma id)
resolves it offline; :func:`hub_cache` points the hub client at such a cache for a block.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

SMOLVLM_REPO = "HuggingFaceTB/SmolVLM2-500M-Video-Instruct"
PALIGEMMA_REPO = "google/paligemma-3b-pt-224"
FAST_REPO = "lerobot/fast-action-tokenizer"
PALIGEMMA_VOCAB_SIZE = 257152
"""Base vocabulary of the real PaliGemma tokenizer (LeRobot hard-codes it in π0's embedding)."""

STANDIN_REVISION = "0" * 40
"""The commit hash stand-ins are filed under in a hub cache (no real commit has it)."""

_VERBS = ("turn", "pick up", "place", "push", "open", "close", "lift", "rotate", "slide", "stack")
_OBJECTS = ("valve", "red cube", "blue block", "drawer", "lid", "handle", "peg", "cup", "door")
_PLACES = ("on the table", "into the box", "to the left", "clockwise", "by ninety degrees", "")


def instruction_corpus(extra: Sequence[str] = ()) -> list[str]:
    """Sentences to train stand-in tokenizers on: instructions, prompts, digits, punctuation."""
    sentences = [
        " ".join(filter(None, (verb, "the", obj, place)))
        for verb, obj, place in itertools.product(_VERBS, _OBJECTS, _PLACES)
    ]
    sentences += [
        f"Task: {s}, State: {' '.join(str(i) for i in range(k, k + 8))};"
        for k, s in zip(range(0, 256, 8), sentences, strict=False)
    ]
    sentences += ["Action: |", "0 1 2 3 4 5 6 7 8 9", "User: Assistant: <end_of_utterance>"] * 20
    return [*sentences, *extra]


def _train_bpe(vocab_size: int, special_tokens: Sequence[str], *, gemma_style: bool) -> Any:
    """A BPE ``tokenizers.Tokenizer`` trained on :func:`instruction_corpus`.

    ``gemma_style``: SentencePiece-like (spaces become "▁", unknown bytes fall back to <0xNN>
    tokens) as Gemma's tokenizer; otherwise GPT-2-style byte-level as SmolLM2's.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    if gemma_style:
        bytes_ = [f"<0x{i:02X}>" for i in range(256)]
        tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
        tok.normalizer = normalizers.Replace(" ", "▁")
        # Train within words only, as SentencePiece does; Gemma's tokenizer has no pre-tokenizer.
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never")
        tok.decoder = decoders.Sequence(
            [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
        )
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, special_tokens=[*special_tokens, *bytes_], show_progress=False
        )
    else:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=list(special_tokens),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
    tok.train_from_iterator(instruction_corpus(), trainer=trainer)
    return tok


def smolvlm_dir(dest: Path, config: dict[str, Any]) -> Path:
    """Write a SmolVLM repository stand-in: ``config`` as config.json, plus a stand-in processor.

    The processor has SmolVLM's special tokens (SmolVLA reads the fake-image and global-image
    token ids from it) and an image processor sized to ``config``'s vision tower.
    """
    from transformers import (
        PreTrainedTokenizerFast,
        SmolVLMConfig,
        SmolVLMImageProcessor,
        SmolVLMProcessor,
    )
    from transformers.models.smolvlm.video_processing_smolvlm import SmolVLMVideoProcessor

    dest.mkdir(parents=True, exist_ok=True)
    specials = {
        "fake_image_token": "<fake_token_around_image>",
        "image_token": "<image>",
        "end_of_utterance_token": "<end_of_utterance>",
        "global_image_token": "<global-img>",
    }
    tok = _train_bpe(
        512, ["<|endoftext|>", "<|im_start|>", "<|im_end|>", *specials.values()], gemma_style=False
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<end_of_utterance>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        extra_special_tokens=specials,
    )
    text_vocab = config["text_config"]["vocab_size"]
    if len(tokenizer) > text_vocab:
        raise ValueError(
            f"stand-in tokenizer has {len(tokenizer)} tokens; the model only {text_vocab}"
        )
    vision_size = config["vision_config"]["image_size"]
    processor = SmolVLMProcessor(
        image_processor=SmolVLMImageProcessor(
            size={"longest_edge": vision_size}, max_image_size={"longest_edge": vision_size}
        ),
        tokenizer=tokenizer,
        video_processor=SmolVLMVideoProcessor(),
        image_seq_len=(vision_size // config["vision_config"]["patch_size"]) ** 2
        // config.get("scale_factor", 1) ** 2,
    )
    processor.save_pretrained(dest)
    config = {**config, "image_token_id": tokenizer.convert_tokens_to_ids("<image>")}
    SmolVLMConfig(**config).save_pretrained(dest)
    return dest


def paligemma_tokenizer_dir(dest: Path, vocab_size: int = PALIGEMMA_VOCAB_SIZE) -> Path:
    """Write a PaliGemma tokenizer stand-in whose base vocabulary has ``vocab_size`` entries.

    A config.json (PaliGemma's defaults) goes beside it, as in the real repository:
    ``AutoTokenizer`` reads it, and offline it cannot tell a missing file from an absent one.
    """
    from transformers import GemmaTokenizer, PaliGemmaConfig

    tok = _train_bpe(1024, ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"], gemma_style=True)
    model = json.loads(tok.to_str())["model"]
    vocab: dict[str, int] = dict(model["vocab"])
    if len(vocab) > vocab_size:
        raise ValueError(f"vocab_size {vocab_size} is below the trained vocabulary ({len(vocab)})")
    vocab.update({f"<unused{i}>": i for i in range(len(vocab), vocab_size)})
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    # The tokenizers backend takes merges as (left, right) pairs, whatever the annotation says.
    GemmaTokenizer(vocab=vocab, merges=merges).save_pretrained(dest)  # type: ignore[arg-type]
    PaliGemmaConfig().save_pretrained(dest)
    return dest


_FAST_MODULE = '''"""FAST action tokenizer (stand-in): LeRobot's own DCT + BPE implementation."""

from lerobot.policies.molmoact2.molmoact2_hf_model.action_tokenizer import (  # noqa: F401
    UniversalActionProcessor,
)
'''


def fast_tokenizer_dir(
    dest: Path,
    *,
    action_dim: int,
    horizon: int,
    vocab_size: int = 2048,
    scale: float = 10.0,
    samples: int = 512,
    seed: int = 0,
) -> Path:
    """Fit a FAST action tokenizer on smooth synthetic chunks and save it hub-style.

    The chunks are sums of low-frequency sinusoids in normalised units (the range LeRobot feeds
    FAST after normalising actions), so the DCT coefficients resemble real trajectories'.
    """
    from lerobot.policies.molmoact2.molmoact2_hf_model.action_tokenizer import (
        UniversalActionProcessor,
    )

    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, horizon)[:, None]
    chunks = []
    for _ in range(samples):
        freq = rng.uniform(0.1, 2.0, size=(1, action_dim))
        phase = rng.uniform(0, 2 * np.pi, size=(1, action_dim))
        amp = rng.uniform(0.05, 1.0, size=(1, action_dim))
        chunks.append(amp * np.sin(2 * np.pi * freq * t + phase))
    processor = UniversalActionProcessor.fit(
        chunks, scale=scale, vocab_size=vocab_size, time_horizon=horizon, action_dim=action_dim
    )
    dest.mkdir(parents=True, exist_ok=True)
    processor.bpe_tokenizer.save_pretrained(dest)
    (dest / "processing_action_tokenizer.py").write_text(_FAST_MODULE)
    # transformers 5's AutoTokenizer always reads a model config; offline a hub repository
    # without one fails, so the stand-in carries an empty one.
    (dest / "config.json").write_text("{}\n")
    (dest / "processor_config.json").write_text(
        json.dumps(
            {
                "auto_map": {
                    "AutoProcessor": "processing_action_tokenizer.UniversalActionProcessor"
                },
                "processor_class": "UniversalActionProcessor",
                "scale": scale,
                "vocab_size": vocab_size,
                "min_token": processor.min_token,
                "time_horizon": horizon,
                "action_dim": action_dim,
            },
            indent=2,
        )
    )
    return dest


OPTIONAL_FILES = (
    "config.json",
    "preprocessor_config.json",
    "processor_config.json",
    "video_preprocessor_config.json",
    "chat_template.json",
    "chat_template.jinja",
    "special_tokens_map.json",
    "added_tokens.json",
    "tokenizer.model",
)
"""Files transformers probes for; offline it must be told (``.no_exist``) which are absent."""


def install_in_hub_cache(repo_id: str, source: Path, cache_dir: Path) -> Path:
    """Copy ``source`` into ``cache_dir`` as the snapshot of ``repo_id`` (hub cache layout).

    Optional files the source lacks are recorded as known-absent, as the hub client does after
    an online lookup, so offline loading does not take them for files never downloaded.
    """
    repo_dir = cache_dir / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo_dir / "snapshots" / STANDIN_REVISION
    if snapshot.exists():
        shutil.rmtree(snapshot)
    shutil.copytree(source, snapshot)
    absent = repo_dir / ".no_exist" / STANDIN_REVISION
    absent.mkdir(parents=True, exist_ok=True)
    for name in OPTIONAL_FILES:
        if not (snapshot / name).exists():
            (absent / name).touch()
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(STANDIN_REVISION)
    return snapshot


@contextlib.contextmanager
def hub_cache(cache_dir: Path) -> Iterator[None]:
    """Resolve hub repository ids from ``cache_dir`` only (offline) inside the block.

    Both ``huggingface_hub`` and ``transformers`` read these two settings at call time, so code
    that names an official repository id (and offers no way to pass a path) finds the stand-in.
    """
    from huggingface_hub import constants

    saved = constants.HF_HUB_CACHE, constants.HF_HUB_OFFLINE
    constants.HF_HUB_CACHE, constants.HF_HUB_OFFLINE = str(cache_dir), True
    try:
        yield
    finally:
        constants.HF_HUB_CACHE, constants.HF_HUB_OFFLINE = saved
