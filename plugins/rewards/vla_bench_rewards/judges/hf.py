"""``blip2`` and ``llava`` judges: local vision-language models through ``transformers``.

Both load a checkpoint by hub id or local path (``checkpoint=``; defaults
``Salesforce/blip2-opt-2.7b`` and ``llava-hf/llava-1.5-7b-hf``, the models of the ActionVLM
report's family) with ``Blip2ForConditionalGeneration`` / ``LlavaForConditionalGeneration``
and the checkpoint's processor, and answer greedily (no sampling) about the query's last
frame: BLIP-2 with its VQA format ``Question: ... Answer:``, LLaVA with the checkpoint's chat
template (``USER: <image>\\n... ASSISTANT:`` when it ships none). The number is read from the
generated text (:func:`~vla_bench_rewards.judges.base.parse_answer`); text without one is an
Answer with an error. :meth:`HFJudge.caption` is the free-text entry the keyword-rule judge
builds on.

Options: ``checkpoint``, ``device`` (cpu), ``dtype`` (float32, bfloat16, float16),
``max_new_tokens`` (32). Offline (``HF_HUB_OFFLINE=1``) a hub id must already be cached.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from vla_bench_rewards.judges.base import (
    Answer,
    JudgeBase,
    Option,
    Query,
    parse_answer,
    parse_options,
)

DEFAULT_CHECKPOINTS = {
    "blip2": "Salesforce/blip2-opt-2.7b",
    "llava": "llava-hf/llava-1.5-7b-hf",
}

_DTYPES = ("float32", "bfloat16", "float16")


class HFJudge(JudgeBase):
    """A transformers VLM answering about one frame (``family``: "blip2" or "llava")."""

    kinds = frozenset({"probability", "number"})
    options_table: ClassVar[dict[str, Option]] = {
        "checkpoint": Option(str, None, "hub id or local directory"),
        "device": Option(str, "cpu", "torch device"),
        "dtype": Option(str, "float32", f"one of {', '.join(_DTYPES)}"),
        "max_new_tokens": Option(int, 32, "tokens generated per answer"),
    }

    def __init__(self, family: str, options: Mapping[str, str]) -> None:
        import torch

        values, _ = parse_options(family, options, self.options_table)
        if values["dtype"] not in _DTYPES:
            raise ValueError(
                f"{family} judge option dtype={values['dtype']!r}: choose one of {list(_DTYPES)}"
            )
        self.name = family
        self.family = family
        self.checkpoint = values["checkpoint"] or DEFAULT_CHECKPOINTS[family]
        self.device = values["device"]
        self.dtype = getattr(torch, values["dtype"])
        self.max_new_tokens = values["max_new_tokens"]
        self.processor, self.model = self._load()
        self.parameters = sum(p.numel() for p in self.model.parameters())

    def _load(self) -> tuple[Any, Any]:
        from transformers import (
            AutoProcessor,
            Blip2ForConditionalGeneration,
            LlavaForConditionalGeneration,
        )

        cls = (
            Blip2ForConditionalGeneration
            if self.family == "blip2"
            else LlavaForConditionalGeneration
        )
        try:
            processor = AutoProcessor.from_pretrained(self.checkpoint)
            model = cls.from_pretrained(self.checkpoint, dtype=self.dtype)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(
                f"cannot load {self.family} checkpoint {self.checkpoint!r}: {first} (pass "
                f"--judge-args checkpoint=<local directory or cached hub id>)"
            ) from None
        model.to(self.device).eval()
        return processor, model

    def _prompt(self, text: str) -> str:
        if self.family == "blip2":
            return f"Question: {text} Answer:"
        if getattr(self.processor, "chat_template", None):
            conversation = [
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}
            ]
            return str(self.processor.apply_chat_template(conversation, add_generation_prompt=True))
        return f"USER: <image>\n{text} ASSISTANT:"

    def generate(self, image: np.ndarray, text: str) -> tuple[str, float]:
        """The model's greedy answer to ``text`` about ``image``, and the seconds it took."""
        import torch
        from PIL import Image

        inputs = self.processor(
            images=Image.fromarray(np.asarray(image, dtype=np.uint8)),
            text=self._prompt(text),
            return_tensors="pt",
        ).to(self.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        # BLIP-2 hands generation to its language model, which would use its own default
        # config instead of the checkpoint's: pass a copy of the checkpoint's, greedy
        config = copy.deepcopy(self.model.generation_config)
        config.max_new_tokens = self.max_new_tokens
        config.do_sample = False
        if config.pad_token_id is None:
            config.pad_token_id = self.processor.tokenizer.pad_token_id
        start = time.perf_counter()
        with torch.inference_mode():
            out = self.model.generate(**inputs, generation_config=config)
        seconds = time.perf_counter() - start
        new = out[0, inputs["input_ids"].shape[1] :]
        return str(self.processor.tokenizer.decode(new, skip_special_tokens=True)).strip(), seconds

    def caption(self, image: np.ndarray, prompt: str) -> str:
        """Free text about ``image`` (what the keyword-rule judge scores)."""
        return self.generate(image, prompt)[0]

    def answer(self, query: Query) -> Answer:
        """Ask about the query's last frame; read the number from the text."""
        if not query.frames:
            return Answer(None, error="the query holds no frame")
        text = query.question.text
        if query.state_text:
            text = f"{query.state_text}\n{text}"
        reply, seconds = self.generate(query.frames[-1], text)
        value, error = parse_answer(reply, query.question)
        return Answer(value, text=reply, error=error, model_s=seconds)

    def describe(self) -> dict[str, Any]:
        """Checkpoint, parameter count, dtype and device."""
        return {
            "judge": self.name,
            "checkpoint": self.checkpoint,
            # checkpoints from vla_bench_rewards.tiny say they hold random weights
            "weights": getattr(self.model.config, "vla_bench_weights", "pretrained"),
            "parameters": self.parameters,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": self.device,
        }


def make_blip2(options: Mapping[str, str]) -> HFJudge:
    """The ``blip2`` judge."""
    return HFJudge("blip2", options)


def make_llava(options: Mapping[str, str]) -> HFJudge:
    """The ``llava`` judge."""
    return HFJudge("llava", options)
