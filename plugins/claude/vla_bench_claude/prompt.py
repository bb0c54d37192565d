"""What the agent is told each step, independent of the API that carries it.

A :class:`Prompt` is a system text plus a list of parts (text or PNG image) for one user turn;
each backend translates it to its wire format. Two techniques from the ActionVLM report are
built in: the numeric state spelled out as text next to the image (VLMs misjudge fine
positions from pixels), and a fixed answer format — the ``choose_action`` tool, with a quoted
action name as the fallback — optionally grounded by few-shot examples.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from harness.contract import ActionSpace, TaskSpec
from vla_bench_claude.parse import parse_tool_input

TOOL_NAME = "choose_action"


@dataclass(frozen=True)
class Part:
    """One piece of a user turn: text, or a PNG image (``png`` bytes)."""

    text: str = ""
    png: bytes | None = None
    cache_breakpoint: bool = False  # the constant prefix ends here (Anthropic prompt caching)

    @property
    def png_base64(self) -> str:
        """The image as base64 text (what both APIs carry)."""
        assert self.png is not None
        return base64.b64encode(self.png).decode("ascii")


@dataclass(frozen=True)
class Prompt:
    """The system text and the one user turn of a step."""

    system: str
    parts: tuple[Part, ...]


@dataclass(frozen=True)
class FewShotExample:
    """A worked example: what the agent would see and the answer it should give."""

    action: dict[str, Any]
    state_text: str = ""
    png: bytes | None = None
    reasoning: str = ""


@dataclass
class History:
    """The last few steps, told back to the agent as text (cheaper than resending images)."""

    size: int
    entries: list[str] = field(default_factory=list)

    def add(self, step: int, label: str, reasoning: str, *, fallback: bool = False) -> None:
        """Remember one step's action (and the reason given, shortened)."""
        if self.size <= 0:
            return
        if fallback:
            note = " (your answer could not be read; this no-op was executed)"
        else:
            note = f" because: {reasoning[:200]}" if reasoning else ""
        self.entries.append(f"step {step}: '{label}'{note}")
        del self.entries[: -self.size]

    def clear(self) -> None:
        """Forget everything (a new episode)."""
        self.entries.clear()


def encode_png(frame: np.ndarray) -> bytes:
    """An HxWx3 uint8 frame as PNG bytes."""
    array = np.asarray(frame)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 uint8 frame, got {array.dtype} {array.shape}")
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def action_schema(space: ActionSpace, *, reasoning: bool) -> dict[str, Any]:
    """The JSON schema of the ``choose_action`` tool's input for ``space``.

    Discrete: an ``action`` string restricted to the action names. Continuous: one bounded
    number per field (the agent clips out-of-range values as well, and counts them).
    """
    properties: dict[str, Any] = {}
    if reasoning:
        properties["reasoning"] = {
            "type": "string",
            "description": "One or two short sentences: what you see and why this action.",
        }
    if space.discrete:
        properties["action"] = {
            "type": "string",
            "enum": list(space.names),
            "description": "The action to take now.",
        }
    else:
        for name, low, high in zip(space.names, space.low, space.high, strict=True):
            properties[name] = {
                "type": "number",
                "minimum": low,
                "maximum": high,
                "description": f"{name}, between {low} and {high}.",
            }
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def tool_description(space: ActionSpace) -> str:
    """The tool's description: what calling it does."""
    what = "one of the allowed actions" if space.discrete else "one value per action field"
    return f"Take {what} for the current step of the task. Call it exactly once per turn."


def action_menu(space: ActionSpace, *, tools: bool = True) -> str:
    """The allowed actions as text, with the answer format (the quoted fallback included)."""
    if space.discrete:
        names = ", ".join(f"'{n}'" for n in space.names)
        example = space.names[min(1, len(space.names) - 1)]
        quoted = f"end your answer with the action in single quotes, e.g. '{example}'."
        how = (
            f"Call the {TOOL_NAME} tool with exactly one of them. If you cannot call the tool, "
            if tools
            else "Think briefly, then "
        )
        return f"Allowed actions: {names}.\n{how}{quoted}"
    fields = "; ".join(
        f"{n} in [{lo}, {hi}]" for n, lo, hi in zip(space.names, space.low, space.high, strict=True)
    )
    zeros = json.dumps(dict.fromkeys(space.names, 0.0))
    how = (
        f"Call the {TOOL_NAME} tool with a number for every field. If you cannot call the tool, "
        if tools
        else "Think briefly, then "
    )
    return f"Action fields: {fields}.\n{how}end your answer with a JSON object such as {zeros}."


