"""The 3D replay fragment: from a run directory `bench run` wrote, in headless Chromium."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from studio_kit import console_errors
from vla_bench_studio.replay import ReplayError, replay_fragment, replay_path

from harness.cli import main


def _record(run: Path, task_name: str, episodes: int) -> None:
    """``bench run`` the scripted expert: the runner stores each episode's replay artifact."""
    result = CliRunner().invoke(
        main,
        ["run", "--policy", "scripted", "--task", task_name, "--episodes", str(episodes),
         "--out", str(run)],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def test_missing_or_foreign_replays_are_named(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match=r"no 3D replay of valve episode 3 .*000003\.replay3d"):
        replay_fragment(tmp_path, "valve", 3)
    path = replay_path(tmp_path, "valve", 3)
    path.parent.mkdir(parents=True)
    path.write_text('{"format": "something-else"}')
    with pytest.raises(ReplayError, match="not a vla-bench-replay3d/1 replay"):
        replay_fragment(tmp_path, "valve", 3)


@pytest.mark.slow
def test_replay_plays_offline_in_chromium(chromium: Any, built: None, tmp_path: Path) -> None:
    run = tmp_path / "run"
    _record(run, "pick_place", 1)
    replay = json.loads(replay_path(run, "pick_place", 0).read_text())
    replay["instruction"] = "</script><img src=x onerror=window.__pwned=1>"  # stays text
    replay_path(run, "pick_place", 0).write_text(json.dumps(replay))
    first = replay_fragment(run, "pick_place", 0)
    second = replay_fragment(run, "pick_place", 0, include_viewer=False, lazy=True)
    assert "VlaReplay=" in first and "VlaReplay=" not in second  # the viewer, once per page
    page = tmp_path / "report.html"
    page.write_text(
        f'<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        f"</head><body><div style='width:640px'>{first}</div>{second}</body></html>"
    )
    chromium.get(page.as_uri())
    assert chromium.execute_script("return window.__pwned") is None
    viewers = chromium.find_elements("css selector", "[data-vla-replay]")
    assert len(viewers) == 2
    assert chromium.execute_script("return Boolean(arguments[0].vlaReplay)", viewers[0])
    assert not chromium.execute_script("return Boolean(arguments[0].vlaReplay)", viewers[1])
    viewers[1].find_element("tag name", "button").click()  # the lazy one opens on a click
    assert chromium.execute_script("return Boolean(arguments[0].vlaReplay)", viewers[1])

    steps = replay["steps"]
    positions = np.frombuffer(base64.b64decode(replay["pos"]), "<f4").reshape(steps, -1, 3)
    obj = replay["bodies"].index("obj0")
    seek = """const [el, step, body] = arguments;
        el.vlaReplay.seek(step);
        const p = el.vlaReplay.world.bodies[body].position;
        const gl = el.vlaReplay.renderer.getContext();
        const px = new Uint8Array(4 * 320 * 240);
        gl.readPixels(0, 0, 320, 240, gl.RGBA, gl.UNSIGNED_BYTE, px);
        let sum = 0;
        for (let i = 0; i < px.length; i++) sum = (sum + px[i] * (i % 251)) % 1000003;
        return {pos: [p.x, p.y, p.z], sum, label: el.textContent};"""
    start = chromium.execute_script(seek, viewers[0], 0, obj)
    end = chromium.execute_script(seek, viewers[0], steps - 1, obj)
    assert np.allclose(start["pos"], positions[0, obj], atol=1e-6)
    assert np.allclose(end["pos"], positions[-1, obj], atol=1e-6)  # the object was carried
    assert np.linalg.norm(positions[-1, obj] - positions[0, obj]) > 0.05
    assert start["sum"] != end["sum"]  # and the picture changed with it
    assert f"step {steps - 1} / {steps - 1}" in end["label"]
    middle = chromium.execute_script(seek, viewers[0], 1.5, obj)  # between recorded steps
    assert np.allclose(middle["pos"], (positions[1, obj] + positions[2, obj]) / 2, atol=1e-6)

    chromium.execute_script("arguments[0].vlaReplay.seek(0)", viewers[0])
    chromium.execute_script("arguments[0].vlaReplay.play()", viewers[0])
    frame = 0.0
    for _ in range(50):
        frame = chromium.execute_script("return arguments[0].vlaReplay.frame", viewers[0])
        if frame > 2:
            break
        chromium.execute_script("return new Promise((r) => setTimeout(r, 50))")
    assert frame > 2  # playing advances at the control rate
    assert chromium.execute_script("return window.__pwned") is None
    assert console_errors(chromium) == []


@pytest.mark.slow
def test_the_leaderboard_opens_a_3d_replay_of_a_recorded_rollout(
    chromium: Any, built: None, tmp_path: Path
) -> None:
    run = tmp_path / "runs" / "expert"
    result = CliRunner().invoke(
        main,
        ["run", "--policy", "scripted", "--task", "pick_place", "--episodes", "1",
         "--video", "1", "--out", str(run)],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    page = tmp_path / "report.html"
    report = CliRunner().invoke(main, ["report", str(tmp_path / "runs"), "-o", str(page)])
    assert report.exit_code == 0, report.output
    chromium.get(page.as_uri())
    for detail in chromium.find_elements("css selector", "tr.detail"):
        chromium.execute_script("arguments[0].hidden = false", detail)
    for box in chromium.find_elements("css selector", "details.replay3d"):
        chromium.execute_script("arguments[0].open = true", box)
    (viewer,) = chromium.find_elements("css selector", "[data-vla-replay]")
    assert not chromium.execute_script("return Boolean(arguments[0].vlaReplay)", viewer)
    button = viewer.find_element("css selector", "button")
    chromium.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()  # lazy: the 3D view is built only when the reader asks
    assert chromium.execute_script("return Boolean(arguments[0].vlaReplay)", viewer)
    assert viewer.find_elements("css selector", "canvas")
    assert not console_errors(chromium)
