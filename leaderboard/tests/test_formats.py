"""The formats render the same leaderboard, escape what runs and plugins wrote, fit where they
are read, and are found through the plugin registry as ``bench report --format`` finds them."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import shutil
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
from boardruns import wins
from vla_bench_leaderboard import fmt
from vla_bench_leaderboard.export import COLUMNS
from vla_bench_leaderboard.table import build

from harness.plugins import load_plugins
from harness.results import Run, load_run

EVIL = "<script>alert(1)</script>"
EVIL_IMG = '<img src=x onerror="alert(2)">'
EVIL_TERM = "evil[/]\x1b[2J\x1b]0;pwned\x07[bold]"
README = Path(__file__).resolve().parents[2] / "README.md"


def tamper(root: Path, dest: Path, **policy: str) -> Path:
    """A copy of a real run whose run.json policy fields hold ``policy`` (an old or hostile
    file: the runner itself only writes registered names)."""
    shutil.copytree(root, dest)
    meta = json.loads((dest / "run.json").read_text())
    meta["policy"].update(policy)
    meta["tasks"]["pick"]["spec"]["suite"] = "demo|<b>x</b>"
    meta["tasks"]["pick"]["spec"]["instruction"] = f"pick {EVIL_IMG}"
    (dest / "run.json").write_text(json.dumps(meta))
    return dest


@pytest.fixture
def runs(make_run: Callable[..., Path], tmp_path: Path) -> list[Run]:
    a = make_run("a", wins(14), policy="alpha", video=16)
    b = make_run(
        "b",
        "1" * 12 + "0" * 7 + "e",
        policy="beta",
        checkpoint=EVIL_IMG,
        error=f"ValueError: {EVIL}",
    )
    evil = tamper(b, tmp_path / "evil", name=EVIL)
    c = make_run("c", wins(2), policy="untrained", weights="random")
    return [load_run(r) for r in (a, evil, c)]


def reporters() -> dict[str, Callable[..., str]]:
    loaded = load_plugins()
    return {e.name: e.load() for e in loaded.registry.entries("reporter")}


def test_the_formats_are_registered_through_the_entry_point() -> None:
    loaded = load_plugins()
    info = next(p for p in loaded.plugins if p.distribution == "vla-bench-leaderboard")
    assert info.error is None
    assert info.registered == {
        "reporter": ["csv", "html", "json", "md", "term"],
        "command": ["publish"],
    }


def test_term_fits_100_columns_and_keeps_names_and_n(
    runs: list[Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    text = reporters()["term"](runs, ["/runs/empty: no run.json here"])
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "alpha" in text and "untrained" in text
    assert "14/20" in text and "12/20" in text and "2/20" in text  # n, with the successes
    alpha = [ln.split() for ln in text.splitlines() if " alpha " in ln and "70.0%" in ln]
    assert [ln[0] for ln in alpha] == ["1", "=1"]  # alone in its suite; tied on the task
    assert "/runs/empty: no run.json here" in text
    assert "\x1b[" not in text  # plain text unless FORCE_COLOR asks: it may go to a file


def test_term_shows_hostile_names_as_text(
    make_run: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # colours on: only our own escape codes may appear
    root = tamper(make_run("a", wins(12), policy="alpha"), tmp_path / "x", name=EVIL_TERM)
    text = reporters()["term"]([load_run(root)], [])
    assert "\x1b[2J" not in text and "\x1b]0;" not in text and "\x07" not in text
    assert "evil[/]\\x1b[2J\\x1b]0;pwned\\x07[bold]" in " ".join(text.split())
    assert re.sub(r"\x1b\[[0-9;]*m", "", text).count("evil[/]") >= 2


def test_markdown_escapes_html_and_table_syntax(runs: list[Run]) -> None:
    text = reporters()["md"](runs, [])
    assert "<script>" not in text and "<img" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    tables = [block.splitlines() for block in text.split("\n\n") if block.startswith("| ")]
    assert len(tables) >= 3
    for table in tables:  # a '|' in a name must not add a column
        widths = {len(re.findall(r"(?<!\\)\|", line)) for line in table}
        assert len(widths) == 1, table
    assert "demo\\|&lt;b&gt;x&lt;/b&gt;" in text
    assert "| **=1** |" in text
    assert "## Methods" in text and fmt.methods_markdown() in text


class _Collect(HTMLParser):
    """Every tag, id and external reference of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.ids: list[str] = []
        self.scripts = 0
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.scripts += tag == "script"
        for name, value in attrs:
            if name == "id" and value:
                self.ids.append(value)
            if name in ("src", "href") and value and not value.startswith(("data:", "#")):
                self.external.append(value)
            assert not (name.startswith("on")), f"event handler attribute {name}={value!r}"


def test_html_is_self_contained_escapes_everything_and_explains_itself(runs: list[Run]) -> None:
    page = reporters()["html"](runs, [f"/runs/{EVIL}: unreadable"])
    parsed = _Collect()
    parsed.feed(page)
    assert parsed.scripts == 1  # ours, inline; no plugin string became a tag
    assert parsed.external == []  # no CDN, no file links
    assert EVIL not in page and EVIL_IMG not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "ValueError: &lt;script&gt;" in page
    for uri in re.findall(r'src="data:image/(?:png|gif);base64,([^"]+)"', page):
        base64.b64decode(uri, validate=True)
    assert page.count("data:image/gif;base64,") == 2  # alpha's success and failure
    assert page.count("data:image/png;base64,") == 3  # pareto, heat map, latency
    assert {"how", "methods"} <= set(parsed.ids)
    for term, _ in fmt.METHODS:
        assert f"<dt>{term}</dt>" in page
    assert "Holm" in page and "Boschloo" in page and "cut-off 10 Hz" in page


