"""Turning a model's answer into an action: the tool call first, free text as the fallback.

The tool schema (``prompt.action_schema``) asks for ``{"action": <name>}`` on a discrete space
and ``{<field>: <number>, ...}`` on a continuous one. Models that answer in prose instead
(small local VLMs, or a model that ignored the tool) are read by :func:`parse_text`, which
follows the ActionVLM report's "quoted answer" format: the last quoted phrase that names an
action wins, e.g. "... so firing the main engine is best. 'fire main'" -> "fire main engine".
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.contract import ActionSpace

_QUOTES = ("'", '"', "`", "\u2018\u2019", "\u201c\u201d")
_PARENTHESISED = re.compile(r"\(([^()\n]{1,80})\)")
_MAX_PHRASE = 80
_JSON_OBJECT = re.compile(r"\{[^{}]*\}")
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Decoded:
    """An action row in the task's space (``actions``) and a label for history, or an error."""

    actions: np.ndarray | None
    label: str = ""
    error: str = ""
    clipped: bool = False

    @property
    def ok(self) -> bool:
        """Whether an action was decoded."""
        return self.actions is not None


def _fail(reason: str) -> Decoded:
    return Decoded(None, error=reason)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def match_name(phrase: str, names: tuple[str, ...]) -> int | None:
    """The action a short phrase names, or None when it names none or several.

    Exact (case-insensitive) match first; then the one name whose words include all of the
    phrase's words ("fire main" -> "fire main engine"); then the one name all of whose
    words appear in the phrase ("I push the cart left" -> "push cart left").
    """
    text = " ".join(_words(phrase))
    if not text:
        return None
    lowered = [" ".join(_words(n)) for n in names]
    if text in lowered:
        return lowered.index(text)
    words = set(text.split())
    covering = [i for i, n in enumerate(lowered) if words <= set(n.split())]
    if len(covering) == 1:
        return covering[0]
    contained = [i for i, n in enumerate(lowered) if set(n.split()) <= words]
    if len(contained) == 1:
        return contained[0]
    if len(contained) > 1:  # "fire main engine" also contains every word of a shorter name
        longest = max(len(lowered[i].split()) for i in contained)
        best = [i for i in contained if len(lowered[i].split()) == longest]
        if len(best) == 1:
            return best[0]
    return None


def _discrete(index: int, space: ActionSpace) -> Decoded:
    return Decoded(np.array([[float(index)]]), label=space.names[index])


def _continuous(values: Mapping[str, Any], space: ActionSpace) -> Decoded:
    missing = [n for n in space.names if n not in values]
    if missing:
        return _fail(f"missing fields {missing}")
    try:
        raw = np.array([float(values[n]) for n in space.names])
    except (TypeError, ValueError):
        return _fail(f"non-numeric fields in {dict(values)}")
    if not np.all(np.isfinite(raw)):
        return _fail(f"non-finite values in {dict(values)}")
    clipped = np.clip(raw, space.low, space.high)
    label = ", ".join(f"{n}={v:+.3g}" for n, v in zip(space.names, clipped, strict=True))
    return Decoded(clipped[None, :], label=label, clipped=bool(np.any(clipped != raw)))


def parse_tool_input(arguments: Any, space: ActionSpace) -> Decoded:
    """Decode the ``choose_action`` tool's input (a dict, or a JSON string from OpenAI APIs)."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError as exc:
            return _fail(f"the tool arguments are not valid JSON ({exc.msg})")
    if not isinstance(arguments, Mapping):
        return _fail(f"the tool input is {type(arguments).__name__}, not an object")
    if not space.discrete:
        return _continuous(arguments, space)
    action = arguments.get("action")
    if not isinstance(action, str):
        return _fail("the tool input has no 'action' string")
    index = match_name(action, space.names)
    if index is None or " ".join(_words(action)) != " ".join(_words(space.names[index])):
        return _fail(f"{action!r} is not one of the allowed actions")
    return _discrete(index, space)


def parse_text(text: str, space: ActionSpace) -> Decoded:
    """The free-text fallback: a JSON object, else the last quoted phrase naming an action.

    For a discrete space it finally accepts an action name written out verbatim (the last
    one mentioned); for a continuous space it needs a JSON object with every field.
    """
    for candidate in reversed(_JSON_OBJECT.findall(text)):
        try:
            obj = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        decoded = parse_tool_input(obj, space)
        if decoded.ok:
            return decoded
    if not space.discrete:
        return _fail("no JSON object with every action field in the answer")
    for _, phrase in sorted(_quoted_phrases(text), reverse=True):
        index = match_name(phrase, space.names)
        if index is not None:
            return _discrete(index, space)
    lowered = " ".join(_words(text))
    mentions = [
        (lowered.rfind(" ".join(_words(name))), len(name), i) for i, name in enumerate(space.names)
    ]
    where, _, index = max(mentions)  # the last mention; at one spot the longer name
    if where >= 0:
        return _discrete(index, space)
    return _fail("no action named in the answer")


def _quoted_phrases(text: str) -> list[tuple[int, str]]:
    """(end position, phrase) of every short quoted or parenthesised phrase.

    Apostrophes ("isn't") make quote pairing ambiguous, so every stretch between two
    consecutive quote marks of a kind is a candidate; the caller tries them from the end.
    """
    found = [(m.end(), m.group(1)) for m in _PARENTHESISED.finditer(text)]
    for marks in _QUOTES:
        positions = [i for i, ch in enumerate(text) if ch in marks]
        for start, end in itertools.pairwise(positions):
            phrase = text[start + 1 : end]
            if 0 < len(phrase) <= _MAX_PHRASE and "\n" not in phrase:
                found.append((end, phrase))
    return found


def finite_or_zero(value: float | None) -> float:
    """Usage numbers from a server may be missing; count them as zero."""
    return float(value) if value is not None and math.isfinite(value) else 0.0
