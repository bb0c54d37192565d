"""The HTML leaderboard: one self-contained page that works offline.

Styles and the small sorting/filtering script are inlined, figures and rollout GIFs are
embedded as base64 ``data:`` URIs, and nothing is fetched from a network. The page is made
with a Jinja2 template in autoescape mode, so every string from a plugin, a run or a task is
escaped wherever it lands (text or attribute); the script never writes HTML from data.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from harness.metrics import SPARC_REFERENCE
from harness.results import Run
from vla_bench_leaderboard import __version__, fmt, plots
from vla_bench_leaderboard.table import Cell, Leaderboard, Media, Row, build

MAX_CLIP_BYTES = 450_000
"""A rollout larger than this is shrunk (fewer frames, smaller) before it is embedded."""
MAX_MEDIA_BYTES = 3_000_000
"""All embedded rollouts together; past this, rollouts are listed by path instead."""
CLIP_WIDTH = 240
MAX_CLIP_FRAMES = 150
"""A rollout preview keeps at most this many frames (thinned evenly, each shown longer)."""

MIME = {".gif": "image/gif", ".mp4": "video/mp4", ".webm": "video/webm", ".png": "image/png"}


@dataclass(frozen=True)
class Clip:
    """A rollout ready for the page: a data URI (or None when it was left out, with why)."""

    media: Media
    uri: str | None
    mime: str
    note: str = ""
    replay: Markup | None = None  # an interactive 3D replay of the same episode, when recorded


def render(runs: Sequence[Run], problems: Sequence[str]) -> str:
    """The leaderboard as one self-contained HTML page."""
    board = build(runs, problems)
    return render_board(board)


def render_board(board: Leaderboard, *, generated: datetime | None = None) -> str:
    """Render an already built leaderboard (``generated`` fixes the timestamp, for tests)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("vla_bench_leaderboard", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    static = resources.files("vla_bench_leaderboard") / "static"
    figures = {
        "pareto": plots.success_vs_latency(board),
        "heatmap": plots.success_heatmap(board),
        "latency": plots.latency_distributions(board),
    }
    budget = _Budget(MAX_MEDIA_BYTES)

    def row_clips(row: Row) -> list[tuple[Cell, Clip]]:
        # the page shows each row's rollouts once, in page order, until the budget is spent
        return [(cell, budget.clip(m)) for cell in row.cells for m in cell.media]

    viewer = _replay_module()
    has_replays = viewer is not None and any(m.replay for c in board.cells for m in c.media)
    when = generated or datetime.now(UTC)
    return env.get_template("report.html.j2").render(
        board=board,
        labels=board.labels(),
        fmt=fmt,
        sort=_sort_value,
        figures={k: _data_uri(v, "image/png") if v else None for k, v in figures.items()},
        row_clips=row_clips,
        shown=_shown,
        bar=_bar,
        css=Markup((static / "report.css").read_text()),
        js=Markup((static / "report.js").read_text()),
        replay_viewer=Markup(viewer.viewer_script()) if has_replays else "",
        generated=when.strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        harness_versions=sorted({s.harness_version for s in board.sources}),
        sparc_reference=SPARC_REFERENCE,
        any_episode_latency=any(c.stats.latency_source == "episodes" for c in board.cells),
    )


@dataclass(frozen=True)
class Shown:
    """Which optional columns a table shows: none that would be empty in every row."""

    smooth: bool
    cost: bool

    @property
    def count(self) -> int:
        """How many metric columns the table has."""
        return 10 + 2 * self.smooth + self.cost


def _shown(entries: Sequence[Cell | Row]) -> Shown:
    return Shown(
        smooth=any(e.stats.ldlj.n or e.stats.sparc.n for e in entries),
        cost=any(e.stats.cost_per_episode is not None for e in entries),
    )


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _sort_value(x: float | int | str | None) -> str:
    """The ``data-v`` of a table cell: a number, or empty for missing (sorted last)."""
    if x is None:
        return ""
    if isinstance(x, str):
        return x
    return repr(float(x)) if math.isfinite(x) else ""


def _bar(entry: Cell | Row) -> Markup:
    """A small success bar with its Wilson interval (an inline SVG, sized in percent)."""
    s = entry.stats
    if not fmt.finite(s.success_rate):
        return Markup("")
    rate, low, high = (100 * v for v in (s.success_rate, s.ci_low, s.ci_high))
    return Markup(
        '<svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true">'
        '<rect class="track" x="0" y="3" width="100" height="4"/>'
        f'<rect class="ci" x="{low:.2f}" y="2" width="{max(high - low, 0.5):.2f}" height="6"/>'
        f'<rect class="pt" x="{max(rate - 0.8, 0):.2f}" y="0" width="1.6" height="10"/></svg>'
    )


class _Budget:
    """Embeds rollouts until the page's media budget is spent."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    def clip(self, media: Media) -> Clip:
        mime = MIME.get(media.path.suffix.lower(), "application/octet-stream")
        try:
            data = media.path.read_bytes()
            if len(data) > MAX_CLIP_BYTES and mime == "image/gif":
                data = shrink_gif(data, MAX_CLIP_BYTES)
        except OSError as exc:
            return Clip(media, None, mime, f"unreadable: {exc}")
        if len(data) > MAX_CLIP_BYTES:
            return Clip(media, None, mime, f"too large to embed ({fmt.nbytes(len(data))})")
        if len(data) > self.left:
            return Clip(media, None, mime, "left out to keep the page small")
        self.left -= len(data)
        return Clip(media, _data_uri(data, mime), mime, replay=self.replay(media))

    def replay(self, media: Media) -> Markup | None:
        """The episode's 3D replay (studio plugin), built only when the reader opens it."""
        viewer = _replay_module()
        if media.replay is None or viewer is None:
            return None
        try:
            data = media.replay.read_bytes()
            replay = viewer.load_replay(data, str(media.replay))
        except (OSError, ValueError):
            return None
        if len(data) > self.left:
            return None
        self.left -= len(data)
        return Markup(viewer.fragment(replay, include_viewer=False, lazy=True))


def _replay_module() -> Any:
    """The studio's replay viewer, when that plugin (and its built bundle) is installed."""
    try:
        from vla_bench_studio import assets, replay
    except ImportError:
        return None
    return replay if assets.REPLAY_BUNDLE.is_file() else None


def shrink_gif(data: bytes, limit: int) -> bytes:
    """A smaller GIF of the same rollout: scaled to ``CLIP_WIDTH`` wide and thinned to fit.

    The frame step is estimated before any frame is converted (converting is what costs:
    a 2,000-frame rollout would take half a minute), and frame durations are stretched by
    the same factor so the clip keeps its real-time speed.
    """
    from PIL import Image, ImageSequence

    with Image.open(io.BytesIO(data)) as im:
        count = int(getattr(im, "n_frames", 1))
        duration = int(im.info.get("duration", 100)) or 100
        w, h = im.size
        scale = min(1.0, CLIP_WIDTH / w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        step = max(1, math.ceil(count / MAX_CLIP_FRAMES), math.ceil(len(data) * scale**2 / limit))
        frames = [
            frame.convert("RGB").resize(size, Image.Resampling.BILINEAR)
            for i, frame in enumerate(ImageSequence.Iterator(im))
            if i % step == 0
        ]
    stride = 1
    while True:
        picked = frames[::stride]
        buf = io.BytesIO()
        picked[0].save(
            buf,
            format="GIF",
            save_all=True,
            append_images=picked[1:],
            duration=duration * step * stride,
            loop=0,
        )
        out = buf.getvalue()
        if len(out) <= limit or len(picked) == 1:
            return out
        stride *= 2
