"""Keeping secrets out of everything a run records: one scrubber at the recording boundary.

Policies talk to paid APIs with keys from the environment, and their errors can echo request
headers or URLs back (a proxy answering 400 with the request in the body, a ``base_url`` with
``?api_key=``). Every string the results store writes (run.json, episode rows, step info) and
every error the CLI prints passes through :func:`scrub`, so no backend has to remember to.

What is replaced by ``***``:

- the value of every environment variable whose name says it holds a secret (``*KEY*``,
  ``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``, ``*CREDENTIAL*``; values of 8+ characters);
- the value of ``Authorization`` / ``Proxy-Authorization`` / ``x-api-key`` / ``api-key``
  headers, in ``Name: value``, ``'name': 'value'`` and ``name=value`` forms;
- URL query parameters named like a key (``api_key``, ``key``, ``token``, ``access_token``,
  ``secret``, ``password``, ``sig``) and a URL's ``user:password@``;
- strings shaped like well-known API keys (``sk-...``, ``hf_...``).
"""

from __future__ import annotations

import os
import re
from typing import Any

MASK = "***"
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
_MIN_SECRET = 8
_SECRET_FIELD = re.compile(
    r"(?i)(?:proxy-)?authorization|x-api-key|api[-_]?key|x-goog-api-key|password|secret"
)

_PATTERNS = (
    # Authorization: Bearer xyz / 'authorization': 'Bearer xyz' / x-api-key=xyz
    re.compile(
        r"""(?ix)
        ( (?:proxy-)?authorization | x-api-key | api-key | x-goog-api-key )
        ( ['"]? \s* [:=] \s* ['"]? )
        ( (?:bearer|basic|api-key|token)\s+ )?
        [^\s'",;}&]+
        """
    ),
    re.compile(
        r"(?i)([?&](?:api[_-]?key|key|token|access[_-]?token|secret|password|sig|signature)=)"
        r"[^&#,\s'\"]+"
    ),
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@"),
    re.compile(r"\b(sk-(?:ant-)?[A-Za-z0-9_-]{16,}|hf_[A-Za-z0-9]{20,})"),
)


def _secret_values() -> list[str]:
    values = {
        value
        for name, value in os.environ.items()
        if _SECRET_NAME.search(name) and len(value) >= _MIN_SECRET
    }
    return sorted(values, key=len, reverse=True)  # longest first: a key never half-masked


def scrub_text(text: str, values: list[str] | None = None) -> str:
    """``text`` with every secret it may hold replaced by ``***`` (``values``: the secret
    environment values, when the caller already looked them up)."""
    for value in _secret_values() if values is None else values:
        if value in text:
            text = text.replace(value, MASK)
    # Each pattern is tried only on text holding a character it cannot match without (most
    # strings a run records hold none): the result is the same, at a fraction of the cost.
    if ":" in text or "=" in text:
        text = _PATTERNS[0].sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) or ''}{MASK}", text)
    if "=" in text:
        text = _PATTERNS[1].sub(lambda m: f"{m.group(1)}{MASK}", text)
    if "@" in text:
        text = _PATTERNS[2].sub(lambda m: f"{m.group(1)}{MASK}@", text)
    if "sk-" in text or "hf_" in text:
        text = _PATTERNS[3].sub(MASK, text)
    return text


def scrub(obj: Any) -> Any:
    """A copy of ``obj`` (str, list, tuple, dict, or anything else) with strings scrubbed."""
    return _scrub(obj, _secret_values())


def _scrub(obj: Any, values: list[str]) -> Any:
    if isinstance(obj, str):
        return scrub_text(obj, values)
    if isinstance(obj, dict):
        return {
            _scrub(k, values): MASK
            if isinstance(k, str) and _SECRET_FIELD.fullmatch(k) and v
            else _scrub(v, values)
            for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return type(obj)(_scrub(v, values) for v in obj)
    return obj