def system_text(spec: TaskSpec, *, tools: bool = True) -> str:
    """The system prompt: the agent's role, the task's rules and its pace."""
    answer = f"answer with the {TOOL_NAME} tool" if tools else "end with the chosen action"
    return (
        "You control an agent in a simulated task, one step at a time. Each turn shows the "
        "current camera image, the numeric state written out as text where the task provides "
        f"it, and the allowed actions; {answer}. "
        f"Every action lasts 1/{spec.control_hz:g} s of simulated time and the episode ends "
        f"after at most {spec.max_steps} steps.\n"
        f"Task: {spec.name}. {spec.description}\n"
        f"Actions: {spec.action_space.description}"
    )


def load_few_shot(path: str | Path, space: ActionSpace) -> list[FewShotExample]:
    """Read few-shot examples from a JSON file and check their actions against ``space``.

    Format: ``{"examples": [{"state_text": "...", "image": "frame.png", "action": "fire main
    engine", "reasoning": "..."}]}``; ``image`` (optional) is a PNG path relative to the file,
    ``action`` an action name (discrete) or an object of field values (continuous).
    """
    source = Path(path)
    try:
        doc = json.loads(source.read_text())
    except FileNotFoundError:
        raise ValueError(f"few_shot file {str(source)!r} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"few_shot file {str(source)!r} is not JSON: {exc}") from None
    items = doc.get("examples") if isinstance(doc, dict) else None
    if not isinstance(items, list) or not items:
        raise ValueError(
            f'few_shot file {str(source)!r} must hold {{"examples": [...]}} with at least one '
            f"example (see vla_bench_claude.prompt.load_few_shot)"
        )
    examples = []
    for i, item in enumerate(items):
        raw = item.get("action") if isinstance(item, dict) else None
        answer: Any = {"action": raw} if isinstance(raw, str) else raw
        if not parse_tool_input(answer, space).ok:
            allowed = list(space.names)
            raise ValueError(f"few_shot example {i}: action {raw!r} is not valid here ({allowed})")
        png = None
        if item.get("image"):
            image_path = source.parent / item["image"]
            if not image_path.exists():
                raise ValueError(f"few_shot example {i}: image {str(image_path)!r} does not exist")
            png = image_path.read_bytes()
        examples.append(
            FewShotExample(
                action=dict(answer),
                state_text=str(item.get("state_text", "")),
                png=png,
                reasoning=str(item.get("reasoning", "")),
            )
        )
    return examples


def example_parts(examples: Sequence[FewShotExample]) -> list[Part]:
    """The few-shot block that opens every user turn (a cache breakpoint after it)."""
    if not examples:
        return []
    parts = [Part("Worked examples of the expected answer:")]
    for i, example in enumerate(examples, 1):
        parts.append(Part(f"Example {i}:"))
        if example.png is not None:
            parts.append(Part(png=example.png))
        if example.state_text:
            parts.append(Part(f"State:\n{example.state_text}"))
        answer = json.dumps(example.action)
        why = f" Reason: {example.reasoning}" if example.reasoning else ""
        parts.append(Part(f"Answer: {TOOL_NAME}({answer}).{why}"))
    last = parts[-1]
    parts[-1] = Part(last.text, last.png, cache_breakpoint=True)
    parts.append(Part("Now the real task."))
    return parts


def step_parts(
    *,
    instruction: str,
    png: bytes | None,
    state_text: str | None,
    history: Sequence[str],
    feedback: str | None,
    space: ActionSpace,
    step: int,
    tools: bool = True,
) -> list[Part]:
    """The per-step part of the user turn."""
    parts = [Part(f"Goal: {instruction}\nStep {step}.")]
    if png is not None:
        parts.append(Part(png=png))
    if state_text:
        parts.append(Part(f"State:\n{state_text}"))
    if history:
        parts.append(Part("Your recent actions (oldest first):\n" + "\n".join(history)))
    if feedback:
        parts.append(Part(f"Note: {feedback}"))
    parts.append(Part(action_menu(space, tools=tools)))
    return parts
