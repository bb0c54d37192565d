"""Tiny, randomly initialised BLIP-2 and LLaVA checkpoints, built locally (no hub access).

They have the real architectures (``Blip2ForConditionalGeneration`` with an OPT decoder,
``LlavaForConditionalGeneration`` with a CLIP vision tower and a Llama decoder) at a few
thousand parameters, a word-level tokenizer whose vocabulary holds the keyword rules' words,
numbers and directions, and real processors, saved with ``save_pretrained`` so the judges
load them through the same ``from_pretrained`` code as a hub checkpoint. Their answers are
random but deterministic: they test the plumbing and measure overheads, never quality::

    python -m vla_bench_rewards.tiny blip2 /tmp/tiny-blip2
    bench judge --judge blip2 --judge-args checkpoint=/tmp/tiny-blip2 --runs RUN --probe pole_angle
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vla_bench_rewards.judges.keyword import RULES

IMAGE_SIZE = 32
PATCH = 8
HIDDEN = 32
QUERY_TOKENS = 4
SPECIALS = ("<pad>", "<s>", "</s>", "<unk>", "<image>")

_WORD_LIST = (
    "the a is of and to in at it this lander shuttle pole cart flags ground surface snow "
    "left right up down leaning tilted upright degrees degree yes no not success landed "
    "flying falling stable center middle inside within on outside away near far between "
    "moon space purple yellow black white image picture shows there game screen "
)
_WORDS = tuple(_WORD_LIST.split())


def vocabulary() -> list[str]:
    """Special tokens, then words (the rules' among them), then the numbers 0..90."""
    words = [*(w for keys, _ in RULES for w in keys), *_WORDS, *(str(n) for n in range(91))]
    out = list(SPECIALS)
    for word in words:
        if word not in out:
            out.append(word)
    return out


def tokenizer(*, image_token: bool = True) -> Any:
    """A word-level fast tokenizer over :func:`vocabulary` (unknown words -> ``<unk>``).

    ``image_token``: declare ``<image>`` as the tokenizer's image token (LLaVA's processor
    reads it); BLIP-2's processor registers it itself and needs it undeclared.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {word: i for i, word in enumerate(vocabulary())}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        extra_special_tokens={"image_token": "<image>"} if image_token else {},
    )


def _seeded(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


def _save(model: Any, processor: Any, dest: Path, ids: dict[str, int]) -> Path:
    """Save both; the generation config keeps the random decoder off its special tokens,
    which it would otherwise repeat (a real checkpoint learned not to)."""
    model.config.vla_bench_weights = "random"  # read by HFJudge.describe: never ranked
    model.generation_config.suppress_tokens = [ids[t] for t in ("<pad>", "<s>", "<unk>", "<image>")]
    model.generation_config.eos_token_id = ids["</s>"]
    model.generation_config.pad_token_id = ids["<pad>"]
    model.save_pretrained(dest)
    processor.save_pretrained(dest)
    return dest


def build_blip2(dest: Path, seed: int = 0) -> Path:
    """Save a tiny BLIP-2 (ViT + Q-Former + OPT) and its processor to ``dest``."""
    from transformers import (
        Blip2Config,
        Blip2ForConditionalGeneration,
        Blip2Processor,
        BlipImageProcessor,
    )

    tok = tokenizer(image_token=False)
    ids = {name: tok.convert_tokens_to_ids(name) for name in SPECIALS}
    settings: dict[str, Any] = dict(
        vision_config={
            "hidden_size": HIDDEN,
            "intermediate_size": 2 * HIDDEN,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": IMAGE_SIZE,
            "patch_size": PATCH,
        },
        qformer_config={
            "hidden_size": HIDDEN,
            "intermediate_size": 2 * HIDDEN,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "encoder_hidden_size": HIDDEN,
        },
        text_config={
            "model_type": "opt",
            "vocab_size": len(tok),
            "hidden_size": HIDDEN,
            "ffn_dim": 2 * HIDDEN,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "word_embed_proj_dim": HIDDEN,
            "max_position_embeddings": 256,
            "pad_token_id": ids["<pad>"],
            "bos_token_id": ids["<s>"],
            "eos_token_id": ids["</s>"],
        },
        num_query_tokens=QUERY_TOKENS,
        image_token_index=ids["<image>"],
    )
    config = Blip2Config(**settings)
    _seeded(seed)
    model = Blip2ForConditionalGeneration(config).eval()
    processor = Blip2Processor(
        image_processor=BlipImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}),
        tokenizer=tok,
        num_query_tokens=QUERY_TOKENS,
    )
    return _save(model, processor, dest, ids)


LLAVA_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}USER: "
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}<image>\n"
    "{% else %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %} ASSISTANT:{% endif %}"
)
"""LLaVA-1.5's prompt format as a chat template (the llava-hf checkpoints ship one alike)."""


def build_llava(dest: Path, seed: int = 0) -> Path:
    """Save a tiny LLaVA-1.5 (CLIP ViT + projector + Llama) and its processor to ``dest``."""
    from transformers import (
        CLIPImageProcessor,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    tok = tokenizer()
    ids = {name: tok.convert_tokens_to_ids(name) for name in SPECIALS}
    patches = (IMAGE_SIZE // PATCH) ** 2
    settings: dict[str, Any] = dict(
        vision_config={
            "model_type": "clip_vision_model",
            "hidden_size": HIDDEN,
            "intermediate_size": 2 * HIDDEN,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": IMAGE_SIZE,
            "patch_size": PATCH,
            "projection_dim": HIDDEN,
        },
        text_config={
            "model_type": "llama",
            "vocab_size": len(tok),
            "hidden_size": HIDDEN,
            "intermediate_size": 2 * HIDDEN,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "max_position_embeddings": 256,
            "pad_token_id": ids["<pad>"],
            "bos_token_id": ids["<s>"],
            "eos_token_id": ids["</s>"],
        },
        image_token_index=ids["<image>"],
        image_seq_length=patches,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )
    config = LlavaConfig(**settings)
    _seeded(seed)
    model = LlavaForConditionalGeneration(config).eval()
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": IMAGE_SIZE},
            crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        ),
        tokenizer=tok,
        patch_size=PATCH,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_TEMPLATE,
    )
    return _save(model, processor, dest, ids)


def main(argv: list[str] | None = None) -> None:
    """Build one tiny checkpoint from the shell."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("family", choices=["blip2", "llava"])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    build = build_blip2 if args.family == "blip2" else build_llava
    print(build(args.dest, args.seed))


if __name__ == "__main__":
    main()
