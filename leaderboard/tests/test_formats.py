"""The three formats render the same leaderboard, escape what runs and plugins wrote, and are
found through the plugin registry as ``bench report --format`` finds them."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.plugins import load_plugins
from harness.results import Run, load_run

EVIL = "<script>alert(1)</script>"
EVIL_IMG = '<img src=x onerror="alert(2)">'


@pytest.fixture
def runs(make_run: Callable[..., Path], gif: Callable[..., bytes]) -> list[Run]:
    evil_task = {
        "pick": {
            "spec": {
                "name": "pick",
                "version": "1",
                "suite": "demo|<b>x</b>",
                "instruction": f"pick {EVIL_IMG}",
                "control_hz": 10,
                "has_ee_pose": True,
            },
            "track": {"version": "1"},
            "plugin": {},
        }
    }
    roots = [
        make_run(
            "a",
            {"pick": [True] * 14 + [False] * 6},
            policy="alpha",
            videos={("pick", 0): gif((200, 0, 0)), ("pick", 15): gif((0, 0, 200))},
        ),
        make_run(
            "b",
            {"pick": [True] * 12 + [False] * 7 + ["policy_error"]},
            policy=EVIL,
            checkpoint=EVIL_IMG,
            error=f"ValueError: {EVIL}",
            tasks=evil_task,
        ),
        make_run("c", {"pick": [True] * 2 + [False] * 18}, policy="untrained", weights="random"),
    ]
    return [load_run(r) for r in roots]


def reporters() -> dict[str, Callable[..., str]]:
    loaded = load_plugins()
    return {e.name: e.load() for e in loaded.registry.entries("reporter")}


def test_the_three_formats_are_registered_through_the_entry_point() -> None:
    loaded = load_plugins()
    info = next(p for p in loaded.plugins if p.distribution == "vla-bench-leaderboard")
    assert info.error is None
    assert info.registered == {"reporter": ["html", "md", "term"]}


def test_term_shows_ranks_ties_and_escaped_names(
    runs: list[Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    text = reporters()["term"](runs, ["/runs/empty: no run.json here"])
    assert "vla-bench leaderboard" in text
    assert EVIL in text  # rich markup in a name is shown, not interpreted
    lines = {
        ln.split("│")[2].strip(): ln
        for ln in text.splitlines()
        if ln.count("│") > 4 and ln.split("│")[2].strip() in ("alpha", "untrained")
    }
    assert "=1" in lines["alpha"] and "70.0%" in lines["alpha"]
    assert "—" in lines["untrained"]
    assert "/runs/empty: no run.json here" in text
    assert "\x1b[" not in text  # plain text unless FORCE_COLOR asks: it may go to a file


def test_markdown_escapes_html_and_table_syntax(runs: list[Run]) -> None:
    text = reporters()["md"](runs, [])
    assert "<script>" not in text and "<img" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    # a '|' in a name must not add a column: every row of a table has its header's width
    tables = [block.splitlines() for block in text.split("\n\n") if block.startswith("| ")]
    assert len(tables) >= 4
    for table in tables:
        widths = {len(re.findall(r"(?<!\\)\|", line)) for line in table}
        assert len(widths) == 1, table
    assert "demo\\|&lt;b&gt;x&lt;/b&gt;" in text
    assert "| **=1** |" in text


class _Collect(HTMLParser):
    """Every tag and every external reference of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.scripts = 0
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.scripts += tag == "script"
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith(("data:", "#")):
                self.external.append(value)
            assert not (name.startswith("on")), f"event handler attribute {name}={value!r}"


def test_html_is_self_contained_and_escapes_everything(runs: list[Run]) -> None:
    page = reporters()["html"](runs, [f"/runs/{EVIL}: unreadable"])
    parsed = _Collect()
    parsed.feed(page)
    assert parsed.scripts == 1  # ours, inline; no plugin string became a tag
    assert parsed.external == []  # no CDN, no file links
    assert "img" in parsed.tags  # figures and rollouts are embedded...
    assert EVIL not in page and EVIL_IMG not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "ValueError: &lt;script&gt;" in page
    for uri in re.findall(r'src="data:image/(?:png|gif);base64,([^"]+)"', page):
        base64.b64decode(uri, validate=True)
    assert page.count("data:image/gif;base64,") == 2  # alpha's success and failure
    assert page.count("data:image/png;base64,") == 3  # pareto, heat map, latency


def test_an_empty_report_says_what_to_do(tmp_path: Path) -> None:
    for name, render in reporters().items():
        text = render([], [f"{tmp_path}: no run.json here: not a run directory"])
        assert "no run.json here" in text, name
        assert "bench run" in text, name


def test_a_large_rollout_is_shrunk_to_fit_the_page() -> None:
    import io

    import numpy as np
    from PIL import Image, ImageSequence
    from vla_bench_leaderboard.html import CLIP_WIDTH, shrink_gif

    rng = np.random.default_rng(0)
    frames = [
        Image.fromarray(rng.integers(0, 255, (60, 480, 3), dtype=np.uint8)) for _ in range(12)
    ]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    assert len(buf.getvalue()) > 400_000
    small = shrink_gif(buf.getvalue(), 40_000)
    assert len(small) <= 40_000
    with Image.open(io.BytesIO(small)) as im:
        kept = sum(1 for _ in ImageSequence.Iterator(im))
        assert im.size[0] == CLIP_WIDTH and kept > 1
        # fewer frames, each shown longer: the clip keeps its real-time length
        assert kept * im.info["duration"] == pytest.approx(12 * 50, rel=0.35)
