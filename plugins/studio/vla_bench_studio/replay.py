"""Interactive 3D replays of recorded episodes, as HTML a report embeds (no network, no WASM).

A manipulation episode leaves ``parts/<task>/<episode:06d>.replay3d.json`` in its run directory
(the env's ``episode_artifacts()``; format in :mod:`vla_bench_manipulation.replay`).
:func:`replay_fragment` turns one into an HTML fragment: the viewer (three.js and
``web/js/replay_viewer.js`` bundled into one classic script, ~600 kB, include it once per page)
and the episode's data, mounted into a ``<div>`` with orbit, scrub and play controls.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from vla_bench_manipulation.replay import ARTIFACT, FORMAT

from vla_bench_studio import assets


class ReplayError(ValueError):
    """There is no usable 3D replay where one was asked for; the message says why."""


def replay_path(run_dir: Path, task: str, episode: int) -> Path:
    """Where a run keeps the 3D replay of ``task``'s episode ``episode``."""
    return Path(run_dir) / "parts" / task / f"{episode:06d}.{ARTIFACT}"


def load_replay(data: bytes | str, source: str = "replay") -> dict[str, Any]:
    """A replay parsed and checked (format and array sizes are checked again by the viewer)."""
    try:
        replay = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReplayError(f"{source}: not JSON ({exc})") from None
    if not isinstance(replay, dict) or replay.get("format") != FORMAT:
        raise ReplayError(f"{source}: not a {FORMAT} replay")
    return replay


def viewer_script() -> str:
    """The viewer as one inline ``<script>`` (define ``VlaReplay``); once per page."""
    assets.require(assets.REPLAY_BUNDLE)
    code = assets.REPLAY_BUNDLE.read_text(encoding="utf-8").replace("</script", "<\\/script")
    return f"<script>{code}</script>"


def _json_for_script(value: Any) -> str:
    # Inside <script> only "</" could end the element; \u escapes keep the JSON identical.
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def fragment(replay: dict[str, Any], *, include_viewer: bool = True, lazy: bool = False) -> str:
    """HTML showing ``replay``; ``include_viewer=False`` when the page has the viewer already,
    ``lazy=True`` to build the 3D view only when the reader clicks (saves WebGL contexts)."""
    title = html.escape(f"3D replay: {replay.get('task', '')} seed {replay.get('seed', '')}")
    parts = [viewer_script()] if include_viewer else []
    parts.append(
        f'<div class="vla-replay" data-vla-replay{" data-lazy" if lazy else ""} '
        f'title="{title}"><script type="application/json">{_json_for_script(replay)}</script>'
        "</div><script>VlaReplay.mountAll()</script>"
    )
    return "\n".join(parts)


def replay_fragment(
    run_dir: Path, task: str, episode: int, *, include_viewer: bool = True, lazy: bool = False
) -> str:
    """The HTML fragment of the 3D replay of ``task``'s episode ``episode`` in ``run_dir``."""
    path = replay_path(run_dir, task, episode)
    if not path.is_file():
        raise ReplayError(
            f"no 3D replay of {task} episode {episode} in {run_dir} (looked for {path}); "
            "runs of tasks whose env has episode_artifacts() record one per episode"
        )
    replay = load_replay(path.read_bytes(), str(path))
    return fragment(replay, include_viewer=include_viewer, lazy=lazy)


def replay_page(replays: list[dict[str, Any]], title: str = "3D replays") -> str:
    """A standalone HTML page with the viewer once and every replay in ``replays``."""
    body = "\n".join(f"<figure>{fragment(r, include_viewer=False)}</figure>" for r in replays)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}'
        '</title><link rel="icon" href="data:,"><style>body{font:14px system-ui,sans-serif;'
        "margin:16px}figure{max-width:720px;margin:0 0 24px}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{viewer_script()}{body}</body></html>"
    )