def test_an_empty_report_says_what_to_do(tmp_path: Path) -> None:
    for name, render in reporters().items():
        text = render([], [f"{tmp_path}: no run.json here: not a run directory"])
        if name == "csv":  # a table of records only: bench report lists problems on stderr
            assert text.splitlines() == [",".join(COLUMNS)]
            continue
        assert "no run.json here" in text, name
        if name != "json":
            assert "bench run" in text, name


def test_a_lone_floor_policy_is_not_a_leader(make_run: Callable[..., Path]) -> None:
    # The quick start: the scripted expert (never ranked) and the random floor. The floor
    # used to get a green "1" because nothing else was ranked.
    runs = [
        load_run(make_run("s", wins(20), policy="scripted")),
        load_run(make_run("r", wins(2), policy="alpha", weights="none")),
    ]
    page = reporters()["html"](runs, [])
    assert 'class="rank lead" title=' not in page  # a badge has a title; the legend has none
    assert 'class="rank alone" title=' in page and fmt.ALONE_NOTE in page
    text = reporters()["md"](runs, [])
    assert "**1**" not in text and fmt.ALONE_NOTE in text.replace("\\", "")


def test_csv_and_json_exports_hold_one_record_per_policy_and_task(runs: list[Run]) -> None:
    board = build(runs, [])
    document = json.loads(
        reporters()["json"](runs, []),
        parse_constant=lambda name: pytest.fail(f"invalid JSON constant {name}"),
    )
    assert document["columns"] == list(COLUMNS)
    records = document["records"]
    assert len(records) == len(board.cells) == 3
    by_name = {r["policy_name"]: r for r in records}
    assert by_name["alpha"]["successes"] == 14 and by_name["alpha"]["episodes"] == 20
    assert by_name["alpha"]["ci_low"] == pytest.approx(board.cells[0].stats.ci_low)
    assert by_name[EVIL]["errors"] == 1 and by_name[EVIL]["error_kinds"] == '{"policy_error": 1}'
    assert by_name["untrained"]["rank"] == "—" and by_name["untrained"]["sparc_n"] == 2
    lines = list(csv.DictReader(io.StringIO(reporters()["csv"](runs, []))))
    assert [ln["policy_name"] for ln in lines] == [r["policy_name"] for r in records]
    assert lines[0]["success_rate"] == str(records[0]["success_rate"])
    assert set(lines[0]) == set(COLUMNS)


def test_the_readme_holds_the_methods_the_report_shows() -> None:
    text = README.read_text()
    section = text.split("## Methods\n", 1)[1].split("\n## ", 1)[0].strip()
    assert section.endswith(fmt.methods_markdown().strip())


def test_a_large_rollout_is_shrunk_to_fit_the_page() -> None:
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


def test_labels_of_policies_at_the_same_point_do_not_cover_each_other() -> None:
    """Baselines cluster at 0% and similar latency; each label must stay readable and inside
    the plot (one fixed offset drew them all on top of each other)."""
    import matplotlib.pyplot as plt
    from vla_bench_leaderboard.plots import place_labels

    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    ax.set_xscale("log")
    ax.set_xlim(0.005, 2.0)
    ax.set_ylim(-4, 104)
    texts = [
        (0.02, 0.0, "random (cpu)", "C0"),
        (0.021, 0.0, "random (cuda)", "C1"),
        (0.02, 1.0, "random (cpu · seed 1)", "C2"),
        (0.022, 0.0, "constant", "C3"),
        (0.5, 100.0, "scripted", "C4"),
        (0.5, 99.0, "smolvla (cuda · bfloat16)", "C5"),
    ]
    boxes = place_labels(ax, texts)
    frame = ax.get_window_extent(fig.canvas.get_renderer())  # type: ignore[attr-defined]
    plt.close(fig)
    assert len(boxes) == len(texts)
    for i, box in enumerate(boxes):
        assert (
            frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 <= box.y1 <= frame.y1
        )
        assert not any(box.overlaps(other) for other in boxes[i + 1 :]), i


def test_a_suite_group_of_many_tasks_has_a_title_that_fits_one_line() -> None:
    from vla_bench_leaderboard.table import task_set_text

    tasks = [(f"task-{i:02d}-v3", "1", "1", f"{i:08x}" + "0" * 56) for i in range(90)]
    title = task_set_text(tasks)
    assert title.startswith("90 tasks, v1/track 1 (task-00-v3, task-01-v3, …, task-89-v3; set ")
    assert len(title) < 100
    changed = [*tasks[:-1], (tasks[-1][0], "1", "1", "f" * 64)]  # one fingerprint differs
    assert task_set_text(changed) != title
    few = task_set_text(tasks[:2])
    assert few == "task-00-v3 v1/track 1/00000000, task-01-v3 v1/track 1/00000001"
